"""Fan-in: a task with several dependencies is released once, after the last of them.

Its record ``fan-in:{task id}`` holds, in its *state*, how many dependencies have not
reported yet (``pending:N``) and, in its data, which ones did: a string of ``0``/``1``,
one character per dependency, in the order the task lists them. A report is a
compare-and-set on that state, so of two minions reporting at the same moment one
writes and the other reads again; the data says who reported, so a report made again
(a message redelivered after a crash) changes nothing. Whoever sees ``pending:0`` after
its own report (first time or again) releases the task, and the release itself is a
``waiting`` → ``queued`` transition, so it happens once however often it is tried.
No lock is taken: nothing can be left held by a minion that died.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from arbiter_core import records
from arbiter_core.node import Record

if TYPE_CHECKING:
    from arbiter_core.endpoint import Endpoint


def fan_in_key(task_id: str) -> str:
    return f"fan-in:{task_id}"


def initial(count: int) -> Record:
    """The fan-in record of a task with ``count`` dependencies, none reported."""
    return Record(records.pending_state(count), b"0" * count)


def report(endpoint: Endpoint, task_id: str, index: int) -> bool:
    """Count dependency number ``index`` of ``task_id`` as succeeded (once, however often
    it is called); whether every dependency has now reported."""
    key = fan_in_key(task_id)
    node = endpoint.node
    current = node.get(key)
    while True:
        if current is None:
            return False  # expired with the run's TTL: nothing left to release
        reported = bytearray(current.data)
        remaining = int(current.state.partition(":")[2])
        if reported[index : index + 1] == b"1":
            return remaining == 0
        reported[index : index + 1] = b"1"
        written, current = node.transition(
            key,
            Record(records.pending_state(remaining - 1), bytes(reported)),
            ttl=endpoint.settings.result_ttl,
            expect=(current.state,),
        )
        if written:
            return remaining - 1 == 0
