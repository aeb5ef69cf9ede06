"""The entry point's target: the process's one exporter.

``[project.entry-points.arbiter] prometheus = "arbiter_prometheus.plugin:exporter"``
names this object. A process has one port to serve ``/metrics`` on, so it has one
exporter, loaded once by arbiter's plugin registry and shared by every minion the
process runs (the endpoint is refcounted, see :mod:`arbiter_prometheus.server`).
Code that wants numbers of its own (a test) builds a
:class:`~arbiter_prometheus.PrometheusExporter` and registers it on a
``PluginRegistry`` of its own instead.
"""

from __future__ import annotations

from arbiter_prometheus.exporter import PrometheusExporter

exporter = PrometheusExporter()
