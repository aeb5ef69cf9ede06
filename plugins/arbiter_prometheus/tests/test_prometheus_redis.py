"""A minion process on a throwaway Redis, started as a user starts one, scraped over HTTP.

The process loads the plugin through its entry point as any minion does: nothing in
the app mentions it. Marked ``real_broker``: without redis-server this fails under
``ARBITER_REQUIRE_REAL_BROKERS=1``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_support import free_port, sample, scrape_until, serving, wait_until

from arbiter import Arbiter

pytestmark = pytest.mark.real_broker

APP = """
import sys
from arbiter import Minion

app = Minion(queue="metrics")  # broker and namespace from ARBITER_*


@app.task(name="add")
def add(x, y):
    return x + y


@app.task(name="fail", retries=1, delay=0)
def fail():
    raise RuntimeError("always")


if __name__ == "__main__":
    app.run(workers=2, grace=5)
"""


@pytest.fixture
def minion(throwaway_redis: str, tmp_path: Path) -> Iterator[tuple[int, str]]:
    """``(metrics port, namespace)`` of a minion process serving queue ``metrics``."""
    port, namespace = free_port(), f"prom-{uuid.uuid4().hex[:8]}"
    (tmp_path / "app.py").write_text(APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARBITER_")}
    env.update(
        ARBITER_BROKER_URL=throwaway_redis,
        ARBITER_NAMESPACE=namespace,
        ARBITER_PROMETHEUS_PORT=str(port),
    )
    log = (tmp_path / "minion.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "app.py"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    try:
        started = wait_until(lambda: serving(port) or process.poll() is not None)
        assert started and process.poll() is None, (tmp_path / "minion.log").read_text()
        yield port, namespace
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)


def test_a_redis_minion_serves_counts_depth_and_workers(
    minion: tuple[int, str], throwaway_redis: str
) -> None:
    port, namespace = minion
    with Arbiter(throwaway_redis, namespace=namespace) as arbiter:
        ids = arbiter.apply("add", 4, [2, 3], queue="metrics")
        ids += arbiter.apply("fail", 1, queue="metrics")
        states = sorted(s["state"] for s in arbiter.wait_for_tasks(ids, timeout=30))
    assert states == ["failed", "succeeded", "succeeded", "succeeded", "succeeded"]
    labels = {"queue": "metrics"}
    samples = scrape_until(
        port,
        lambda s: (
            sample(s, "arbiter_tasks_total", **labels, task="add", outcome="succeeded") == 4
            and sample(s, "arbiter_tasks_total", **labels, task="fail", outcome="failed") == 1
            # a waiter may wake before the last ack: the depth reaches 0 just after
            and sample(s, "arbiter_queue_depth", namespace=namespace, queue="metrics") == 0
        ),
    )
    assert sample(samples, "arbiter_tasks_total", **labels, task="add", outcome="succeeded") == 4
    assert sample(samples, "arbiter_tasks_total", **labels, task="fail", outcome="failed") == 1
    assert sample(samples, "arbiter_task_retries_total", **labels, task="fail") == 1
    assert sample(samples, "arbiter_task_duration_seconds_count", **labels, task="add") == 4
    # applied by this test's process, not the minion's: the minion counts no submission
    assert sample(samples, "arbiter_tasks_submitted_total", **labels, task="add") is None
    assert sample(samples, "arbiter_queue_depth", namespace=namespace, queue="metrics") == 0
    assert sample(samples, "arbiter_live_workers", namespace=namespace) == 1
    assert sample(samples, "arbiter_broker_up", namespace=namespace) == 1
