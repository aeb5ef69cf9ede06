"""A minion on memory:// in a thread, with the plugin as installed (its entry point), scraped.

The installed exporter is one per process, so each test names its tasks and queue
uniquely and reads only its own label values.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_support import free_port, sample, scrape, scrape_until, serving, wait_until

from arbiter import Arbiter, Minion


@pytest.fixture
def port(monkeypatch: pytest.MonkeyPatch) -> int:
    chosen = free_port()
    monkeypatch.setenv("ARBITER_PROMETHEUS_PORT", str(chosen))
    monkeypatch.delenv("ARBITER_PROMETHEUS_ADDR", raising=False)
    return chosen


class Running:
    """A minion serving in a thread, and an Arbiter on its node."""

    def __init__(self, minion: Minion, gate: threading.Event) -> None:
        self.minion = minion
        self.gate = gate  # what the "hold" task waits for
        self._stopped = False
        self.thread = threading.Thread(
            target=minion.run, kwargs={"workers": 1, "handle_signals": False}, daemon=True
        )
        self.arbiter = Arbiter(minion.node)

    def wait(self, ids: list[str]) -> list[dict[str, Any]]:
        return list(self.arbiter.wait_for_tasks(ids, timeout=30))

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.gate.set()
        self.minion.stop()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()
        self.arbiter.close()
        self.minion.close()


@pytest.fixture
def names() -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {k: f"{k}-{tag}" for k in ("queue", "ok", "boom", "flaky", "hold")}


@pytest.fixture
def running(port: int, names: dict[str, str]) -> Iterator[Running]:
    minion = Minion("memory://", queue=names["queue"])
    calls = {"flaky": 0}

    @minion.task(name=names["ok"])
    def ok(x: int) -> int:
        return x

    @minion.task(name=names["boom"], retries=1, delay=0)
    def boom() -> None:
        raise RuntimeError("boom")

    @minion.task(name=names["flaky"], retries=2, delay=0)
    def flaky() -> str:
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise RuntimeError("first attempt fails")
        return "ok"

    gate = threading.Event()

    @minion.task(name=names["hold"])
    def hold() -> None:
        gate.wait(30)

    run = Running(minion, gate)
    run.thread.start()
    assert wait_until(lambda: serving(port)), "the minion never served /metrics"
    try:
        yield run
    finally:
        run.stop()


def test_outcomes_retries_and_durations_are_counted(
    running: Running, port: int, names: dict[str, str]
) -> None:
    queue = names["queue"]
    ids = running.arbiter.apply(names["ok"], 3, [1], queue=queue)
    ids += running.arbiter.apply(names["boom"], queue=queue)
    ids += running.arbiter.apply(names["flaky"], queue=queue)
    states = sorted(status["state"] for status in running.wait(ids))
    assert states == ["failed", "succeeded", "succeeded", "succeeded", "succeeded"]

    labels = {"queue": queue}
    ok, boom, flaky = names["ok"], names["boom"], names["flaky"]
    samples = scrape_until(
        port,
        lambda s: (
            sample(s, "arbiter_tasks_total", **labels, task=ok, outcome="succeeded") == 3
            and sample(s, "arbiter_tasks_total", **labels, task=boom, outcome="failed") == 1
            and sample(s, "arbiter_tasks_total", **labels, task=flaky, outcome="succeeded") == 1
        ),
    )
    got = {
        "ok": sample(samples, "arbiter_tasks_total", **labels, task=ok, outcome="succeeded"),
        "boom": sample(samples, "arbiter_tasks_total", **labels, task=boom, outcome="failed"),
        "flaky": sample(samples, "arbiter_tasks_total", **labels, task=flaky, outcome="succeeded"),
        "retries boom": sample(samples, "arbiter_task_retries_total", **labels, task=boom),
        "retries flaky": sample(samples, "arbiter_task_retries_total", **labels, task=flaky),
        "started boom": sample(samples, "arbiter_tasks_started_total", **labels, task=boom),
        "submitted ok": sample(samples, "arbiter_tasks_submitted_total", **labels, task=ok),
        "durations ok": sample(samples, "arbiter_task_duration_seconds_count", **labels, task=ok),
        "durations boom": sample(
            samples, "arbiter_task_duration_seconds_count", **labels, task=boom
        ),
    }
    assert got == {
        "ok": 3,
        "boom": 1,
        "flaky": 1,
        "retries boom": 1,
        "retries flaky": 1,
        "started boom": 2,
        "submitted ok": 3,
        "durations ok": 3,
        "durations boom": 1,  # the last attempt only: the retry hook carries no duration
    }
    assert sample(samples, "arbiter_tasks_total", **labels, task=boom, outcome="succeeded") is None


def test_queue_depth_and_live_workers_are_read_at_scrape_time(
    running: Running, port: int, names: dict[str, str]
) -> None:
    queue = names["queue"]
    held = running.arbiter.apply(names["hold"], queue=queue)
    waiting = running.arbiter.apply(names["ok"], 2, [1], queue=queue)
    assert wait_until(lambda: running.arbiter.status(held[0])["state"] == "running", timeout=10)
    samples = scrape(port)
    # one slot: the held task is leased, the two behind it wait; all three are in the queue
    assert sample(samples, "arbiter_queue_depth", namespace="arbiter", queue=queue) == 3
    assert sample(samples, "arbiter_live_workers", namespace="arbiter") == 1
    assert sample(samples, "arbiter_broker_up", namespace="arbiter") == 1
    running.gate.set()
    running.wait(held + waiting)
    depth = sample(
        scrape_until(
            port, lambda s: sample(s, "arbiter_queue_depth", namespace="arbiter", queue=queue) == 0
        ),
        "arbiter_queue_depth",
        namespace="arbiter",
        queue=queue,
    )
    assert depth == 0


def test_the_endpoint_closes_when_the_minion_stops(running: Running, port: int) -> None:
    assert serving(port)
    running.stop()
    assert not serving(port)
