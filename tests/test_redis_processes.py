"""The Minion/Arbiter flow on a real Redis, with every minion in a process of its own.

The in-thread suite (``tests/distributed``) shows the semantics; this shows they hold
across processes: results, status and the worker registry go through the server,
two minions compete for one queue, and SIGTERM stops a minion process gracefully.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from minion_process import (
    STATUS_SCRIPT,
    Minions,
    clean_environment,
    registered_pids,
    wait_registered,
)
from support import wait_until

from arbiter import Arbiter

pytestmark = pytest.mark.real_broker

WAIT = 30.0
"""Seconds any wait for tasks may take before the test fails."""


@pytest.fixture
def minions(tmp_path: Path) -> Iterator[Minions]:
    fleet = Minions(tmp_path)
    yield fleet
    fleet.kill_all()


@pytest.fixture
def arbiter(redis_url: str, redis_namespace: str) -> Iterator[Arbiter]:
    with Arbiter(redis_url, namespace=redis_namespace) as client:
        yield client


def test_apply_wait_and_status_across_processes(
    arbiter: Arbiter, minions: Minions, redis_url: str, redis_namespace: str
) -> None:
    minion = minions.start(redis_url, redis_namespace, workers=3)
    ids = arbiter.apply("add", tasks_count=5, task_args=[1, 2])  # queued before it is up
    assert len(set(ids)) == 5

    finished = list(arbiter.wait_for_tasks(ids, timeout=WAIT))

    assert sorted(m["id"] for m in finished) == sorted(ids)
    assert {(m["state"], m["result"]) for m in finished} == {("succeeded", 3)}
    status = arbiter.status(ids[0])
    assert status["result"] == 3
    assert status["worker"].split(":")[1] == str(minion.pid)  # host:pid:suffix
    assert json.loads(json.dumps(status)) == status


def test_two_minion_processes_compete_and_each_task_runs_once(
    arbiter: Arbiter, minions: Minions, redis_url: str, redis_namespace: str
) -> None:
    first = minions.start(redis_url, redis_namespace, workers=2)
    second = minions.start(redis_url, redis_namespace, workers=2)
    wait_registered(arbiter.node, first, second)
    assert arbiter.workers()["default"] == {
        "workers": 2,
        "total": 4,
        "active": 0,
        "available": 4,
        "signing": 0,
    }

    # 40 tasks of 50 ms on 4 slots: one minion alone holds at most 2 at a time.
    ids = [arbiter.apply("work", task_args=[f"t{i}", 0.05])[0] for i in range(40)]
    finished = list(arbiter.wait_for_tasks(ids, timeout=WAIT))

    assert sorted(m["id"] for m in finished) == sorted(ids)
    assert all(m["state"] == "succeeded" for m in finished)
    runs = minions.all_executions()
    assert sorted(runs) == sorted(f"t{i}" for i in range(40))
    assert all(len(pids) == 1 for pids in runs.values()), "a task ran twice"
    assert {pids[0] for pids in runs.values()} == {first.pid, second.pid}, "one minion idled"
    assert {m["result"] for m in finished} == {first.pid, second.pid}


def test_status_read_from_a_third_process(
    arbiter: Arbiter, minions: Minions, redis_url: str, redis_namespace: str, tmp_path: Path
) -> None:
    minions.start(redis_url, redis_namespace, workers=1)
    [task_id] = arbiter.apply("add", task_args=[20, 22])
    [message] = arbiter.wait_for_tasks([task_id], timeout=WAIT)
    script = tmp_path / "read_status.py"
    script.write_text(STATUS_SCRIPT)

    reader = subprocess.run(
        [sys.executable, str(script), redis_url, redis_namespace, task_id],
        capture_output=True,
        text=True,
        timeout=WAIT,
        env=clean_environment(),
        cwd=tmp_path,
        check=False,
    )

    assert reader.returncode == 0, reader.stderr
    status = json.loads(reader.stdout)
    assert status == message == arbiter.status(task_id)
    assert (status["state"], status["result"]) == ("succeeded", 42)


def test_workers_shows_both_minion_processes(
    arbiter: Arbiter, minions: Minions, redis_url: str, redis_namespace: str
) -> None:
    # A short lease: heartbeats (which carry the busy count) every 0.5 s instead of 10 s.
    first = minions.start(redis_url, redis_namespace, workers=2, lease=1.5)
    second = minions.start(redis_url, redis_namespace, workers=3, lease=1.5)
    wait_registered(arbiter.node, first, second)

    assert arbiter.workers() == {
        "default": {"workers": 2, "total": 5, "active": 0, "available": 5, "signing": 0}
    }
    infos = [json.loads(info) for info in arbiter.node.live_workers().values()]
    assert sorted((i["pid"], i["slots"]) for i in infos) == sorted(
        [(first.pid, 2), (second.pid, 3)]
    )
    assert all(i["queue"] == "default" and "add" in i["tasks"] for i in infos)

    # A busy slot shows as active at the minion's next heartbeat.
    [task_id] = arbiter.apply("work", task_args=["busy", 3.0])
    assert wait_until(lambda: arbiter.workers()["default"]["active"] == 1, WAIT)
    assert arbiter.workers()["default"]["available"] == 4
    [message] = arbiter.wait_for_tasks([task_id], timeout=WAIT)
    assert message["state"] == "succeeded"


def test_sigterm_stops_a_minion_process_gracefully(
    arbiter: Arbiter, minions: Minions, redis_url: str, redis_namespace: str
) -> None:
    minion = minions.start(redis_url, redis_namespace, workers=1, grace=30)
    wait_registered(arbiter.node, minion)
    [in_flight] = arbiter.apply("work", task_args=["inflight", 1.0])
    [behind] = arbiter.apply("work", task_args=["behind"])  # waits for the only slot
    assert wait_until(lambda: bool(minions.executions("inflight")), WAIT)

    code = minion.terminate()

    assert code == 0, minion.output()
    assert f"STOPPED {minion.pid}" in minion.output()
    status = arbiter.status(in_flight)
    assert status["state"] == "succeeded", status  # finished within the grace period
    assert status["result"] == minion.pid
    # It stopped pulling: the task behind stays queued for the next minion.
    assert minions.executions("behind") == []
    assert arbiter.status(behind)["state"] == "queued"
    assert arbiter.node.queue_size("default") == 1
    # It left the registry on its way out, without waiting for its heartbeat to expire.
    assert minion.pid not in registered_pids(arbiter.node)
    assert arbiter.workers().get("default", {}).get("workers", 0) == 0

    successor = minions.start(redis_url, redis_namespace, workers=1)
    [message] = arbiter.wait_for_tasks([behind], timeout=WAIT)
    assert (message["state"], message["result"]) == ("succeeded", successor.pid)
