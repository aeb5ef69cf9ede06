"""One ``Minion.run``: one lane per slot pulls a message, runs it, stores its outcome, acks.

A lane runs a thread task itself and hands a process task to the pool. The order of
a task's life here is what makes "nothing acknowledged is lost":

1. A lane pulls only while it is free: never more leases than slots.
2. A message that does not decode or verify, or whose fields or composition
   headers are malformed, is dead-lettered with the reason, never run; its task's
   record ends ``dead`` (see ``node.burial``), so nobody waits for it for ever.
3. ``transition`` to ``running`` (allowed only from queued, running-after-a-crash
   or absent) gates the start: a killed task or a late duplicate of a finished
   one is acked and skipped.
4. While it runs, the keeper renews its lease; a crash lets the lease run out
   and another minion takes the message.
5. The outcome is stored (``transition`` from running, so a final state is
   never overwritten), the Arbiter is woken, follow-ups (group, pipe) are
   pushed, and only then is the message acked; without follow-ups, that is one
   call which also leases the lane's next message.

A failed attempt with retries left is pushed again as a delayed message, so a
waiting retry holds no slot.

Whatever goes wrong while handling one message affects that message only: a
broker error leaves it to its lease (it comes back); anything else dead-letters it
with the reason, and the lane takes the next one. A follow-up that fails after a
successful run keeps the task succeeded and acked, and its error is written into
the task's record. A lane ends only with the minion, or on a bug in arbiter itself,
which the log then says.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from arbiter_core import composition, records
from arbiter_core.deadlines import DeadlineWatch
from arbiter_core.errors import (
    BrokerError,
    DeadLetteredError,
    MessageRejected,
    SerializationError,
    TaskCancelledError,
    TaskTimeoutError,
    UnknownTaskError,
)
from arbiter_core.futures import settle
from arbiter_core.minion.cancellation import run_cancellable
from arbiter_core.minion.coroutines import run_coroutine
from arbiter_core.minion.keeper import Keeper
from arbiter_core.minion.registry import TaskDefinition
from arbiter_core.node import Claim, Delivery, Record
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
    call: tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]] | None = None  # inline
    lane: threading.Thread | None = None  # the lane running an inline task
    described: bool = True  # False: a pull claimed the record; it lacks start time and worker


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
        # Thread tasks share this process: cooperative cancellation applies, and they run
        # on the lane that pulled them (no hand-off to another thread and back, two thread
        # wake-ups per task). A lane stuck in a timed-out or killed task is abandoned, as
        # the thread pool would abandon its thread, and a new lane takes the slot.
        self.threads = threads
        self.deadlines = DeadlineWatch("arbiter-task-deadlines")
        self.lanes: set[threading.Thread] = set()
        self.stopping = threading.Event()
        self.lock = threading.Condition()
        self.inflight: dict[str, InFlight] = {}
        self.crashed: BaseException | None = None  # what stopped a lane, raised by run()
        self.keeper = Keeper(self)
        # Pulls move a task's record to running with the lease (on backends that can),
        # so a start costs no round trip of its own.
        self.claim = Claim(records.RUNNING, records.CLAIMABLE, self.settings.result_ttl)

    # ------------------------------------------------------------------ lanes
    def run(self) -> None:
        control = records.control_event(self.queue)
        self.node.subscribe(control, self._on_control)
        self.keeper.start()
        try:
            for _ in range(self.slots):
                self._spawn_lane()
            self.stopping.wait()  # this (main) thread stays free for signals and the drain
        finally:
            try:
                self.stop()
                self._drain()
                with self.lock:  # abandoned lanes (stuck in a task) are not waited for
                    self.lock.wait_for(lambda: not self.lanes)
            finally:
                self.deadlines.stop()
                self.keeper.stop()
                self.node.unsubscribe(control, self._on_control)
                self.node.remove_worker(self.minion.worker_id)
        if self.crashed is not None:
            raise self.crashed

    def _spawn_lane(self, first: InFlight | None = None) -> None:
        """Start a lane; ``first``: the abandoned task whose outcome it stores first."""
        lane = threading.Thread(target=self._lane, args=(first,), daemon=True)
        lane.name = f"arbiter-lane-{id(lane):x}"
        with self.lock:
            self.lanes.add(lane)
        lane.start()

    def _lane(self, first: InFlight | None) -> None:
        try:
            self._serve(first)
        except BaseException as exc:  # a bug, not the broker: stop the minion, loudly
            log.critical(
                "a worker lane crashed: this is a bug in arbiter, please report it with "
                "this traceback; stopping the minion",
                exc_info=True,
            )
            self.crashed = exc
            self.stop()
        finally:
            with self.lock:
                self.lanes.discard(threading.current_thread())
                self.lock.notify_all()

    def _serve(self, first: InFlight | None) -> None:
        """One slot: pull a message, run it, store its outcome while taking the next.

        Each slot pulls for itself, only when it is free, so the minion never leases
        more messages than it has slots; finishing a task and taking the next message
        are one call (one round trip on Redis).
        """
        lease = self.settings.lease
        failures = 0
        deliveries = [] if first is None else self._finish(first)
        while not self.stopping.is_set():
            if not deliveries:
                try:
                    deliveries = self.node.pull_and_claim(
                        self.queue, timeout=PULL_WAIT, lease=lease, claim=self.claim
                    )
                except BrokerError as exc:  # the node reconnects; back off rather than die
                    failures += 1
                    backoff = min(MAX_BACKOFF, 0.1 * 2**failures)
                    log.warning("pull failed (%s); retrying in %.1fs", exc, backoff)
                    self.stopping.wait(backoff)
                    continue
                failures = 0
                continue
            if self.stopping.is_set():
                break
            item = self._begin(deliveries.pop(0))
            if item is None:
                continue
            if item.call is None:
                wait([item.future])
            elif not self._run_here(item):
                return  # abandoned (timed out or killed): a new lane took this slot
            deliveries += self._finish(item)
        for unstarted in deliveries:
            try:
                self.node.nack(unstarted)
            except BrokerError as exc:  # its lease runs out instead
                log.warning("could not release message %s (%s)", unstarted.message_id, exc)

    def stop(self) -> None:
        self.stopping.set()
        with self.lock:
            self.lock.notify_all()

    # ------------------------------------------------------------------ starting
    def _begin(self, delivery: Delivery) -> InFlight | None:
        """Decode and start one message; None if it was settled (or left) without running.

        What goes wrong here stays with this message: a broker error leaves it to its
        lease, anything else dead-letters it with the reason.
        """
        envelope: Envelope | None = None
        planned = False  # its group or pipe headers are sound: a dead end advances them
        try:
            envelope = self.wire.decode(delivery.body)
            composition.check_headers(envelope.headers)
            planned = True
            return self._start(delivery, envelope)
        except BrokerError as exc:  # its lease runs out and it is delivered again
            log.warning("could not start message %s (%s)", delivery.message_id, exc)
        except MessageRejected as exc:
            self._reject(delivery, envelope, exc.reason, advance=planned)
        except Exception as exc:  # one bad message never stops a lane
            log.exception("could not start message %s", delivery.message_id)
            reason = f"could not be started: {_describe(exc)}"
            self._reject(delivery, envelope, reason, advance=planned)
        return None

    def _reject(
        self,
        delivery: Delivery,
        envelope: Envelope | None,
        reason: str,
        *,
        advance: bool = False,
    ) -> None:
        """Dead-letter a message with ``reason`` and end its task's record as ``dead``.

        The backend ends the record the message was bound to as it buries it; a task
        whose envelope decoded is ended here too, for a message that was not bound.
        With ``advance``, its group or pipe then moves on as after a failure.
        """
        log.warning("dead-lettering message %s: %s", delivery.message_id, reason)
        try:
            self.node.dead_letter(delivery, reason)
            if envelope is not None:
                self._end_dead(envelope, reason, advance)
        except BrokerError as exc:  # its lease runs out; it comes back and is rejected again
            log.warning("could not dead-letter message %s (%s)", delivery.message_id, exc)
        except Exception:  # its lease runs out, and it is spent in the end: never a lane
            log.exception("could not dead-letter message %s", delivery.message_id)

    def _end_dead(self, envelope: Envelope, reason: str, advance: bool) -> None:
        key = records.task_key(envelope.id)
        try:
            record = self._record(envelope, records.DEAD, error=DeadLetteredError(reason))
        except SerializationError:  # a field of its own cannot be stored: the burial stands
            return
        written, current = self.node.transition(
            key,
            record,
            ttl=self.settings.result_ttl,
            expect=(records.ABSENT, records.WAITING, *records.CLAIMABLE),
        )
        if written and envelope.reply_to:
            self.node.emit(envelope.reply_to, records.reply_payload(envelope.id, record))
        if advance and current is not None and current.state == records.DEAD:
            self._follow_up(envelope, record, None)  # once more after a crash is harmless

    def _start(self, delivery: Delivery, envelope: Envelope) -> InFlight | None:
        """Gate and submit one decoded message; None if it was settled without running."""
        try:
            definition = self.minion.tasks.get(envelope.task)
        except UnknownTaskError as exc:
            self._store_outcome(delivery, envelope, records.FAILED, error=exc, start=True)
            return None
        if envelope.deadline is not None and time.time() > envelope.deadline:
            error = TaskTimeoutError(envelope.task, 0.0)
            self._store_outcome(delivery, envelope, records.FAILED, error=error, start=True)
            return None
        started_at = time.time()
        if delivery.claim is not None:  # the pull moved the record to running already
            written, current = delivery.claim.written, delivery.claim.current
        else:
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
            return None
        self.minion.observe("started", envelope)
        function: Callable[..., Any] = definition.function
        args, kwargs = envelope.args, envelope.kwargs
        if definition.is_async:
            function, args, kwargs = run_coroutine, (function, args, kwargs), {}
        cancel = threading.Event() if self.threads else None
        if cancel is not None:
            function, args, kwargs = run_cancellable, (cancel, function, args, kwargs), {}
        with self.lock:
            late = self.stopping.is_set()  # the drain has begun: no new work for the pool
            if not late:
                call = (function, args, dict(kwargs))
                item = self._launch(delivery, envelope, definition, call, started_at, cancel)
                self.inflight[envelope.id] = item
        if late:
            self._give_back(envelope, delivery)
            return None
        return item

    def _launch(
        self,
        delivery: Delivery,
        envelope: Envelope,
        definition: TaskDefinition,
        call: tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]],
        started_at: float,
        cancel: threading.Event | None,
    ) -> InFlight:
        """The in-flight entry of a starting task: run here later (inline), or on the pool."""
        described = delivery.claim is None
        if self.threads:
            future: Future[Any] = Future()
            future.set_running_or_notify_cancel()
            lane = threading.current_thread()
            return InFlight(
                delivery, envelope, definition, future, started_at, cancel,
                call=call, lane=lane, described=described,
            )  # fmt: skip
        function, args, kwargs = call
        label = f"{envelope.task}[{envelope.id[:8]}]"
        future = self.pool.submit(function, args, kwargs, timeout=definition.timeout, label=label)
        return InFlight(
            delivery, envelope, definition, future, started_at, cancel, described=described
        )

    def _run_here(self, item: InFlight) -> bool:
        """Run an inline task on this lane; False if it was abandoned meanwhile."""
        assert item.call is not None
        function, args, kwargs = item.call
        timeout = item.definition.timeout
        deadline = None
        if timeout is not None:
            error = TaskTimeoutError(item.envelope.task, timeout)
            deadline = self.deadlines.add(
                time.monotonic() + timeout, functools.partial(self._expire, item, error)
            )
        try:
            value = function(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - the task's outcome, stored by _finish
            return settle(item.future.set_exception, exc)
        else:
            return settle(item.future.set_result, value)
        finally:
            if deadline is not None:
                self.deadlines.cancel(deadline)

    def _expire(self, item: InFlight, error: BaseException) -> None:
        self._abandon(item, error)

    def _abandon(self, item: InFlight, error: BaseException) -> bool:
        """Settle an inline task with ``error`` now; a new lane stores it and takes the slot.

        The old lane runs on inside the function (Python cannot stop a thread) and
        exits when it returns, its result discarded.
        """
        if not settle(item.future.set_exception, error):
            return False  # it had finished
        with self.lock:
            if item.lane is not None:
                self.lanes.discard(item.lane)
        self._spawn_lane(first=item)
        return True

    # ------------------------------------------------------------------ finishing
    def _finish(self, item: InFlight) -> list[Delivery]:
        """Store the outcome of a finished task; return the next messages if that took any."""
        with self.lock:
            requeued = item.requeue
        try:
            if not requeued:
                return self._settle(item, item.future)
        except BrokerError:  # the lease runs out and another minion retries
            log.exception("could not store the outcome of task %s", item.envelope.id)
        except Exception as exc:  # it would fail again: this message only
            log.exception("could not store the outcome of task %s", item.envelope.id)
            reason = f"its outcome could not be stored: {_describe(exc)}"
            self._reject(item.delivery, item.envelope, reason, advance=True)
        finally:
            with self.lock:
                self.inflight.pop(item.envelope.id, None)
                self.lock.notify_all()
        return []

    def _settle(self, item: InFlight, future: Future[Any]) -> list[Delivery]:
        envelope = item.envelope
        if future.cancelled():
            error: BaseException | None = TaskCancelledError(envelope.task, "killed")
        else:
            error = future.exception()
        take_next = not self.stopping.is_set()
        if error is None:
            value = future.result()
            try:  # the value is encoded once, inside its record
                record = self._record(
                    envelope,
                    records.SUCCEEDED,
                    result=value,
                    started_at=item.started_at,
                    finished_at=time.time(),
                )
            except SerializationError as exc:
                error = self._unencodable(envelope, value, exc)
            else:
                return self._store_outcome(
                    item.delivery, envelope, records.SUCCEEDED, result=value,
                    started_at=item.started_at, take_next=take_next, record=record,
                )  # fmt: skip
        if isinstance(error, TaskCancelledError):
            state = records.CANCELLED
        elif envelope.attempt <= item.definition.retries:
            self._retry(item, error)
            return []
        else:
            state = records.FAILED
        return self._store_outcome(
            item.delivery,
            envelope,
            state,
            error=error,
            started_at=item.started_at,
            take_next=take_next,
        )

    def _unencodable(self, envelope: Envelope, value: Any, exc: SerializationError) -> Exception:
        """The error of a task whose value cannot be stored, naming the part that fails."""
        try:
            self.wire.pack(value, "result")
        except SerializationError as culprit:
            exc = culprit
        return SerializationError(f"task {envelope.task!r} returned a value that {exc}")

    def _retry(self, item: InFlight, error: BaseException) -> None:
        """Push the next attempt as a delayed message, mark the task queued, ack this one."""
        envelope = replace(item.envelope, attempt=item.envelope.attempt + 1)
        delay = item.definition.delay
        record = self._record(envelope, records.QUEUED, error=error)
        written = self.node.transition_and_push(  # bound, like the first push
            records.task_key(envelope.id),
            record,
            ttl=self.settings.result_ttl,
            expect=(records.RUNNING,),
            queue=self.queue,
            body=self.wire.encode(envelope),
            not_before=time.time() + delay if delay else None,
        )
        if written:
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
        take_next: bool = False,
        record: Record | None = None,
    ) -> list[Delivery]:
        """Write a final state (from running; or from startable when it never started).

        With ``take_next``, the same call leases this slot's next message, if one is
        ready, and returns it. ``record``: the final record, if the caller built it.
        """
        if record is None:
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
        taken: list[Delivery] = []
        if composition.has_follow_ups(envelope):  # advance the plan before the ack
            written, _ = self.node.transition(key, record, ttl=ttl, expect=expect)
            if written:
                if envelope.reply_to:
                    self.node.emit(envelope.reply_to, records.reply_payload(envelope.id, record))
                self._follow_up(envelope, record, result)
            self.node.ack(delivery)
        else:  # the common case: store, announce, ack (and take the next) in one call
            reply_to = envelope.reply_to
            payload = records.reply_payload(envelope.id, record) if reply_to else b""
            if take_next:
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
        if written:
            duration = 0.0 if started_at is None else time.time() - started_at
            self.minion.observe(state, envelope, value=result, error=error, duration=duration)
        return taken

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
        try:
            status = self.wire.unpack(current.data)
        except MessageRejected as exc:  # not ours to trust: nothing to advance with
            log.error("task %s: its stored record does not verify (%s)", envelope.id, exc)
            return
        if "follow_up_error" not in status:  # one that failed for good is not tried again
            self._follow_up(envelope, current, status.get("result"))

    def _follow_up(self, envelope: Envelope, final: Record, result: Any) -> None:
        """Advance the task's group or pipe; a failure that is not the broker's is written
        into the task's record (which stays final) and logged, and the message is acked.

        A broker error propagates: the message is not acked, comes back after its
        lease, and the start gate runs the follow-ups again.
        """
        try:
            self.minion.follow_up(envelope, final.state, result)
        except BrokerError:
            raise
        except Exception as exc:  # the task's outcome stands
            log.exception("task %s (%s): its follow-ups failed", envelope.id, envelope.task)
            status = self.wire.unpack(final.data)
            status["follow_up_error"] = records.error_info(exc, _traceback(exc))
            self.node.transition(
                records.task_key(envelope.id),
                Record(final.state, self.wire.pack(status, "record")),
                ttl=self.settings.result_ttl,
                expect=(final.state,),
            )

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
                if item.call is not None:
                    self._abandon(item, TaskCancelledError(item.envelope.task, "killed"))
                else:
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
            self._give_back(item.envelope, item.delivery)
            if item.call is not None:
                self._abandon(item, TaskCancelledError(item.envelope.task, "shutdown"))
            log.warning(
                "requeued task %s (%s): shutdown grace period ran out",
                item.envelope.id,
                item.envelope.task,
            )
        self.pool.shutdown(cancel=bool(leftovers))

    def _give_back(self, envelope: Envelope, delivery: Delivery) -> None:
        """Mark a started task queued again and release its message for another minion."""
        self.node.transition(
            records.task_key(envelope.id),
            self._record(envelope, records.QUEUED),
            ttl=self.settings.result_ttl,
            expect=(records.RUNNING,),
        )
        self.node.nack(delivery)

    def describe_running(self) -> None:
        """Give tasks whose record a pull claimed their full running record (start time,
        worker). The keeper calls this on each beat: a start costs no round trip, and a
        task still running at the beat shows who runs it since when."""
        with self.lock:
            items = [i for i in self.inflight.values() if not i.described and not i.requeue]
        for item in items:
            item.described = True
            self.node.transition(
                records.task_key(item.envelope.id),
                self._record(item.envelope, records.RUNNING, started_at=item.started_at),
                ttl=self.settings.result_ttl,
                expect=(records.RUNNING,),
            )

    def busy(self) -> int:
        with self.lock:
            return len(self.inflight)

    def leased(self) -> list[Delivery]:
        with self.lock:
            return [item.delivery for item in self.inflight.values()]


def _describe(error: BaseException) -> str:
    """``Type: message`` of an error, short enough for a dead letter's reason."""
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= 500 else text[:497] + "..."


def _traceback(error: BaseException) -> str:
    text = getattr(error, "traceback_text", None)
    if isinstance(text, str):
        return text
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))
