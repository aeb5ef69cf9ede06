"""One ``Minion.run``: pull messages, run them on a pool, store outcomes, then ack.

The order of a task's life here is what makes "nothing acknowledged is lost":

1. ``pull`` leases at most as many messages as there are free slots.
2. A message that does not decode or verify is dead-lettered, never run.
3. ``transition`` to ``running`` (allowed only from queued, running-after-a-crash
   or absent) gates the start: a killed task or a late duplicate of a finished
   one is acked and skipped.
4. While it runs, the keeper renews its lease; a crash lets the lease run out
   and another minion takes the message.
5. The outcome is stored (``transition`` from running, so a final state is
   never overwritten), the Arbiter is woken, follow-ups (group, pipe) are
   pushed, and only then is the message acked.

A failed attempt with retries left is pushed again as a delayed message, so a
waiting retry holds no slot.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from arbiter_core import composition, records
from arbiter_core.errors import (
    BrokerError,
    MessageRejected,
    SerializationError,
    TaskCancelledError,
    TaskTimeoutError,
    UnknownTaskError,
)
from arbiter_core.minion.cancellation import run_cancellable
from arbiter_core.minion.coroutines import run_coroutine
from arbiter_core.minion.keeper import Keeper
from arbiter_core.minion.registry import TaskDefinition
from arbiter_core.node import Delivery, Record
from arbiter_core.pool import WorkerPool
from arbiter_core.wire import Envelope

if TYPE_CHECKING:
    from arbiter_core.minion.minion import Minion

log = logging.getLogger("arbiter.minion")

PULL_WAIT = 1.0
"""Seconds one blocking pull waits before the loop re-checks whether it should stop."""
MAX_BACKOFF = 5.0
"""Longest wait between pulls while the broker keeps failing."""


@dataclass
class InFlight:
    """A running task: its lease, its envelope and the pool's future."""

    delivery: Delivery
    envelope: Envelope
    definition: TaskDefinition
    future: Future[Any]
    started_at: float
    cancel: threading.Event | None = None  # set on kill, for thread tasks to notice
    requeue: bool = False  # shutdown gave it back to the queue: store no outcome


