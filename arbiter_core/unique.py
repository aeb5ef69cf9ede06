"""Unique tasks: ``apply(..., unique_key=K)`` queues a task only if no task holding K is unfinished.

The claim is the record ``unique:{K}`` (``records.unique_claim_key``). Its *state* is
the id of the task that holds the key, so every change of holder is a compare-and-set
on the holder read, and its TTL (``unique_ttl``) bounds how long any holder keeps it. An
apply with a key, :func:`submit`:

1. creates the claim for a new task id if it is absent (or released): one
   ``transition`` with ``expect=(ABSENT, RELEASED)``;
2. if it was written, writes the task's ``queued`` record and pushes its message
   with ``expect=(ABSENT,)`` on the task's record, as every apply does
   (:func:`arbiter_core.submission.submit`), and returns the new id;
3. if the claim exists, reads its holder's record: an unfinished holder's id is
   returned and nothing is pushed. A holder that is final (its release was lost in
   a crash, or the backend buried its message) is replaced by a compare-and-set on
   its id. A holder with no record whose claim is older than :data:`PUSH_GRACE`
   (its apply died between steps 1 and 2) is first ended: its record is created
   ``cancelled`` with ``expect=(ABSENT,)``, so that apply's step 2 can never push
   it, and then replaced. A younger one is being pushed: its id is returned.

Why no two unfinished tasks ever hold one key (within its TTL): a task is pushed
only by step 2, after its claim was written, and only if its record was absent. A
claim passes from task A to task B only after A was read final, or after A's
record was created final by the taker, which makes A's step 2 fail; a final state
is never left. So when B is claimed, A can never run. An apply whose step 2 failed
(its claim was taken as stale) retries with a fresh id, and ends up returning the
new holder. The claim and the push are two steps, not one (the EventNode's atomic
operations touch one record each): a crash between them leaves a claim on a task
that does not exist, which the next apply after :data:`PUSH_GRACE` takes over, or
which expires; never two queued tasks.

Release: when a unique task reaches a final state (succeeded, failed, cancelled,
expired, dead), whoever wrote that state — the minion (:mod:`arbiter_core.minion.outcome`)
or a kill of a task that had not started (:func:`arbiter_core.submission.settle_unrun`)
— moves the claim to :data:`RELEASED`, with a compare-and-set on the task's id, so
a claim another task holds by then is never touched. The release is one round trip
after the outcome is stored; lost (a crash, or a burial the backend made on its
own), it costs nothing but the takeover read above. Tasks without a key pay nothing.

The key expires ``unique_ttl`` seconds after the apply that claimed it (default:
the result TTL, counted from the task's ETA if it has one): a task still queued or
running then no longer blocks a new one. The key travels in the task's ``unique``
header (checked by :func:`check`) and shows in its status as ``unique_key``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from arbiter_core import records, submission
from arbiter_core.errors import ArbiterError, BrokerError, MessageRejected, TaskCancelledError
from arbiter_core.node import EventNode, Record
from arbiter_core.wire import Envelope
from arbiter_core.wire.envelope import new_task_id

if TYPE_CHECKING:
    from arbiter_core.endpoint import Endpoint

log = logging.getLogger("arbiter.unique")

UNIQUE = records.UNIQUE_HEADER
"""Header: the task's unique key, released when the task ends."""

RELEASED = "released"
"""The state of a claim whose task ended: free for the next apply (never a task id)."""
RELEASED_TTL = 60.0
"""Seconds a released claim lingers (it counts as absent; it only saves a delete)."""

PUSH_GRACE = 30.0
"""Seconds a claim whose task has no record yet is taken as being pushed, not as lost.

Between a claim and its push there is one round trip, plus the node's retries while
the broker restarts. An older claim with no task is stale: its apply died. The age is
measured on the claimer's clock against the reader's; a skew past this only makes a
live apply lose its claim (it then retries and returns the new holder), never two tasks.
"""

CLAIM_TRIES = 8
"""Compare-and-sets an apply attempts while the key keeps changing hands, then gives up."""


@dataclass(frozen=True, slots=True)
class Uniqueness:
    """An apply's checked unique key and the seconds its claim lives."""

    key: str
    ttl: float


def resolve(
    unique_key: object,
    unique_ttl: object,
    tasks_count: int,
    *,
    result_ttl: float,
    not_before: float | None,
    now: float | None = None,
) -> Uniqueness | None:
    """Check ``apply``'s unique options; None without a key. Raises before anything is queued.

    ``unique_key`` is a non-empty str, for one task (``tasks_count=1``); ``unique_ttl``
    (seconds, > 0, or a timedelta) only with a key. Without ``unique_ttl`` the claim
    lives ``result_ttl`` seconds after the start (the ETA, or now).
    """
    if unique_key is None:
        if unique_ttl is not None:
            raise ValueError("unique_ttl needs a unique_key")
        return None
    if not isinstance(unique_key, str):
        raise TypeError(f"unique_key must be a str, got {type(unique_key).__name__} {unique_key!r}")
    _check_text(unique_key, ValueError)
    if tasks_count != 1:
        raise ValueError(
            f"unique_key applies one task, got tasks_count={tasks_count}: "
            "a key held by one task cannot queue several"
        )
    if unique_ttl is None:
        now = time.time() if now is None else now
        return Uniqueness(unique_key, result_ttl + max(0.0, (not_before or now) - now))
    if isinstance(unique_ttl, timedelta):
        seconds = unique_ttl.total_seconds()
    elif isinstance(unique_ttl, (int, float)) and not isinstance(unique_ttl, bool):
        seconds = float(unique_ttl)
    else:
        raise TypeError(
            "unique_ttl must be a number of seconds (or a timedelta), "
            f"got {type(unique_ttl).__name__} {unique_ttl!r}"
        )
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"unique_ttl must be a finite number of seconds > 0, got {unique_ttl!r}")
    return Uniqueness(unique_key, seconds)


