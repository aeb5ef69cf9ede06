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

from collections.abc import Sequence
from typing import TYPE_CHECKING

from arbiter_core import records
from arbiter_core.node import Expect, Record

if TYPE_CHECKING:
    from arbiter_core.endpoint import Endpoint


def fan_in_key(task_id: str) -> str:
    return f"fan-in:{task_id}"


def initial(count: int) -> Record:
    """The fan-in record of a task with ``count`` dependencies, none reported."""
    return Record(records.pending_state(count), b"0" * count)


READ = Record("read", b"")
"""Never written: the record of a ``transition_many`` item that only reads (``expect=()``)."""


def report_many(
    endpoint: Endpoint, reports: Sequence[tuple[str, int, int]], read: Sequence[str] = ()
) -> tuple[list[str], dict[str, Record]]:
    """Count dependency ``index`` of each ``(task id, dependency count, index)`` as
    succeeded (once, however often it is called), batched; the ids of the tasks whose
    dependencies have now all reported, and the records at the keys ``read``, read
    in the same round trip as the first tries.

    The first try of each report is a compare-and-set against the record as planned
    (``pending:{count}``, nobody reported): that state can only mean no report was
    counted yet, so the write is right if it is taken, and no read comes before it.
    A refused write returns the record now stored, which the next try starts from.
    """
    ttl = endpoint.settings.result_ttl
    done: list[str] = []
    # (task id, index, the record the next try expects)
    tries: list[tuple[str, int, Record | None]] = [
        (task_id, index, initial(count)) for task_id, count, index in reports
    ]
    stored: dict[str, Record] = {}
    reads: list[tuple[str, Record, float, Expect]] = [(key, READ, ttl, ()) for key in read]
    while tries or reads:
        writes: list[tuple[str, Record, float, Expect]] = []
        pending = []
        for task_id, index, current in tries:
            step = _step(current, index)
            if step is True:
                done.append(task_id)
            elif step is not False:
                assert current is not None and isinstance(step, Record)
                writes.append((fan_in_key(task_id), step, ttl, (current.state,)))
                pending.append((task_id, index, step))
        tries = []
        if not writes and not reads:
            break
        results = endpoint.node.transition_many(writes + reads)
        for (key, _, _, _), (_, record) in zip(reads, results[len(writes) :], strict=True):
            if record is not None:
                stored[key] = record
        reads = []
        for (task_id, index, wanted), (written, current) in zip(
            pending, results[: len(writes)], strict=True
        ):
            if written:
                if wanted.state == records.pending_state(0):
                    done.append(task_id)
            else:
                tries.append((task_id, index, current))  # None: expired; else try again
    return done, stored


def _step(current: Record | None, index: int) -> bool | Record:
    """What reporting dependency ``index`` to ``current`` comes to: True or False when
    there is nothing to write (reported already: whether all did; expired: False),
    else the record to write in place of ``current``."""
    if current is None:
        return False  # expired with the run's TTL: nothing left to release
    reported = bytearray(current.data)
    remaining = int(current.state.partition(":")[2])
    if reported[index : index + 1] == b"1":
        return remaining == 0
    reported[index : index + 1] = b"1"
    return Record(records.pending_state(remaining - 1), bytes(reported))
