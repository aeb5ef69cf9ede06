"""A graceful stop: no new pulls, in-flight tasks get a grace period, the rest go back.

Guarantees: once the run is stopping no lane starts a task; tasks still running
when the grace period ends are marked ``queued`` again and their messages
released (nacked) for another minion, and their outcomes are never stored here;
then the pool is shut down, killing what it still runs only if something was
given back. Nothing acknowledged is lost: a task is either finished and acked,
or given back, or (if this process dies first) its lease runs out.
"""

from __future__ import annotations

import logging

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

    def give_back(self, envelope: Envelope, delivery: Delivery) -> None:
        """Mark a started task queued again and release its message for another minion."""
        self.node.transition(
            records.task_key(envelope.id),
            self.outcomes.record(envelope, records.QUEUED),
            ttl=self.outcomes.settings.result_ttl,
            expect=(records.RUNNING,),
        )
        self.node.nack(delivery)

    def drain(self, grace: float) -> None:
        """Finish in-flight work within ``grace`` seconds; give the rest back to the queue."""
        leftovers = self.inflight.wait_then_requeue(grace)
        for item in leftovers:
            self.give_back(item.envelope, item.delivery)
            log.warning(
                "requeued task %s (%s): shutdown grace period ran out",
                item.envelope.id,
                item.envelope.task,
            )
        self.pool.shutdown(cancel=bool(leftovers))  # abandons what still runs, lanes too
