"""A task's outcome: its final record stored, its waiter woken, its message acked; or a retry.

Guarantees:

* A final state is written only from ``running`` (or, for a task that never
  started, from a startable state), so a final state is never overwritten and a
  duplicate delivery cannot change an outcome.
* The outcome is stored, announced (the reply event carries the final record) and
  the follow-ups are pushed *before* the message is acked; without follow-ups that
  is one call, which also leases the lane's next message. With follow-ups the
  outcome is stored first, then the follow-ups run, then that one call announces
  and acks (writing the final record again as it stands, expecting that state).
* A failed attempt that its task's :class:`~arbiter_core.retry.RetryPolicy` allows
  again is pushed back as a delayed message bound to its record (it holds no slot
  while it waits), the record goes back to ``queued``, and only then is this
  delivery acked. A retry due after the task's ``expires`` is delivered at that
  time instead, to end ``expired`` then rather than wake its waiter later.
* A value that cannot be encoded fails its task with an error naming the part
  that cannot; it is encoded once, inside its record.
* A task that ends ``dead`` (its message was rejected) gets a dead record too,
  written here for a message that was not bound to its record.
* A unique task's key is released once its final state is stored (see
  :mod:`arbiter_core.unique`): one more round trip, for those tasks only.

Broker errors propagate to the lane, which leaves the message to its lease.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

from arbiter_core import composition, records, submission, task_priority, timing, unique
from arbiter_core.dag.headers import call_retry
from arbiter_core.errors import (
    DeadLetteredError,
    LimitExceededError,
    SerializationError,
    TaskCancelledError,
)
from arbiter_core.minion.counts import TaskCounts
from arbiter_core.minion.describe import traceback_text
from arbiter_core.minion.follow_ups import FollowUps
from arbiter_core.minion.inflight import InFlight
from arbiter_core.minion.run_context import RunContext
from arbiter_core.minion.task_log import log_end, log_expired, log_retry
from arbiter_core.node import ABSENT, Claim, Delivery, Record
from arbiter_core.wire import Envelope

WAITING = (records.WAITING,)

END_HOOKS = {
    records.SUCCEEDED: "arbiter_task_succeeded",
    records.FAILED: "arbiter_task_failed",
    records.CANCELLED: "arbiter_task_cancelled",
    records.EXPIRED: "arbiter_task_expired",
}
"""The observer hook told of each final state a minion writes (``dead`` has none)."""


class Outcomes:
    """Writes the records of a minion's tasks and tells observers (and the log) what happened.

    ``counts`` tallies how the run's tasks ended, for the heartbeat.
    """

    def __init__(self, context: RunContext, follow_ups: FollowUps, claim: Claim) -> None:
        self.context = context
        self.node = context.node
        self.wire = context.wire
        self.settings = context.settings
        self.registry = context.registry
        self.follow_ups = follow_ups
        self.claim = claim
        self.counts = TaskCounts()

    def record(
        self,
        envelope: Envelope,
        state: str,
        *,
        result: Any = None,
        error: BaseException | None = None,
        started_at: float | None = None,
        finished_at: float | None = None,
    ) -> Record:
        """The task's record in ``state``, as this minion writes it."""
        data = records.task_status(
            envelope,
            state,
            result=result,
            error=error,
            traceback_text="" if error is None else traceback_text(error),
            started_at=started_at,
            finished_at=finished_at,
            worker=self.context.worker_id,
        )
        return Record(state, self.wire.pack(data, "record"))

    def settle(self, item: InFlight, *, take_next: bool) -> list[Delivery]:
        """Store what the finished ``item`` came to; the lane's next messages, if taken."""
        envelope = item.envelope
        future: Future[Any] = item.future
        if future.cancelled():
            error: BaseException | None = TaskCancelledError(envelope.task, "killed")
        else:
            error = future.exception()
        if error is None:
            value = future.result()
            try:  # the value is encoded once, inside its record
                record = self.record(
                    envelope,
                    records.SUCCEEDED,
                    result=value,
                    started_at=item.started_at,
                    finished_at=time.time(),
                )
            except SerializationError as exc:
                error = self._unencodable(envelope, value, exc)
            else:
                too_big = self.wire.limits.result_too_big(len(record.data))
                if too_big is None:
                    return self.store(
                        item.delivery, envelope, records.SUCCEEDED, result=value,
                        started_at=item.started_at, take_next=take_next, record=record,
                    )  # fmt: skip
                error = self._oversize(envelope, too_big)
        if isinstance(error, TaskCancelledError):
            state = records.CANCELLED
        elif call_retry(envelope.headers, item.definition.retry).allows(envelope.attempt):
            self._retry(item, error)
            return []
        else:
            state = records.FAILED
        return self.store(
            item.delivery,
            envelope,
            state,
            error=error,
            started_at=item.started_at,
            take_next=take_next,
        )

    def store(
        self,
        delivery: Delivery,
        envelope: Envelope,
        state: str,
        *,
        result: Any = None,
        error: BaseException | None = None,
        started_at: float | None = None,
        start: bool = False,
        take_next: bool = False,
        record: Record | None = None,
    ) -> list[Delivery]:
        """Write a final state (from running; or from startable when it never started).

        With ``take_next``, the same call leases this slot's next message, if one is
        ready, and returns it. ``record``: the final record, if the caller built it.
        """
        if record is None:
            record = self.record(
                envelope,
                state,
                result=result,
                error=error,
                started_at=started_at,
                finished_at=time.time(),
            )
        expect = records.STARTABLE if start else (records.RUNNING,)
        key = records.task_key(envelope.id)
        ttl = self.settings.result_ttl
        taken: list[Delivery] = []
        stored = False  # with follow-ups: whether the first write stored the outcome
        deferred: list[Envelope] = []  # the tasks the follow-ups release, pushed below
        if composition.has_follow_ups(envelope):  # advance the plan before the ack
            # The outcome's write, with the reads the follow-ups start with, in one batch.
            reads = composition.reads_first(envelope, state, ttl)
            if reads:
                [(stored, _), *results] = self.node.transition_many(
                    [(key, record, ttl, expect), *reads]
                )
            else:  # one script call, lighter than a batch of one
                stored, _ = self.node.transition(key, record, ttl=ttl, expect=expect)
                results = []
            if not stored:
                self.node.ack(delivery)
                return taken
            read = {item[0]: current for item, (_, current) in zip(reads, results, strict=True)}
            # Then push what they release, announce, ack (and take the next) in the one
            # call below, which writes the record again as it now stands: only that
            # final state allows it.
            record = self.follow_ups.run(
                envelope, record, result, deferred if take_next else None, read
            )
            expect = (record.state,)
        # the common case: store, announce, ack (and take the next) in one call
        reply_to = envelope.reply_to
        payload = records.reply_payload(envelope.id, record) if reply_to else b""
        if deferred:
            pushed, written, taken = self.node.transition_push_ack_and_pull(
                [submission.queued_item(self.context, e, WAITING) for e in deferred],
                delivery,
                key,
                record,
                ttl=ttl,
                expect=expect,
                event=reply_to,
                payload=payload,
                lease=self.settings.lease,
                claim=self.claim,
            )
            for released, was_pushed in zip(deferred, pushed, strict=True):
                if was_pushed:
                    submission.announce(self.context, released)
        elif take_next:
            written, taken = self.node.transition_ack_and_pull(
                delivery,
                key,
                record,
                ttl=ttl,
                expect=expect,
                event=reply_to,
                payload=payload,
                lease=self.settings.lease,
                claim=self.claim,
            )
        else:
            written = self.node.transition_and_ack(
                delivery, key, record, ttl=ttl, expect=expect, event=reply_to, payload=payload
            )
        if written or stored:
            unique.release(self.node, envelope)
            duration = 0.0 if started_at is None else time.time() - started_at
            self.counts.add(state)
            if error is not None and state == records.FAILED:
                self.counts.failure(envelope.id, envelope.task, error)
            if state == records.EXPIRED:
                log_expired(envelope, self.context.worker_id)
            else:
                log_end(envelope, state, error, duration, self.context.worker_id)
            self._announce(state, envelope, result, error, duration)
        return taken

    def end_dead(self, envelope: Envelope, reason: str, *, advance: bool) -> None:
        """End a rejected task's record as ``dead`` (if it had not ended), wake its
        waiter, and with ``advance`` move its group or pipe on as after a failure."""
        key = records.task_key(envelope.id)
        try:
            record = self.record(envelope, records.DEAD, error=DeadLetteredError(reason))
        except SerializationError:  # a field of its own cannot be stored: the burial stands
            return
        written, current = self.node.transition(
            key,
            record,
            ttl=self.settings.result_ttl,
            expect=(ABSENT, records.WAITING, *records.CLAIMABLE),
        )
        if written and envelope.reply_to:
            self.node.emit(envelope.reply_to, records.reply_payload(envelope.id, record))
        if written or (current is not None and current.state == records.DEAD):
            unique.release(self.node, envelope)  # dead either way: buried with its record
        if advance and current is not None and current.state == records.DEAD:
            self.follow_ups.run(envelope, record, None)  # once more after a crash is harmless

    def _retry(self, item: InFlight, error: BaseException) -> None:
        """Push the next attempt as a delayed message, mark the task queued, ack this one."""
        envelope = replace(item.envelope, attempt=item.envelope.attempt + 1)
        policy = call_retry(item.envelope.headers, item.definition.retry)
        delay = policy.delay_after(item.envelope.attempt)
        not_before = time.time() + delay if delay else None
        expires = timing.expiry(envelope.headers)
        if not_before is not None and expires is not None and not_before > expires:
            not_before = expires  # it cannot run after that: it ends expired then, not later
        record = self.record(envelope, records.QUEUED, error=error)
        written = self.node.transition_and_push(  # bound, like the first push
            records.task_key(envelope.id),
            record,
            ttl=self.settings.result_ttl,
            expect=(records.RUNNING,),
            queue=self.context.queue,
            body=self.wire.encode(envelope),
            not_before=not_before,
            priority=task_priority.of(envelope.headers),  # a retry keeps the task's level
        )
        if written:
            self.counts.add("retried")
            log_retry(
                item.envelope, error, delay, time.time() - item.started_at, self.context.worker_id
            )
        if written and self.registry.observed("arbiter_task_retried"):
            self.registry.notify(
                "arbiter_task_retried",
                task_id=envelope.id,
                name=envelope.task,
                queue=envelope.queue,
                attempt=item.envelope.attempt,
                error=error,
                delay=delay,
            )
        self.node.ack(item.delivery)

    def _oversize(self, envelope: Envelope, problem: str) -> Exception:
        """The error of a task whose value encodes but is too big to store: it fails,
        and its record holds this error instead of the value."""
        return LimitExceededError(
            f"task {envelope.task!r} returned a value too big to store: {problem}; store "
            "big data elsewhere (a file, an object store) and return a reference to it"
        )

    def _unencodable(self, envelope: Envelope, value: Any, exc: SerializationError) -> Exception:
        """The error of a task whose value cannot be stored, naming the part that fails."""
        try:
            self.wire.pack(value, "result")
        except SerializationError as culprit:
            exc = culprit
        return SerializationError(f"task {envelope.task!r} returned a value that {exc}")

    def _announce(
        self,
        state: str,
        envelope: Envelope,
        value: Any,
        error: BaseException | None,
        duration: float,
    ) -> None:
        """Tell observer plugins a task ended; one lookup when none observes it."""
        hook = END_HOOKS.get(state)
        if hook is None or not self.registry.observed(hook):
            return
        common = {"task_id": envelope.id, "name": envelope.task, "queue": envelope.queue}
        if state == records.CANCELLED:
            self.registry.notify(hook, **common, reason=str(error))
        elif state == records.EXPIRED:
            self.registry.notify(hook, **common, expires=timing.expiry(envelope.headers))
        elif state == records.SUCCEEDED:
            self.registry.notify(
                hook, **common, attempt=envelope.attempt, value=value, duration=duration
            )
        else:
            self.registry.notify(
                hook, **common, attempt=envelope.attempt, error=error, duration=duration
            )
