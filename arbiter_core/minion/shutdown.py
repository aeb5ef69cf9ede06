"""Stopping: no new pulls, in-flight tasks get a grace period, the rest go back.

Guarantees: once the run is stopping no lane starts a task; tasks still running
when the grace period ends are marked ``queued`` again and their messages
released (nacked) for another minion, and their outcomes are never stored here;
then the pool is shut down, killing what it still runs only if something was
given back. Nothing acknowledged is lost: a task is either finished and acked,
or given back, or (if this process dies first) its lease runs out.

A cold stop (:meth:`Shutdown.go_cold`, a second SIGTERM or Ctrl-C) cuts the grace
period short: what still runs is given back at once, with the same guarantees.
"""

from __future__ import annotations

import logging
import threading

from arbiter_core import records
from arbiter_core.minion.inflight import InFlightTasks
from arbiter_core.minion.outcome import Outcomes
from arbiter_core.node import Delivery
from arbiter_core.pool import WorkerPool
from arbiter_core.wire import Envelope

log = logging.getLogger("arbiter.minion")


class Shutdown:
    """Gives work back to the queue, one task or the whole drain."""

    def __init__(self, outcomes: Outcomes, inflight: InFlightTasks, pool: WorkerPool) -> None:
        self.outcomes = outcomes
        self.node = outcomes.node
        self.inflight = inflight
        self.pool = pool
        self.cold = threading.Event()
        """Set by :meth:`go_cold`: the drain gives back what still runs without waiting."""

    def give_back(self, envelope: Envelope, delivery: Delivery) -> None:
        """Mark a started task queued again and release its message for another minion."""
        self.node.transition(
            records.task_key(envelope.id),
            self.outcomes.record(envelope, records.QUEUED),
            ttl=self.outcomes.settings.result_ttl,
            expect=(records.RUNNING,),
        )
        self.node.nack(delivery)

    def go_cold(self) -> None:
        """End the grace period now: the drain (begun or to come) gives the rest back.

        Signals reach this from the ``arbiter-signals`` thread, never from inside a
        signal handler (see :mod:`~arbiter_core.minion.stop_signals`), so taking
        the in-flight lock here is safe.
        """
        self.cold.set()
        self.inflight.notify()

    def drain(self, grace: float) -> None:
        """Finish in-flight work within ``grace`` seconds; give the rest back to the queue."""
        busy = self.inflight.busy()
        if busy and not self.cold.is_set():
            log.info(
                "stopping: waiting up to %gs (grace) for %d running task(s) to finish; "
                "stop again to requeue them at once",
                grace,
                busy,
                extra={"running": busy, "grace": grace},
            )
        leftovers = self.inflight.wait_then_requeue(grace, self.cold.is_set)
        for item in leftovers:
            self.give_back(item.envelope, item.delivery)
            log.warning(
                "requeued task %s[%s]: %s",
                item.envelope.task,
                item.envelope.id,
                "cold shutdown" if self.cold.is_set() else "shutdown grace period ran out",
                extra={
                    "task": item.envelope.task,
                    "task_id": item.envelope.id,
                    "outcome": records.QUEUED,
                    "attempt": item.envelope.attempt,
                },
            )
        if leftovers and self.cold.is_set():
            log.warning("cold shutdown: requeued %d running task(s)", len(leftovers))
        self.pool.shutdown(cancel=bool(leftovers))  # abandons what still runs, lanes too
