"""Task states and the state-store key layout: every key the core writes, in one place.

Keys are logical; each node prefixes them with its namespace.

==========================  =====================================================
``task:{id}``               one task's record; state compared by ``transition``
``group:{id}``              a plan: a group's members and what runs after them
                            (state: the kind), a pipe's steps (state ``pipe``),
                            a DAG's tasks (state ``dag``); ``kind`` in the data
                            says which (see ``composition``)
``reply:{arbiter id}``      (broadcast event) tasks that reached a final state,
                            sent to the Arbiter that applied them: the id, and
                            the final record (see :func:`reply_payload`)
``control:{queue}``         (broadcast event) kill requests for a queue's minions
``buried``                  (broadcast event) the key of a task's record that burial
                            ended (see ``node.burial``)
``logged:{record key}``     a burial's log mark: the one minion that creates it logs
                            the burial (see ``minion.burials``)
``rpc:{queue}``             (broadcast event) RPC requests to a queue's minions
``rpc-reply:{arbiter id}``  (broadcast event) answers to one Arbiter's RPC calls
``rpc-claim:{request id}``  an RPC call's claim: the one minion that creates it
                            runs the call (see ``rpc.channels``, ``rpc.claim``)
``fan-in:{task id}``        a waiting task's dependencies that have reported (see
                            ``dag.fan_in``)
``task:periodic:{n}:{t}``   the run fired for tick ``t`` of periodic task ``n``:
                            its creation is the tick's claim (``periodic.claim``)
``periodic-last:{name}``    the latest tick fired for a periodic task (informs
                            ``arbiter periodic`` and the ``run_once`` catch-up)
``unique:{key}``            a unique key's claim: its state is the id of the task
                            holding it, or ``released`` (see ``unique``)
==========================  =====================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arbiter_core import timing
from arbiter_core.node import burial, state_store
from arbiter_core.node.state_store import Record

if TYPE_CHECKING:
    from arbiter_core.wire import Envelope

WAITING = "waiting"
"""Recorded but not queued yet: a pipe step, callback or finalizer waiting for other tasks.

It leaves this state exactly once (to ``queued``), so a follow-up that is run again
after a crash never queues the same task twice."""
QUEUED = "queued"
"""Pushed and waiting for a worker (also between retries)."""
RUNNING = "running"
"""A worker leased the message and started the function."""
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
EXPIRED = "expired"
"""Its ``expires`` time passed before a worker started it, so it never ran (see ``timing``)."""
DEAD = burial.DEAD
"""Its message went to the dead letters (see ``node.burial``): it will not run (again)."""

FINAL = burial.FINAL_STATES
"""States no later write may leave: a late duplicate never overwrites an outcome.
``dead`` is one: the backend writes it when it buries the task's message."""

ABSENT = state_store.ABSENT
"""In an ``expect`` list: no record yet. The state store's own marker, named here too so a
transition reads ``expect=(records.ABSENT, records.WAITING)``."""

STARTABLE = (ABSENT, QUEUED, RUNNING)
"""States a worker may (re)start a task from: RUNNING once a crashed holder's lease ran out."""

CLAIMABLE = (QUEUED, RUNNING)
"""The states a pull may claim a task's record from (see ``node.claim``): STARTABLE's
stored states; an absent record is left to the worker's own transition."""


def task_key(task_id: str) -> str:
    return f"task:{task_id}"


def task_id_of_key(key: str) -> str | None:
    """The task id in a :func:`task_key`; None for any other key."""
    prefix, found, task_id = key.partition(":")
    return task_id if found and prefix == "task" and task_id else None


def unique_claim_key(key: str) -> str:
    """The claim of an apply's ``unique_key`` (see :mod:`arbiter_core.unique`)."""
    return f"unique:{key}"


UNIQUE_HEADER = "unique"
"""The header that carries a task's unique key (``unique.UNIQUE``), shown as ``unique_key``."""


def burial_mark_key(record_key: str) -> str:
    return f"logged:{record_key}"


def group_key(group_id: str) -> str:
    return f"group:{group_id}"


def reply_event(arbiter_id: str) -> str:
    return f"reply:{arbiter_id}"


def control_event(queue: str) -> str:
    return f"control:{queue}"


REPLY_RECORD_LIMIT = 64 * 1024
"""Bytes of record data a completion event carries at most; a larger one is read instead."""


def reply_payload(task_id: str, record: Record) -> bytes:
    """A completion event: the task id, then its final record, so the Arbiter need not
    read it back (one round trip less per task). Records over ``REPLY_RECORD_LIMIT``
    are left out: the event then carries the id alone, and the waiter reads the record."""
    if len(record.data) > REPLY_RECORD_LIMIT:
        return task_id.encode()
    return b"\n".join((task_id.encode(), record.state.encode(), record.data))


def parse_reply(payload: bytes) -> tuple[str, Record | None]:
    """The task id of a completion event, and its record if the event carries one."""
    task_id, _, rest = payload.partition(b"\n")
    state, found, data = rest.partition(b"\n")
    record = Record(state.decode("utf-8", "replace"), data) if found else None
    return task_id.decode("utf-8", "replace"), record


def pending_state(count: int) -> str:
    """A group's state while ``count`` members are unfinished (``pending:0`` = all done)."""
    return f"pending:{count}"


def error_info(error: BaseException, traceback_text: str = "") -> dict[str, Any]:
    """The JSON form of a task's error in its status: type, message and traceback text."""
    return {"type": type(error).__name__, "message": str(error), "traceback": traceback_text}


def task_status(
    envelope: Envelope,
    state: str,
    *,
    result: Any = None,
    error: BaseException | None = None,
    traceback_text: str = "",
    started_at: float | None = None,
    finished_at: float | None = None,
    worker: str | None = None,
) -> dict[str, Any]:
    """A task's status as ``Arbiter.status`` returns it: JSON-able, whoever reads it.

    ``eta`` and ``expires`` (``time.time()`` values, or None) say when a delayed task
    was due to start and from when it must not start any more (see ``arbiter_core.timing``);
    ``unique_key`` is the key it was applied with, if any (see ``arbiter_core.unique``).
    """
    headers = envelope.headers
    return {
        "id": envelope.id,
        "name": envelope.task,
        "queue": envelope.queue,
        "state": state,
        "attempt": envelope.attempt,
        "result": result,
        "error": None if error is None else error_info(error, traceback_text),
        "submitted_at": envelope.created_at,
        "started_at": started_at,
        "finished_at": finished_at,
        "worker": worker,
        "reply_to": envelope.reply_to,
        "headers": dict(headers),
        "eta": headers.get(timing.ETA),
        "expires": headers.get(timing.EXPIRES),
        "unique_key": headers.get(UNIQUE_HEADER),
    }
