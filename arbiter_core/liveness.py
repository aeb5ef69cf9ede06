"""Warnings for work that nobody will do: a queue no live minion serves.

An ``apply`` to such a queue succeeds (the task waits there for a minion) and a
``wait_for_tasks`` on it would wait for ever in silence; both log a warning on the
``arbiter.client`` logger instead. Apply is a hot path, so the worker registry is
read at most once per :data:`REGISTRY_REFRESH` seconds per Arbiter, never per call,
and each queue is warned about at most once per Arbiter.

The registry itself lags: a minion that died counts as live until its heartbeat
expires (one lease), so "no live minion" already means none for a while.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable

from arbiter_core.errors import BrokerError
from arbiter_core.node import EventNode

log = logging.getLogger("arbiter.client")

REGISTRY_REFRESH = 5.0
"""Seconds an Arbiter trusts its last read of the worker registry."""


def served_queues(live_workers: dict[str, bytes]) -> set[str]:
    """The queues named by the heartbeats of ``live_workers`` (unreadable ones skipped)."""
    queues = set()
    for info in live_workers.values():
        try:
            queue = json.loads(info).get("queue")
        except (ValueError, AttributeError):
            continue
        if isinstance(queue, str):
            queues.add(queue)
    return queues


class QueueWatch:
    """The queues live minions serve, as last read, and the queues already warned about."""

    def __init__(
        self,
        node: EventNode,
        *,
        refresh: float = REGISTRY_REFRESH,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._node = node
        self._refresh = refresh
        self._clock = clock
        self._lock = threading.Lock()
        self._served: set[str] | None = None
        self._read_at = -float("inf")
        self._warned: set[str] = set()

    def served(self) -> set[str] | None:
        """The served queues, read again if the last read is older than ``refresh``;
        None if the registry cannot be read (then nobody is warned)."""
        now = self._clock()
        with self._lock:
            if now - self._read_at < self._refresh:
                return self._served
            self._read_at = now  # one reader per period, even if this read fails
        try:
            served: set[str] | None = served_queues(self._node.live_workers())
        except BrokerError as exc:  # no registry here (or the broker is down): say nothing
            log.debug("cannot read the worker registry: %s", exc)
            served = None
        with self._lock:
            self._served = served
        return served

    def applied(self, name: str, queue: str) -> None:
        """After an apply: warn once per queue if no live minion serves it."""
        if queue in self._warned:  # the common case costs a set lookup
            return
        served = self.served()
        if served is None or queue in served:
            return
        with self._lock:
            if queue in self._warned:
                return
            self._warned.add(queue)
        log.warning(
            "task %r was applied to queue %r, which no live minion serves: it waits there "
            "until one starts (arbiter minion APP --queue %s)",
            name,
            queue,
            queue,
        )

    def waiting(self, count: int, queues: Iterable[str]) -> bool:
        """During a wait: warn about the queues among ``queues`` that no live minion serves.

        Returns whether it warned (a wait warns at most once).
        """
        served = self.served()
        if served is None:
            return False
        idle = sorted(set(queues) - served)
        if not idle:
            return False
        log.warning(
            "waiting for %d task(s) queued on %s, which no live minion serves: they will "
            "not finish until one starts (arbiter minion APP --queue %s)",
            count,
            ", ".join(repr(queue) for queue in idle),
            idle[0],
        )
        return True