def key_of(headers: Mapping[str, Any]) -> str | None:
    """The unique key in a checked envelope's headers (see :func:`check`), or None."""
    found = headers.get(UNIQUE) if headers else None
    return found if isinstance(found, str) else None


def check(headers: Mapping[str, Any]) -> None:
    """Refuse a ``unique`` header that is not a non-empty string."""
    if UNIQUE in headers:
        value = headers[UNIQUE]
        if not isinstance(value, str):
            raise MessageRejected(f"header {UNIQUE!r} must be a non-empty string")
        _check_text(value, MessageRejected)


def _check_text(value: str, error: Callable[[str], Exception]) -> None:
    """A key becomes part of a broker key: non-empty, and encodable as UTF-8."""
    if not value:
        raise error("unique_key must not be empty")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise error("unique_key must be valid text (it holds a lone surrogate)") from None


def submit(
    endpoint: Endpoint,
    envelope: Envelope,
    uniqueness: Uniqueness,
    *,
    not_before: float | None,
    before_push: Callable[[str], None],
) -> str:
    """Claim ``uniqueness.key`` and push ``envelope``, or return the task holding it.

    ``before_push`` is told each id about to be pushed (an Arbiter expects its reply).
    Returns the id of the task that now holds the key: the envelope's (or, if its
    first claim was taken as stale before it was pushed, a fresh one's), or the
    unfinished holder's. See the module docstring for why no duplicate is pushed.
    """
    envelope = replace(envelope, headers={**envelope.headers, UNIQUE: uniqueness.key})
    for _ in range(CLAIM_TRIES):
        holder = claim(endpoint, uniqueness, envelope.id)
        if holder is not None:
            return holder
        before_push(envelope.id)
        if submission.submit(endpoint, envelope, not_before=not_before):
            return envelope.id
        envelope = replace(envelope, id=new_task_id())  # that id was ended unpushed
    raise ArbiterError(_busy(uniqueness.key))


def claim(endpoint: Endpoint, uniqueness: Uniqueness, task_id: str) -> str | None:
    """Make ``task_id`` hold the key (None), or return the id of the unfinished holder."""
    node, key = endpoint.node, records.unique_claim_key(uniqueness.key)
    data = endpoint.wire.pack({"task_id": task_id, "claimed_at": time.time()}, "record")
    mine = Record(task_id, data)
    expect: tuple[str | None, ...] = (records.ABSENT, RELEASED)
    for _ in range(CLAIM_TRIES):
        written, current = node.transition(key, mine, ttl=uniqueness.ttl, expect=expect)
        if written:
            return None
        if current is None or current.state == RELEASED:  # freed since: claim it as free
            expect = (records.ABSENT, RELEASED)
            continue
        holder = current.state
        if not _ended(endpoint, uniqueness.key, holder, _claimed_at(endpoint, current)):
            return holder
        expect = (holder,)
    raise ArbiterError(_busy(uniqueness.key))


def _ended(endpoint: Endpoint, key: str, holder: str, claimed_at: float) -> bool:
    """Whether the holder is final; a stale holder that has no record is ended here."""
    node = endpoint.node
    record = node.get(records.task_key(holder))
    if record is None:
        if time.time() - claimed_at < PUSH_GRACE:
            return False  # its apply is pushing it now
        reason = f"never queued: the apply that claimed unique key {key!r} did not push it"
        status = {
            "id": holder,
            "state": records.CANCELLED,
            "result": None,
            "error": records.error_info(TaskCancelledError(holder, reason)),
            "finished_at": time.time(),
            "headers": {UNIQUE: key},
            "unique_key": key,
        }
        ended = Record(records.CANCELLED, endpoint.wire.pack(status, "record"))
        written, record = node.transition(
            records.task_key(holder),
            ended,
            ttl=endpoint.settings.result_ttl,
            expect=(records.ABSENT,),
        )
        if written:
            return True
    return record is not None and record.state in records.FINAL


def _claimed_at(endpoint: Endpoint, claim_record: Record) -> float:
    """When a claim was made; 0 (long ago) if its data does not decode."""
    try:
        data: Any = endpoint.wire.unpack(claim_record.data)
        return float(data["claimed_at"])
    except (MessageRejected, KeyError, TypeError, ValueError):
        return 0.0


def release(node: EventNode, envelope: Envelope) -> None:
    """Free the key of a task that just ended, if it still holds it; no-op without one.

    Never raises a broker error: the outcome is stored (and its message acked, with
    the next one taken) by then, and a release lost costs only the takeover read of
    the next apply (module docstring), so it is logged, not passed to the caller.
    """
    key = key_of(envelope.headers)
    if key is None:
        return
    try:
        node.transition(
            records.unique_claim_key(key),
            Record(RELEASED, b""),
            ttl=RELEASED_TTL,
            expect=(envelope.id,),
        )
    except BrokerError as exc:
        log.warning(
            "task %s ended, but its unique key %r was not released (%s): the next apply "
            "with it takes it over",
            envelope.id,
            key,
            exc,
        )


def _busy(key: str) -> str:
    return (
        f"unique key {key!r} changed hands {CLAIM_TRIES} times during one apply "
        "(its tasks end as fast as they are queued); apply again"
    )
