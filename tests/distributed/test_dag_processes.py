"""Distributed DAGs on a real Redis with minions, and a starter, in processes of their own.

Each task records every execution as a file (see ``tests/minion_process.py``), so
"no task ran twice" is counted outside the broker under test.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from minion_process import Minions, clean_environment, wait_registered
from support import wait_until

from arbiter import Arbiter, create_task, result_of

pytestmark = pytest.mark.real_broker

WAIT = 60.0
LEASE = 1.5  # a killed minion's messages come back within seconds

STARTER_SCRIPT = r"""
import sys

from arbiter import Arbiter, create_task

url, namespace, dag_id = sys.argv[1:]
tasks = [create_task(f"r{i}", "work", args=(f"r{i}", 0.2)) for i in range(8)]
tasks += [
    create_task(f"m{i}", "work", args=(f"m{i}", 0.2), dependencies=[f"r{i}"]) for i in range(8)
]
tasks.append(create_task("fan", "work", args=("fan",), dependencies=[f"m{i}" for i in range(8)]))
with Arbiter(url, namespace=namespace) as arbiter:
    print("STARTING", flush=True)
    arbiter.run_tasks(tasks, dag_id=dag_id)
    print("FINISHED", flush=True)
"""


@pytest.fixture
def minions(tmp_path: Path) -> Iterator[Minions]:
    fleet = Minions(tmp_path)
    yield fleet
    fleet.kill_all()


@pytest.fixture
def arbiter(redis_url: str, redis_namespace: str) -> Iterator[Arbiter]:
    with Arbiter(redis_url, namespace=redis_namespace) as client:
        yield client


def first_run_ns(minions: Minions, tag: str) -> list[int]:
    return sorted(int(p.name.split("-")[3]) for p in minions.marks.glob(f"exec-{tag}-*"))


def test_a_minion_killed_mid_dag_and_the_dag_completes(
    arbiter: Arbiter, minions: Minions, redis_url: str, redis_namespace: str
) -> None:
    doomed = minions.start(redis_url, redis_namespace, workers=2, lease=LEASE)
    wait_registered(arbiter.node, doomed)
    tasks = [create_task(f"r{i}", "work", args=(f"r{i}", 0.3)) for i in range(6)]
    tasks += [create_task(f"s{i}", "add", args=(i, 1), dependencies=[f"r{i}"]) for i in range(6)]
    tasks.append(
        create_task("fan", "work", args=("fan",), dependencies=[f"s{i}" for i in range(6)])
    )
    tasks.append(create_task("sum", "add", args=(result_of("s0"), result_of("s5"))))
    import threading

    box: dict[str, object] = {}
    runner = threading.Thread(
        target=lambda: box.update(results=arbiter.run_tasks(tasks, timeout=WAIT)), daemon=True
    )
    runner.start()
    assert wait_until(lambda: len(list(minions.marks.glob("exec-r*"))) >= 2, WAIT)
    doomed.kill()  # kill -9 with two root tasks in its hands
    minions.start(redis_url, redis_namespace, workers=2, lease=LEASE)
    runner.join(WAIT + 10)
    results = box["results"]
    assert isinstance(results, dict) and all(r.success for r in results.values()), results
    assert results["sum"].value == 1 + 6
    assert len(minions.executions("fan")) == 1


def test_the_starter_killed_mid_dag_and_resumed_from_another_process(
    arbiter: Arbiter, minions: Minions, redis_url: str, redis_namespace: str, tmp_path: Path
) -> None:
    minions.start(redis_url, redis_namespace, workers=2, lease=LEASE)
    script = tmp_path / "starter.py"
    script.write_text(STARTER_SCRIPT)
    starter = subprocess.Popen(
        [sys.executable, str(script), redis_url, redis_namespace, "dag-starter-killed"],
        env=clean_environment(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_until(lambda: len(list(minions.marks.glob("exec-r*"))) >= 2, WAIT)
        starter.kill()  # kill -9 of the process that started the DAG, mid-DAG
        starter.wait(WAIT)
    finally:
        if starter.poll() is None:
            starter.kill()
    assert "FINISHED" not in (starter.stdout.read() if starter.stdout else "")

    results = arbiter.resume("dag-starter-killed", timeout=WAIT)  # this process is not the starter

    assert len(results) == 17 and all(r.success for r in results.values())
    runs = minions.all_executions()
    assert sorted(runs) == sorted(
        [*(f"r{i}" for i in range(8)), *(f"m{i}" for i in range(8)), "fan"]
    )
    assert all(len(pids) == 1 for pids in runs.values()), f"a task ran twice: {runs}"
    status = arbiter.status("dag-starter-killed")
    assert status["state"] == "succeeded" and status["succeeded"] == 17


def test_a_1000_way_fan_in_runs_once_with_a_minion_killed(
    arbiter: Arbiter, minions: Minions, redis_url: str, redis_namespace: str
) -> None:
    first = minions.start(redis_url, redis_namespace, workers=2, lease=LEASE)
    second = minions.start(redis_url, redis_namespace, workers=2, lease=LEASE)
    wait_registered(arbiter.node, first, second)
    deps = [create_task(f"d{i}", "work", args=(f"d{i}",)) for i in range(1000)]
    fan = create_task("fan", "work", args=("fan",), dependencies=[d.name for d in deps])
    import threading

    box: dict[str, object] = {}
    runner = threading.Thread(
        target=lambda: box.update(results=arbiter.run_tasks([*deps, fan], timeout=120)),
        daemon=True,
    )
    runner.start()
    assert wait_until(lambda: len(list(minions.marks.glob("exec-d*"))) >= 300, WAIT)
    second.kill()  # kill -9 in the middle of the fan-in's dependencies
    runner.join(130)
    results = box["results"]
    assert isinstance(results, dict) and all(r.success for r in results.values())
    assert len(minions.executions("fan")) == 1, "the fan-in ran more than once"
    fan_at = first_run_ns(minions, "fan")[0]
    assert all(first_run_ns(minions, f"d{i}")[0] < fan_at for i in range(1000))


def test_a_600_member_group_fires_its_callback_and_finalizer_once_with_a_minion_killed(
    arbiter: Arbiter, minions: Minions, redis_url: str, redis_namespace: str
) -> None:
    """Groups are graphs on the same engine: the callback's and the finalizer's fan-ins
    fire once each though the members end on two minions and one is killed -9 among them."""
    from arbiter import TaskCall

    first = minions.start(redis_url, redis_namespace, workers=2, lease=LEASE)
    second = minions.start(redis_url, redis_namespace, workers=2, lease=LEASE)
    wait_registered(arbiter.node, first, second)
    plan = arbiter.group(
        [TaskCall("work", (f"g{i}",)) for i in range(600)],
        callback=TaskCall("collect", ("cb",)),
        finalizer=TaskCall("work", ("fin",)),
    )
    assert wait_until(lambda: len(list(minions.marks.glob("exec-g*"))) >= 200, WAIT)
    second.kill()  # kill -9 in the middle of the members
    statuses = {s["id"]: s for s in arbiter.wait_for_tasks(plan.all_ids, timeout=120)}
    assert {statuses[m]["state"] for m in plan.members} == {"succeeded"}
    assert statuses[plan.callback]["result"] == 600
    assert len(minions.executions("cb")) == 1, "the callback ran more than once"
    assert len(minions.executions("fin")) == 1, "the finalizer ran more than once"
    callback_at, finalizer_at = first_run_ns(minions, "cb")[0], first_run_ns(minions, "fin")[0]
    assert all(first_run_ns(minions, f"g{i}")[0] < callback_at for i in range(600))
    assert callback_at < finalizer_at, "the finalizer waits for the callback's end"
