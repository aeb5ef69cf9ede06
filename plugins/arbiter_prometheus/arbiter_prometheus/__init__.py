"""Prometheus metrics for arbiter: a plugin found through the ``arbiter`` entry-point group.

Install it next to arbiter and every minion counts; with ``ARBITER_PROMETHEUS_PORT``
set (9808 is the usual port), it serves ``/metrics`` there, on loopback unless
``ARBITER_PROMETHEUS_ADDR`` says otherwise. See the README for the metrics and labels.
"""

from arbiter_prometheus.config import ExporterConfig
from arbiter_prometheus.exporter import PrometheusExporter

__all__ = ["ExporterConfig", "PrometheusExporter"]
