"""Prometheus metrics for arbiter: a plugin found through the ``arbiter`` entry-point group.

Install it next to arbiter and every minion serves ``/metrics`` on
``127.0.0.1:9808`` (``ARBITER_PROMETHEUS_PORT``, ``ARBITER_PROMETHEUS_ADDR``);
see the README for the metrics and their labels.
"""

from arbiter_prometheus.config import ExporterConfig
from arbiter_prometheus.exporter import PrometheusExporter

__all__ = ["ExporterConfig", "PrometheusExporter"]
