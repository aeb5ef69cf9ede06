"""Control events: what an Arbiter can ask of the minions serving a queue while they run.

Today that is ``kill``: each minion running one of the named tasks asks its pool
to kill it (a thread task is settled ``cancelled`` at once and its lane replaced,
and it can notice through :func:`~arbiter_core.minion.task_cancelled`; a process
task's process is terminated). A malformed control message is logged and ignored:
it never stops a minion.
"""

from __future__ import annotations

import logging

from arbiter_core import records
from arbiter_core.errors import MessageRejected
from arbiter_core.minion.inflight import InFlightTasks
from arbiter_core.minion.run_context import RunContext
from arbiter_core.pool import WorkerPool

log = logging.getLogger("arbiter.minion")


class Control:
    """Listens on the queue's control event while a run lasts."""

    def __init__(self, context: RunContext, inflight: InFlightTasks, pool: WorkerPool) -> None:
        self.node = context.node
        self.wire = context.wire
        self.event = records.control_event(context.queue)
        self.inflight = inflight
        self.pool = pool

    def listen(self) -> None:
        self.node.subscribe(self.event, self._on_control)

    def close(self) -> None:
        self.node.unsubscribe(self.event, self._on_control)

    def _on_control(self, event: str, payload: bytes) -> None:
        try:
            message = self.wire.unpack(payload)
            ids = [str(i) for i in message.get("kill", ())]
        except (MessageRejected, AttributeError, TypeError) as exc:
            log.warning("ignoring a malformed control message: %s", exc)
            return
        for task_id in ids:
            item = self.inflight.get(task_id)
            if item is not None:
                if item.cancel is not None:
                    item.cancel.set()  # a thread task that checks task_cancelled() stops
                self.pool.kill(item.future)
