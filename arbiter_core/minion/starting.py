"""Starting one message: decode, check, gate, and hand the call to where it runs.

Guarantees:

* A message that does not decode or verify, or whose fields or composition
  headers are malformed, is dead-lettered with the reason and never run; its
  task's record ends ``dead`` (see :mod:`arbiter_core.node.burial`), so nobody
  waits for it for ever. A broker error instead leaves the message to its lease.
* ``transition`` to ``running`` (allowed only from queued, running-after-a-crash
  or absent; on most backends done by the pull that leased it, see
  :mod:`arbiter_core.node.claim`) gates the start: a killed task or a late
  duplicate of a finished one is acked and skipped, and a finished one's
  follow-ups are run again.
* An unknown task or one past its deadline fails without running; one past its
  ``expires`` (see :mod:`arbiter_core.timing`) ends ``expired`` without running,
  whichever attempt it is. Either way its waiter wakes and its plan moves on.
* A task with a ``rate_limit`` starts only at a slot it reserved; until then it
  waits on the broker, not in the pool (see :mod:`arbiter_core.minion.rate_gate`).
* A task is admitted to the run's in-flight map only while the run is not
  stopping; one that comes too late is given back to the queue.
* On a pool that can (:class:`~arbiter_core.pool.InlinePool`), the lane that
  pulled a task runs it itself; on any other pool the task is submitted to it.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from arbiter_core import composition, records, timing
from arbiter_core.dag.headers import call_timeout
from arbiter_core.errors import (
    BrokerError,
    MessageRejected,
    TaskCancelledError,
    TaskExpiredError,
    TaskTimeoutError,
    UnknownTaskError,
)
from arbiter_core.minion.cancellation import run_cancellable
from arbiter_core.minion.coroutines import run_coroutine
from arbiter_core.minion.describe import describe
from arbiter_core.minion.inflight import InFlight, InFlightTasks, KilledBeforeStart
from arbiter_core.minion.outcome import Outcomes
from arbiter_core.minion.rate_gate import RateGate
from arbiter_core.minion.registry import TaskDefinition, TaskRegistry
from arbiter_core.minion.task_log import log_dead_letter
from arbiter_core.node import Delivery
from arbiter_core.pool import Call, InlinePool, WorkerPool
from arbiter_core.wire import Envelope

log = logging.getLogger("arbiter.minion")

GiveBack = Callable[[Envelope, Delivery], None]


class Starter:
    """Turns a delivery into a running :class:`InFlight`, or settles it without running."""

    def __init__(
        self,
        tasks: TaskRegistry,
        outcomes: Outcomes,
        inflight: InFlightTasks,
        pool: WorkerPool,
        *,
        stopping: threading.Event,
        give_back: GiveBack,
    ) -> None:
        self.context = outcomes.context
        self.tasks = tasks
        self.outcomes = outcomes
        self.follow_ups = outcomes.follow_ups
        self.inflight = inflight
        self.pool = pool
        self.stopping = stopping
        self.give_back = give_back
        # Asked once, of the pool's abilities, never of its name.
        self.inline: InlinePool | None = pool if isinstance(pool, InlinePool) else None
        self.rate_gate = RateGate(outcomes, inflight)

    def begin(self, delivery: Delivery) -> InFlight | None:
        """Decode and start one message; None if it was settled (or left) without running.

        What goes wrong here stays with this message: a broker error leaves it to its
        lease, anything else dead-letters it with the reason.
        """
        envelope: Envelope | None = None
        planned = False  # its group or pipe headers are sound: a dead end advances them
        try:
            envelope = self.context.wire.decode(delivery.body)
            composition.check_headers(envelope.headers)
            planned = True
            return self._start(delivery, envelope)
        except BrokerError as exc:  # its lease runs out and it is delivered again
            log.warning("could not start message %s (%s)", delivery.message_id, exc)
        except MessageRejected as exc:
            self.reject(delivery, envelope, exc.reason, advance=planned)
        except Exception as exc:  # one bad message never stops a lane
            log.exception("could not start message %s", delivery.message_id)
            reason = f"could not be started: {describe(exc)}"
            self.reject(delivery, envelope, reason, advance=planned)
        return None

    def reject(
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
        With ``advance``, its group or pipe then moves on as after a failure. Never
        raises: a message that cannot even be dead-lettered is left to its lease.
        """
        context = self.context
        try:
            context.node.dead_letter(delivery, reason)
            self.outcomes.counts.add("dead")
            log_dead_letter(delivery.message_id, envelope, reason, context.queue, context.worker_id)
            if envelope is not None:
                self.outcomes.end_dead(envelope, reason, advance=advance)
                if context.registry.observed("arbiter_task_dead_lettered"):
                    context.registry.notify(
                        "arbiter_task_dead_lettered",
                        task_id=envelope.id, name=envelope.task, queue=context.queue,
                        reason=reason,
                    )  # fmt: skip
        except BrokerError as exc:  # its lease runs out; it comes back and is rejected again
            log.warning(
                "could not dead-letter message %s (%s); it was refused: %s",
                delivery.message_id, exc, reason,
            )  # fmt: skip
        except Exception:  # its lease runs out, and it is spent in the end: never a lane
            log.exception(
                "could not dead-letter message %s; it was refused: %s", delivery.message_id, reason
            )

    def _start(self, delivery: Delivery, envelope: Envelope) -> InFlight | None:
        """Gate and launch one decoded message; None if it was settled without running."""
        try:
            definition = self.tasks.get(envelope.task)
        except UnknownTaskError:  # named after the queue this run serves (``--queue``)
            exc = UnknownTaskError(envelope.task, self.context.queue, self.tasks)
            self.outcomes.store(delivery, envelope, records.FAILED, error=exc, start=True)
            return None
        if envelope.deadline is not None and time.time() > envelope.deadline:
            error = TaskTimeoutError(envelope.task, 0.0)
            self.outcomes.store(delivery, envelope, records.FAILED, error=error, start=True)
            return None
        expires = timing.expiry(envelope.headers)
        if expires is not None and time.time() >= expires:  # any attempt, a retry too
            expired = TaskExpiredError(envelope.task, expires)
            self.outcomes.store(delivery, envelope, records.EXPIRED, error=expired, start=True)
            return None
        started_at = time.time()
        if delivery.claim is not None:  # the pull moved the record to running already
            written, current = delivery.claim.written, delivery.claim.current
        else:
            record = self.outcomes.record(envelope, records.RUNNING, started_at=started_at)
            # The delayed copy of a finalizer runs only if its group has not queued it.
            expect = (
                (records.WAITING,) if envelope.headers.get("claim_finalizer") else records.STARTABLE
            )
            written, current = self.context.node.transition(
                records.task_key(envelope.id),
                record,
                ttl=self.context.settings.result_ttl,
                expect=expect,
            )
        if not written:  # cancelled, or a redelivered duplicate of a finished task
            if current is not None and current.state in records.FINAL:
                self.follow_ups.redo(envelope, current)
            self.context.node.ack(delivery)
            return None
        if definition.rate_limit is not None and self.rate_gate.holds_back(
            delivery, envelope, definition
        ):  # it waits for its turn off the pool (or ended): see rate_gate
            return None
        if self.context.registry.observed("arbiter_task_started"):
            self.context.registry.notify(
                "arbiter_task_started",
                task_id=envelope.id,
                name=envelope.task,
                queue=envelope.queue,
                attempt=envelope.attempt,
                worker_id=self.context.worker_id,
            )
        function: Callable[..., Any] = definition.function
        args, kwargs = envelope.args, dict(envelope.kwargs)
        if definition.is_async:
            function, args, kwargs = run_coroutine, (function, args, kwargs), {}
        cancel = None
        if self.inline is not None:  # in this process: a kill can ask the task to stop
            cancel = threading.Event()
            function, args, kwargs = run_cancellable, (cancel, function, args, kwargs), {}
        call = (function, args, kwargs)
        try:
            item = self.inflight.admit(
                envelope.id,
                functools.partial(
                    self._launch, delivery, envelope, definition, call, started_at, cancel
                ),
                self.stopping,
            )
        except KilledBeforeStart:  # killed between the pull and the start: it never runs
            killed = TaskCancelledError(envelope.task, "killed before it started")
            self.outcomes.store(delivery, envelope, records.CANCELLED, error=killed, start=True)
            return None
        if item is None:  # the drain has begun: no new work for the pool
            self.give_back(envelope, delivery)
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
        """Hand the call to the pool: to run on this lane (inline), or on one of its own."""
        function, args, kwargs = call
        timeout = call_timeout(envelope.headers, definition.timeout)  # a DAG task's own
        if self.inline is not None:
            future = self.inline.prepare_here(Call(function, args, kwargs, timeout, envelope.task))
        else:
            label = f"{envelope.task}[{envelope.id[:8]}]"
            future = self.pool.submit(function, args, kwargs, timeout=timeout, label=label)
        return InFlight(
            delivery,
            envelope,
            definition,
            future,
            started_at,
            cancel,
            inline=self.inline is not None,
            lane=threading.current_thread(),
            described=delivery.claim is None,
        )
