"""Priorities on a real Redis with two minion processes busy on a low-priority flood.

Each run leaves a file named after its label and the wall clock in ns (one machine, so
one clock), so the order is read from the file system, not from the broker under test.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from minion_process import MinionProcess, wait_registered
from support import wait_until

from arbiter import Arbiter

pytestmark = pytest.mark.real_broker

FLOOD = 400
URGENT = 5

APP = r"""
import os
import sys
import time
from pathlib import Path

from arbiter import Minion

MARKS = Path(os.environ["ARBITER_TEST_MARKS"])
app = Minion(queue="default")  # broker and namespace from ARBITER_*


@app.task(name="work")
def work(label):
    (MARKS / f"{time.time_ns()}-{label}-{os.getpid()}").touch()
    time.sleep(0.005)


if __name__ == "__main__":
    app.run(workers=int(sys.argv[1]), grace=float(sys.argv[2]))
"""


@pytest.fixture
def fleet(tmp_path: Path, redis_url: str, redis_namespace: str) -> Iterator[list[MinionProcess]]:
    script = tmp_path / "priority_app.py"
    script.write_text(APP)
    marks = tmp_path / "marks"
    marks.mkdir()
    minions = [
        MinionProcess(script, redis_url, redis_namespace, marks, workers=2, name=f"m{i}")
        for i in range(2)
    ]
    yield minions
    for minion in minions:
        minion.kill()


def runs(marks: Path) -> list[str]:
    """Labels in the order the tasks started."""
    return [
        p.name.split("-")[1]
        for p in sorted(marks.iterdir(), key=lambda p: int(p.name.split("-")[0]))
    ]


def test_urgent_tasks_overtake_a_flood_two_minion_processes_are_working_through(
    fleet: list[MinionProcess], redis_url: str, redis_namespace: str, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    with Arbiter(redis_url, namespace=redis_namespace) as arbiter:
        low = arbiter.apply("work", FLOOD, task_args=["low"])
        wait_registered(arbiter.node, *fleet)
        assert wait_until(lambda: len(list(marks.iterdir())) >= 20, 30), "the flood never started"
        urgent = arbiter.apply("work", URGENT, task_args=["urgent"], priority=9)
        done = list(arbiter.wait_for_tasks(urgent, timeout=30))
        assert len(done) == URGENT
        left = arbiter.node.queue_stats("default").ready
        assert left > FLOOD // 4, f"the flood ran out first ({left} left): the test proves nothing"
        started = runs(marks)
        first_urgent = started.index("urgent")
        last_urgent = len(started) - 1 - started[::-1].index("urgent")
        # Four slots, each with at most a message or two leased ahead: the urgent ones
        # start within a handful of tasks, not after the hundreds still queued.
        assert last_urgent - first_urgent < URGENT + 12, started[first_urgent - 5 : last_urgent + 1]
        assert len(list(arbiter.wait_for_tasks(low, timeout=60))) == FLOOD
    time.sleep(0.1)
    assert sorted(runs(marks)) == sorted(["low"] * FLOOD + ["urgent"] * URGENT)
