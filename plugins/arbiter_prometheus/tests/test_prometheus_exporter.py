"""The exporter on its own: hooks called through a registry of the test's own, the endpoint's
configuration and lifetime (refcounted across minions), and what a scrape reads."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_support import free_port, sample, scrape, serving

from arbiter_core.node import EventNode
from arbiter_core.plugins import PluginRegistry, default_registry
from arbiter_core.settings import Settings


def exporter(**environ: str) -> Any:
    from arbiter_prometheus import PrometheusExporter

    return PrometheusExporter(environ=environ)


@pytest.fixture
def node() -> Iterator[EventNode]:
    created = default_registry().create_node("memory://", Settings())
    yield created
    created.close()


def parsed(registry: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
    }


def test_the_hooks_count_through_a_plugin_registry() -> None:
    plugin = exporter(ARBITER_PROMETHEUS_PORT="0")
    registry = PluginRegistry(entry_points=[])
    registry.register(plugin, "prometheus-test")
    common = {"name": "add", "queue": "q"}
    registry.notify("arbiter_task_submitted", task_id="1", eta=None, **common)
    registry.notify("arbiter_task_started", task_id="1", attempt=1, worker_id="w", **common)
    error = RuntimeError("x")
    registry.notify(
        "arbiter_task_retried", task_id="1", attempt=1, error=error, delay=0.0, **common
    )
    registry.notify(
        "arbiter_task_succeeded", task_id="1", attempt=2, value=3, duration=0.2, **common
    )
    registry.notify(
        "arbiter_task_failed", task_id="2", attempt=1, error=error, duration=7.0, **common
    )
    registry.notify("arbiter_task_cancelled", task_id="3", reason="killed", **common)
    registry.notify("arbiter_task_dead_lettered", task_id="4", reason="spent", **common)
    registry.notify("arbiter_task_expired", task_id="5", expires=1.0, **common)
    samples = parsed(plugin.registry)
    labels = {"queue": "q", "task": "add"}
    assert sample(samples, "arbiter_tasks_submitted_total", **labels) == 1
    assert sample(samples, "arbiter_tasks_started_total", **labels) == 1
    assert sample(samples, "arbiter_task_retries_total", **labels) == 1
    for outcome in ("succeeded", "failed", "cancelled", "expired", "dead"):
        assert sample(samples, "arbiter_tasks_total", **labels, outcome=outcome) == 1
    assert sample(samples, "arbiter_task_duration_seconds_count", **labels) == 2
    assert sample(samples, "arbiter_task_duration_seconds_sum", **labels) == pytest.approx(7.2)
    assert sample(samples, "arbiter_task_duration_seconds_bucket", **labels, le="0.25") == 1


def test_two_exporters_keep_their_own_numbers() -> None:
    first, second = exporter(ARBITER_PROMETHEUS_PORT="0"), exporter(ARBITER_PROMETHEUS_PORT="0")
    first.arbiter_task_started(name="t", queue="q")
    assert sample(parsed(first.registry), "arbiter_tasks_started_total", queue="q", task="t") == 1
    assert (
        sample(parsed(second.registry), "arbiter_tasks_started_total", queue="q", task="t") is None
    )


def test_the_endpoint_lives_while_any_minion_of_the_process_runs(node: EventNode) -> None:
    port = free_port()
    plugin = exporter(ARBITER_PROMETHEUS_PORT=str(port))
    settings = Settings(namespace="ns")
    plugin.arbiter_minion_started(worker_id="a", queue="q1", node=node, settings=settings)
    plugin.arbiter_minion_started(worker_id="b", queue="q2", node=node, settings=settings)
    assert plugin.server.address == ("127.0.0.1", port)
    node.push("q2", b"x")
    samples = scrape(port)
    assert sample(samples, "arbiter_queue_depth", namespace="ns", queue="q1") == 0
    assert sample(samples, "arbiter_queue_depth", namespace="ns", queue="q2") == 1
    assert sample(samples, "arbiter_live_workers", namespace="ns") == 0  # no heartbeat here
    plugin.arbiter_minion_stopped(worker_id="a")
    assert serving(port)
    assert sample(scrape(port), "arbiter_queue_depth", namespace="ns", queue="q1") is None
    plugin.arbiter_minion_stopped(worker_id="a")  # twice: ignored, b still holds it
    assert serving(port)
    plugin.arbiter_minion_stopped(worker_id="b")
    assert not serving(port)
    assert plugin.server.address is None


def test_port_zero_serves_nothing(node: EventNode) -> None:
    plugin = exporter(ARBITER_PROMETHEUS_PORT="0")
    plugin.arbiter_minion_started(worker_id="a", queue="q", node=node, settings=Settings())
    assert plugin.server.address is None
    plugin.arbiter_minion_stopped(worker_id="a")


def test_a_port_in_use_is_a_warning_not_a_failure(
    node: EventNode, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        plugin = exporter(ARBITER_PROMETHEUS_PORT=str(port))
        with caplog.at_level(logging.WARNING, logger="arbiter.prometheus"):
            plugin.arbiter_minion_started(worker_id="a", queue="q", node=node, settings=Settings())
        assert plugin.server.address is None
        assert f"cannot listen on 127.0.0.1:{port}" in caplog.text
        assert "ARBITER_PROMETHEUS_PORT" in caplog.text
        plugin.arbiter_minion_stopped(worker_id="a")


@pytest.mark.parametrize("raw", ["abc", "-1", "70000"])
def test_a_malformed_port_names_the_variable(raw: str) -> None:
    from arbiter_prometheus import ExporterConfig

    with pytest.raises(ValueError, match="ARBITER_PROMETHEUS_PORT"):
        ExporterConfig.from_environ({"ARBITER_PROMETHEUS_PORT": raw})


def test_by_default_no_port_is_opened_and_a_set_one_binds_loopback() -> None:
    """Every process running a minion has the plugin: it must not bind a port unasked."""
    from arbiter_prometheus import ExporterConfig

    config = ExporterConfig.from_environ({})
    assert (config.port, config.enabled) == (0, False)
    config = ExporterConfig.from_environ({"ARBITER_PROMETHEUS_PORT": "9808"})
    assert (config.addr, config.port, config.enabled) == ("127.0.0.1", 9808, True)
