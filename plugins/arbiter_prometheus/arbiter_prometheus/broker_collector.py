"""Queue depths and live workers, read from the broker when Prometheus scrapes.

Nothing is read between scrapes, and a scrape reads each (namespace, queue) served
by a minion of this process once (``node.queue_size``) and each namespace's worker
registry once (``node.live_workers``). Two minions on the same namespace and queue
share one reading. A broker that cannot be read makes ``arbiter_broker_up`` 0 for
its namespace and leaves out its other samples; the scrape itself still succeeds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from arbiter_core.errors import BrokerError
from arbiter_core.node import EventNode

log = logging.getLogger("arbiter.prometheus")


@dataclass(frozen=True)
class Served:
    """What one running minion serves: its broker's node, namespace and queue."""

    node: EventNode
    namespace: str
    queue: str


class BrokerCollector(Collector):
    """A custom collector: the minions running in this process, read at scrape time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._served: dict[str, Served] = {}  # worker id -> what it serves

    def add(self, worker_id: str, served: Served) -> None:
        with self._lock:
            self._served[worker_id] = served

    def remove(self, worker_id: str) -> None:
        with self._lock:
            self._served.pop(worker_id, None)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The families, without reading the broker (registration calls this)."""
        yield from self._families()

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "arbiter_queue_depth",
                "Messages in the queue not yet acked or dead-lettered: ready, delayed or leased.",
                labels=("namespace", "queue"),
            ),
            GaugeMetricFamily(
                "arbiter_live_workers",
                "Workers whose heartbeat has not expired, in the namespace (every process).",
                labels=("namespace",),
            ),
            GaugeMetricFamily(
                "arbiter_broker_up",
                "1 if the last scrape could read the broker of this namespace, else 0.",
                labels=("namespace",),
            ),
        )

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth, workers, up = self._families()
        with self._lock:
            served = list(self._served.values())
        nodes: dict[str, EventNode] = {}
        queues: dict[tuple[str, str], EventNode] = {}
        for item in served:
            nodes.setdefault(item.namespace, item.node)
            queues.setdefault((item.namespace, item.queue), item.node)
        down: set[str] = set()
        for namespace, node in nodes.items():
            try:
                workers.add_metric([namespace], len(node.live_workers()))
            except BrokerError as exc:
                log.warning("metrics: cannot read the workers of %r: %s", namespace, exc)
                down.add(namespace)
        for (namespace, queue), node in sorted(queues.items()):
            if namespace in down:
                continue
            try:
                depth.add_metric([namespace, queue], node.queue_size(queue))
            except BrokerError as exc:
                log.warning("metrics: cannot read the depth of %r: %s", queue, exc)
                down.add(namespace)
        for namespace in nodes:
            up.add_metric([namespace], 0 if namespace in down else 1)
        yield from (depth, workers, up)
