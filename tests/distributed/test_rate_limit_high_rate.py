"""A global rate limit of 200/s held by two minion processes on a real Redis, over 5 s.

Each start leaves a file named after the time it began, so the rate is counted on the
file system, not read from the broker under test. At 200 starts a second each start is
a reservation and a push back, then a pull and a run: this shows the limit still
spaces the starts when the minions are busy doing little else than keeping it.
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

RATE = 200
WINDOW = 5.0
BACKLOG = 1400  # more than the window holds: the rate, not the backlog, ends the count

HIGH_RATE_APP = r'''
import os
import sys
import time
from pathlib import Path

from arbiter import Minion

MARKS = Path(os.environ["ARBITER_TEST_MARKS"])
app = Minion(queue="default")  # broker, namespace and lease from ARBITER_*


@app.task(name="limited", rate_limit="200/s")
def limited(i):
    """One file per start: when it began, and the process that ran it."""
    (MARKS / f"limited-{time.time_ns()}-{os.getpid()}").touch()


if __name__ == "__main__":
    app.run(workers=int(sys.argv[1]), grace=float(sys.argv[2]))
'''


@pytest.fixture
def fleet(tmp_path: Path, redis_url: str, redis_namespace: str) -> Iterator[list[MinionProcess]]:
    script = tmp_path / "high_rate_app.py"
    script.write_text(HIGH_RATE_APP)
    marks = tmp_path / "marks"
    marks.mkdir()
    minions = [
        MinionProcess(script, redis_url, redis_namespace, marks, workers=4, name=f"m{i}")
        for i in range(2)
    ]
    yield minions
    for minion in minions:
        minion.kill()


def starts(marks: Path) -> list[tuple[float, int]]:
    """(start time, pid) of every run of ``limited``, in time order."""
    found = []
    for path in marks.glob("limited-*"):
        _, nanos, pid = path.name.split("-")
        found.append((int(nanos) / 1e9, int(pid)))
    return sorted(found)


def test_two_hundred_a_second_across_two_processes_holds_within_ten_percent(
    fleet: list[MinionProcess], redis_url: str, redis_namespace: str, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    with Arbiter(redis_url, namespace=redis_namespace) as arbiter:
        wait_registered(arbiter.node, *fleet)
        arbiter.apply("limited", tasks_count=BACKLOG, task_args=[1])
        assert wait_until(lambda: bool(starts(marks)), 10)
        first = starts(marks)[0][0]
        time.sleep(max(0.0, first + WINDOW + 1.0 - time.time()))
        found = starts(marks)
    in_window = [at for at, _ in found if at < first + WINDOW]
    per_second = [sum(1 for at in in_window if first + s <= at < first + s + 1) for s in range(5)]
    pids = {pid for _, pid in found}
    print(
        f"\n{len(in_window)} starts in {WINDOW:g}s = {len(in_window) / WINDOW:.1f}/s "
        f"(limit {RATE}/s), per second {per_second}, by {len(pids)} processes"
    )
    assert abs(len(in_window) - RATE * WINDOW) <= 0.1 * RATE * WINDOW, len(in_window)
    assert len(pids) == 2, "both processes ran some: the limit is shared, not per process"
    assert len(found) < BACKLOG, "the backlog outlasted the window"
