"""Control events: what an Arbiter can ask of the minions serving a queue while they run.

A control message is a mapping packed with the wire format, broadcast on
``records.control_event(queue)``. It may hold:

* ``"kill": [task ids]``: each minion running one of them asks its pool to kill
  it (a thread task is settled ``cancelled`` at once and its lane replaced, and
  it can notice through :func:`~arbiter_core.minion.task_cancelled`; a process
  task's process is terminated); one that pulled it but has not started it yet
  kills it as it starts (see :class:`~arbiter_core.minion.inflight.InFlightTasks`);
* ``"watch": seconds``: someone (``arbiter top``) is watching; the keeper beats
  every second for that long (see :mod:`~arbiter_core.minion.keeper`).

A malformed control message is logged and ignored: it never stops a minion.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from arbiter_core import records
from arbiter_core.errors import MessageRejected
from arbiter_core.minion.inflight import InFlight, InFlightTasks
from arbiter_core.minion.run_context import RunContext
from arbiter_core.pool import WorkerPool

log = logging.getLogger("arbiter.minion")


class Control:
    """Listens on the queue's control event while a run lasts; ``watch`` gets watch requests."""

    def __init__(
        self,
        context: RunContext,
        inflight: InFlightTasks,
        pool: WorkerPool,
        *,
        watch: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self.node = context.node
        self.wire = context.wire
        self.event = records.control_event(context.queue)
        self.inflight = inflight
        self.pool = pool
        self.watch = watch
        self._listening = False

    def listen(self) -> None:
        """Subscribe (once; a retry after a failed start may call it again)."""
        if not self._listening:
            self.node.subscribe(self.event, self._on_control)
            self._listening = True

    def close(self) -> None:
        if self._listening:
            self._listening = False
            self.node.unsubscribe(self.event, self._on_control)

    def _on_control(self, event: str, payload: bytes) -> None:
        try:
            message = self.wire.unpack(payload)
            ids = [str(i) for i in message.get("kill", ())]
            watch = _seconds(message.get("watch"))
        except (MessageRejected, AttributeError, TypeError, ValueError) as exc:
            log.warning("ignoring a malformed control message: %s", exc)
            return
        if watch is not None:
            self.watch(watch)
        for task_id in ids:
            item = self.inflight.for_kill(task_id)  # remembered if it has not started here
            if item is not None:
                kill(self.pool, item)


def kill(pool: WorkerPool, item: InFlight) -> None:
    """Stop a running task: ask a thread task to stop, and have the pool kill it."""
    if item.cancel is not None:
        item.cancel.set()  # a thread task that checks task_cancelled() stops
    pool.kill(item.future)


def _seconds(value: object) -> float | None:
    """A watch request's seconds (None: there is none); ValueError if it is not a duration."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"watch wants a number of seconds, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"watch wants a positive number of seconds, got {value!r}")
    return float(value)
