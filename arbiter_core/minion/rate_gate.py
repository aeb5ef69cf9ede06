"""The rate gate: a rate-limited task starts at a slot it reserved, or waits off the pool.

Called by the start gate (:mod:`arbiter_core.minion.starting`) once the task's
record is ``running`` and before it is admitted, only for tasks with a
``rate_limit`` (see :mod:`arbiter_core.rate_limit`). Guarantees:

* An attempt that holds a slot (its ``rate_slot`` header names this attempt) runs
  without reserving again: the slot was its own when it went back to the queue.
* Otherwise it reserves the next slot of its task name
  (:class:`~arbiter_core.rate_limit_slots.Slots`). A slot that is now runs it. A
  later slot sends it back to the queue as a delayed message due then, carrying
  the slot, bound to its record, which goes back to ``queued``; only then is this
  delivery acked. It holds no worker slot while it waits, its attempt is not
  counted as a retry, and waiting tasks keep the order in which they reserved.
* A task whose slot would come at or after its ``expires`` ends ``expired`` now,
  and one whose slot would come after its deadline fails now: neither takes a slot.
* A kill that came for it while it was being held back ends it cancelled, and so
  does one that reached this minion while the task was being put back (its record,
  queued again by then, goes to cancelled; the copy put back is dropped at its slot).
* Between the reservation and the push back a crash wastes that slot (the lease
  gives the message to another minion, which reserves again): a start is lost to
  the rate, never added to it. A push back whose ack is lost leaves the message to
  its lease as any redelivery does (at least once).
* Reservations that keep losing races (:class:`~arbiter_core.rate_limit_slots.SlotsContended`)
  send it back for one interval, holding no slot, and it tries again then.

Slots are the state store's time (:meth:`~arbiter_core.node.StateStore.now`); the
delayed message's due time is converted to this machine's clock, which the node
converts to its broker's.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from arbiter_core import records, task_priority, timing, unique
from arbiter_core.errors import TaskCancelledError, TaskExpiredError, TaskTimeoutError
from arbiter_core.minion.inflight import InFlightTasks
from arbiter_core.minion.outcome import Outcomes
from arbiter_core.minion.registry import TaskDefinition
from arbiter_core.node import Delivery, TransitionPush
from arbiter_core.rate_limit import RATE_SLOT, held_slot
from arbiter_core.rate_limit_slots import Slots, SlotsContended
from arbiter_core.wire import Envelope

log = logging.getLogger("arbiter.minion")

CLAIM_FINALIZER = "claim_finalizer"
"""The header of a group finalizer's delayed copy (see :mod:`arbiter_core.composition`)."""


class RateGate:
    """Holds back the starts of rate-limited tasks until their slots."""

    def __init__(self, outcomes: Outcomes, inflight: InFlightTasks) -> None:
        self.outcomes = outcomes
        self.context = outcomes.context
        self.inflight = inflight
        self.slots = Slots(self.context.node)

    def holds_back(
        self, delivery: Delivery, envelope: Envelope, definition: TaskDefinition
    ) -> bool:
        """Whether the task must not start now (it was sent back, or ended); False: run it.

        The task's record is ``running``. Broker errors propagate (the start gate leaves
        the message to its lease).
        """
        rate = definition.rate_limit
        if rate is None or held_slot(envelope.headers, envelope.attempt) is not None:
            return False
        node = self.context.node
        offset = node.now() - time.time()  # the store's clock minus this machine's
        limits = [
            moment + offset
            for moment in (timing.expiry(envelope.headers), envelope.deadline)
            if moment is not None
        ]
        try:
            reservation = self.slots.reserve(envelope.task, rate, min(limits, default=None))
        except SlotsContended as exc:
            log.warning("%s; task %s[%s] tries again in %gs", exc, envelope.task, envelope.id,
                        rate.interval)  # fmt: skip
            self._send_back(delivery, envelope, time.time() + rate.interval, None)
            return True
        if reservation is None:  # it would start too late: it ends now, taking no slot
            self._end_unrun(delivery, envelope)
            return True
        if reservation.wait <= 0:
            return False
        if self.inflight.take_early_kill(envelope.id):  # killed while held back here
            self._cancel(delivery, envelope)
            return True
        log.debug(
            "task %s[%s] waits %.3fs for its rate limit (%s)",
            envelope.task, envelope.id, reservation.wait, rate.text,
            extra={"task": envelope.task, "task_id": envelope.id, "wait": reservation.wait},
        )  # fmt: skip
        self._send_back(delivery, envelope, reservation.slot - offset, reservation.slot)
        return True

    def _send_back(
        self, delivery: Delivery, envelope: Envelope, due: float, slot: float | None
    ) -> None:
        """Push the task back due at ``due`` (this machine's clock), holding ``slot``."""
        headers = dict(envelope.headers)
        # A finalizer's delayed copy claimed its waiting record already: the copy put back
        # is an ordinary queued task, started from queued like any other.
        headers.pop(CLAIM_FINALIZER, None)
        if slot is None:
            headers.pop(RATE_SLOT, None)
        else:
            headers[RATE_SLOT] = [slot, envelope.attempt]
        waiting = replace(envelope, headers=headers)
        context = self.context
        push = TransitionPush(  # bound to its record, like the first push
            records.task_key(envelope.id),
            self.outcomes.record(waiting, records.QUEUED),
            context.settings.result_ttl,
            (records.RUNNING,),
            context.queue,
            context.wire.encode(waiting),
            not_before=due,
            priority=task_priority.of(envelope.headers),  # it keeps the task's level
        )
        context.node.transition_and_push_many([push])
        if self.inflight.take_early_kill(envelope.id):
            # Killed during the push: the kill was taken here, where no start will find it.
            self._cancel_put_back(envelope)
        # not written: killed since (its record is final); the delivery is done either way
        context.node.ack(delivery)

    def _cancel_put_back(self, envelope: Envelope) -> None:
        """End a task put back as it was killed, as the Arbiter's kill of a queued task
        does: from ``queued`` only, since the copy put back may have started elsewhere
        since; that copy then finds the record final at its slot and is dropped."""
        node, settings = self.context.node, self.context.settings
        killed = TaskCancelledError(envelope.task, "killed before it started")
        final = self.outcomes.record(
            envelope, records.CANCELLED, error=killed, finished_at=time.time()
        )
        written, _ = node.transition(
            records.task_key(envelope.id),
            final,
            ttl=settings.result_ttl,
            expect=(records.QUEUED,),
        )
        if not written:
            return
        log.info(
            "task %s[%s] cancelled while it waited for its rate limit", envelope.task, envelope.id
        )
        if envelope.reply_to:
            node.emit(envelope.reply_to, records.reply_payload(envelope.id, final))
        unique.release(node, envelope)
        self.outcomes.follow_ups.run(envelope, final, None)

    def _cancel(self, delivery: Delivery, envelope: Envelope) -> None:
        """End a task killed as it was being held back (its record still running): unrun."""
        killed = TaskCancelledError(envelope.task, "killed before it started")
        self.outcomes.store(delivery, envelope, records.CANCELLED, error=killed, start=True)

    def _end_unrun(self, delivery: Delivery, envelope: Envelope) -> None:
        """End a task whose next slot comes after its expiry (expired) or deadline (failed)."""
        expires = timing.expiry(envelope.headers)
        if expires is not None and (envelope.deadline is None or expires <= envelope.deadline):
            error: Exception = TaskExpiredError(envelope.task, expires)
            state = records.EXPIRED
        else:
            error, state = TaskTimeoutError(envelope.task, 0.0), records.FAILED
        self.outcomes.store(delivery, envelope, state, error=error, start=True)
