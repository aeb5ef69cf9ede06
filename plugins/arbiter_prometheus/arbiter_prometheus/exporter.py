"""The plugin object: the lifecycle hooks, turned into Prometheus metrics.

Built only on arbiter's observer hooks (``arbiter_core/plugins/hookspecs.py``):
the ``arbiter_task_*`` hooks count, and ``arbiter_minion_started`` /
``arbiter_minion_stopped`` tell which broker and queue to read at scrape time and
hold the ``/metrics`` endpoint open while a minion runs. Each exporter has its own
:class:`~prometheus_client.CollectorRegistry`, never the global default one, so
two exporters (two tests, say) never see each other's numbers.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry

from arbiter_core.node import EventNode
from arbiter_core.plugins import hookimpl
from arbiter_core.settings import Settings
from arbiter_prometheus.broker_collector import BrokerCollector, Served
from arbiter_prometheus.server import MetricsServer
from arbiter_prometheus.task_metrics import TaskMetrics


class PrometheusExporter:
    """Counts task outcomes, retries and durations; serves them with queue depths and workers.

    ``environ`` is where the endpoint's configuration is read (``os.environ`` when
    None), when the first minion of the process starts.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.metrics = TaskMetrics(self.registry)
        self.brokers = BrokerCollector()
        self.registry.register(self.brokers)
        self.server = MetricsServer(self.registry, environ)

    # --- the task's life: runs on the task's thread, so a label lookup and an increment
    @hookimpl
    def arbiter_task_submitted(self, name: str, queue: str) -> None:
        self.metrics.submitted.labels(queue, name).inc()

    @hookimpl
    def arbiter_task_started(self, name: str, queue: str) -> None:
        self.metrics.started.labels(queue, name).inc()

    @hookimpl
    def arbiter_task_retried(self, name: str, queue: str) -> None:
        self.metrics.retries.labels(queue, name).inc()

    @hookimpl
    def arbiter_task_succeeded(self, name: str, queue: str, duration: float) -> None:
        self.metrics.finished.labels(queue, name, "succeeded").inc()
        self.metrics.duration.labels(queue, name).observe(duration)

    @hookimpl
    def arbiter_task_failed(self, name: str, queue: str, duration: float) -> None:
        self.metrics.finished.labels(queue, name, "failed").inc()
        self.metrics.duration.labels(queue, name).observe(duration)

    @hookimpl
    def arbiter_task_cancelled(self, name: str, queue: str) -> None:
        self.metrics.finished.labels(queue, name, "cancelled").inc()

    @hookimpl
    def arbiter_task_expired(self, name: str, queue: str) -> None:
        self.metrics.finished.labels(queue, name, "expired").inc()

    @hookimpl
    def arbiter_task_dead_lettered(self, name: str, queue: str) -> None:
        self.metrics.finished.labels(queue, name, "dead").inc()

    # --- a minion's run: what to read at scrape time, and the endpoint's lifetime
    @hookimpl
    def arbiter_minion_started(
        self, worker_id: str, queue: str, node: EventNode, settings: Settings
    ) -> None:
        self.brokers.add(worker_id, Served(node, settings.namespace, queue))
        self.server.acquire(worker_id)

    @hookimpl
    def arbiter_minion_stopped(self, worker_id: str) -> None:
        self.brokers.remove(worker_id)
        self.server.release(worker_id)