class Worker:
    """The state of one ``run``: slots, in-flight tasks, the keeper; nothing shared."""

    def __init__(
        self, minion: Minion, pool: WorkerPool, slots: int, grace: float, *, threads: bool
    ) -> None:
        self.minion = minion
        self.node = minion.node
        self.wire = minion.wire
        self.settings = minion.settings
        self.queue = minion.queue
        self.pool = pool
        self.slots = slots
        self.grace = grace
        self.threads = threads  # tasks share this process: cooperative cancellation applies
        self.stopping = threading.Event()
        self.lock = threading.Condition()
        self.inflight: dict[str, InFlight] = {}
        self.keeper = Keeper(self)

    # ------------------------------------------------------------------ main loop
    def run(self) -> None:
        control = records.control_event(self.queue)
        self.node.subscribe(control, self._on_control)
        self.keeper.start()
        try:
            self._consume()
        finally:
            try:
                self._drain()
            finally:
                self.keeper.stop()
                self.node.unsubscribe(control, self._on_control)
                self.node.remove_worker(self.minion.worker_id)

    def _consume(self) -> None:
        lease = self.settings.lease
        failures = 0
        while not self.stopping.is_set():
            with self.lock:
                self.lock.wait_for(
                    lambda: len(self.inflight) < self.slots or self.stopping.is_set()
                )
                free = self.slots - len(self.inflight)
            if self.stopping.is_set():
                return
            try:
                deliveries = self.node.pull(
                    self.queue, timeout=PULL_WAIT, lease=lease, max_messages=free
                )
            except BrokerError as exc:  # the node reconnects; back off rather than die
                failures += 1
                backoff = min(MAX_BACKOFF, 0.1 * 2**failures)
                log.warning("pull failed (%s); retrying in %.1fs", exc, backoff)
                self.stopping.wait(backoff)
                continue
            failures = 0
            for index, delivery in enumerate(deliveries):
                if self.stopping.is_set():
                    for unstarted in deliveries[index:]:
                        self.node.nack(unstarted)
                    return
                try:
                    self._dispatch(delivery)
                except BrokerError as exc:  # its lease runs out and it is delivered again
                    log.warning("could not start message %s (%s)", delivery.message_id, exc)

    def stop(self) -> None:
        self.stopping.set()
        with self.lock:
            self.lock.notify_all()

    # ------------------------------------------------------------------ starting
    def _dispatch(self, delivery: Delivery) -> None:
        try:
            envelope = self.wire.decode(delivery.body)
        except MessageRejected as exc:
            log.warning("dead-lettering message %s: %s", delivery.message_id, exc.reason)
            self.node.dead_letter(delivery, exc.reason)
            return
        try:
            definition = self.minion.tasks.get(envelope.task)
        except UnknownTaskError as exc:
            self._store_outcome(delivery, envelope, records.FAILED, error=exc, start=True)
            return
        if envelope.deadline is not None and time.time() > envelope.deadline:
            error = TaskTimeoutError(envelope.task, 0.0)
            self._store_outcome(delivery, envelope, records.FAILED, error=error, start=True)
            return
        started_at = time.time()
        record = self._record(envelope, records.RUNNING, started_at=started_at)
        # The delayed copy of a finalizer runs only if its group has not queued it.
        expect = (
            (records.WAITING,) if envelope.headers.get("claim_finalizer") else records.STARTABLE
        )
        written, current = self.node.transition(
            records.task_key(envelope.id), record, ttl=self.settings.result_ttl, expect=expect
        )
        if not written:  # cancelled, or a redelivered duplicate of a finished task
            if current is not None and current.state in records.FINAL:
                self._redo_follow_ups(envelope, current)
            self.node.ack(delivery)
            return
        self.minion.observe("started", envelope)
        function: Callable[..., Any] = definition.function
        args, kwargs = envelope.args, envelope.kwargs
        if definition.is_async:
            function, args, kwargs = run_coroutine, (function, args, kwargs), {}
        cancel = threading.Event() if self.threads else None
        if cancel is not None:
            function, args, kwargs = run_cancellable, (cancel, function, args, kwargs), {}
        with self.lock:
            future = self.pool.submit(
                function,
                args,
                kwargs,
                timeout=definition.timeout,
                label=f"{envelope.task}[{envelope.id[:8]}]",
            )
            self.inflight[envelope.id] = InFlight(
                delivery, envelope, definition, future, started_at, cancel
            )
        future.add_done_callback(functools.partial(self._completed, envelope.id))

    # ------------------------------------------------------------------ finishing
    def _completed(self, task_id: str, future: Future[Any]) -> None:
        with self.lock:
            item = self.inflight.get(task_id)
        if item is None:
            return
        try:
            if not item.requeue:
                self._settle(item, future)
        except Exception:  # the broker failed us: the lease runs out, another minion retries
            log.exception("could not store the outcome of task %s", task_id)
        finally:
            with self.lock:
                self.inflight.pop(task_id, None)
                self.lock.notify_all()

    def _settle(self, item: InFlight, future: Future[Any]) -> None:
        envelope = item.envelope
        if future.cancelled():
            error: BaseException | None = TaskCancelledError(envelope.task, "killed")
        else:
            error = future.exception()
        if error is None:
            value = future.result()
            try:
                self.wire.pack(value, "result")
            except SerializationError as exc:
                error = SerializationError(f"task {envelope.task!r} returned a value that {exc}")
            else:
                self._store_outcome(
                    item.delivery,
                    envelope,
                    records.SUCCEEDED,
                    result=value,
                    started_at=item.started_at,
                )
                return
        if isinstance(error, TaskCancelledError):
            self._store_outcome(
                item.delivery, envelope, records.CANCELLED, error=error, started_at=item.started_at
            )
            return
        if envelope.attempt <= item.definition.retries:
            self._retry(item, error)
            return
        self._store_outcome(
            item.delivery, envelope, records.FAILED, error=error, started_at=item.started_at
        )

    def _retry(self, item: InFlight, error: BaseException) -> None:
        """Push the next attempt as a delayed message, mark the task queued, ack this one."""
        envelope = replace(item.envelope, attempt=item.envelope.attempt + 1)
        delay = item.definition.delay
        record = self._record(envelope, records.QUEUED, error=error)
        written, _ = self.node.transition(
            records.task_key(envelope.id),
            record,
            ttl=self.settings.result_ttl,
            expect=(records.RUNNING,),
        )
        if written:
            self.node.push(
                self.queue,
                self.wire.encode(envelope),
                not_before=time.time() + delay if delay else None,
            )
            self.minion.observe("retried", envelope, error=error, delay=delay)
        self.node.ack(item.delivery)

    def _store_outcome(
        self,
        delivery: Delivery,
        envelope: Envelope,
        state: str,
        *,
        result: Any = None,
        error: BaseException | None = None,
        started_at: float | None = None,
        start: bool = False,
    ) -> None:
        """Write a final state (from running; or from startable when it never started)."""
        record = self._record(
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
        if composition.has_follow_ups(envelope):  # advance the plan before the ack
            written, _ = self.node.transition(key, record, ttl=ttl, expect=expect)
            if written:
                if envelope.reply_to:
                    self.node.emit(envelope.reply_to, envelope.id.encode())
                self.minion.follow_up(envelope, state, result)
            self.node.ack(delivery)
        else:  # the common case: store, announce and ack in one call (one round trip on Redis)
            written = self.node.transition_and_ack(
                delivery,
                key,
                record,
                ttl=ttl,
                expect=expect,
                event=envelope.reply_to,
                payload=envelope.id.encode(),
            )
        if written:
            duration = 0.0 if started_at is None else time.time() - started_at
            self.minion.observe(state, envelope, value=result, error=error, duration=duration)

    def _record(
        self,
        envelope: Envelope,
        state: str,
        *,
        result: Any = None,
        error: BaseException | None = None,
        started_at: float | None = None,
        finished_at: float | None = None,
    ) -> Record:
        data = records.task_status(
            envelope,
            state,
            result=result,
            error=error,
            traceback_text="" if error is None else _traceback(error),
            started_at=started_at,
            finished_at=finished_at,
            worker=self.minion.worker_id,
        )
        return Record(state, self.wire.pack(data, "record"))

    def _redo_follow_ups(self, envelope: Envelope, current: Record) -> None:
        """A crash may have come between storing the outcome and advancing the group or
        pipe; the follow-ups are idempotent, so run them again."""
        if not composition.has_follow_ups(envelope):
            return
        status = self.wire.unpack(current.data)
        self.minion.follow_up(envelope, current.state, status.get("result"))

    # ------------------------------------------------------------------ control
    def _on_control(self, event: str, payload: bytes) -> None:
        try:
            message = self.wire.unpack(payload)
            ids = [str(i) for i in message.get("kill", ())]
        except (MessageRejected, AttributeError, TypeError) as exc:
            log.warning("ignoring a malformed control message: %s", exc)
            return
        for task_id in ids:
            with self.lock:
                item = self.inflight.get(task_id)
            if item is not None:
                if item.cancel is not None:
                    item.cancel.set()  # a thread task that checks task_cancelled() stops
                self.pool.kill(item.future)

    # ------------------------------------------------------------------ shutdown
    def _drain(self) -> None:
        """Finish in-flight work within the grace period; give the rest back to the queue."""
        with self.lock:
            self.lock.wait_for(lambda: not self.inflight, timeout=self.grace)
            leftovers = list(self.inflight.values())
            for item in leftovers:
                item.requeue = True
        for item in leftovers:
            record = self._record(item.envelope, records.QUEUED)
            self.node.transition(
                records.task_key(item.envelope.id),
                record,
                ttl=self.settings.result_ttl,
                expect=(records.RUNNING,),
            )
            self.node.nack(item.delivery)
            log.warning(
                "requeued task %s (%s): shutdown grace period ran out",
                item.envelope.id,
                item.envelope.task,
            )
        self.pool.shutdown(cancel=bool(leftovers))

    def busy(self) -> int:
        with self.lock:
            return len(self.inflight)

    def leased(self) -> list[Delivery]:
        with self.lock:
            return [item.delivery for item in self.inflight.values()]


def _traceback(error: BaseException) -> str:
    text = getattr(error, "traceback_text", None)
    if isinstance(text, str):
        return text
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))
