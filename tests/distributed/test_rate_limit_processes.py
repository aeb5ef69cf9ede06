"""A global rate limit of 20/s held by three minion processes on a real Redis, over 10 s.

Each start leaves a file named after the time it began (see :data:`RATE_APP`), so
the rate is counted on the file system, not read from the broker under test. An
unlimited task applied while the limited backlog waits shows the waiting tasks
hold no worker slot.
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

RATE = 20
WINDOW = 10.0
BACKLOG = 320  # more than the window holds: the rate, not the backlog, ends the count

RATE_APP = r'''
import os
import sys
import time
from pathlib import Path

from arbiter import Minion

MARKS = Path(os.environ["ARBITER_TEST_MARKS"])
app = Minion(queue="default")  # broker, namespace and lease from ARBITER_*


@app.task(name="limited", rate_limit="20/s")
def limited(i):
    """One file per start: when it began, and the process that ran it."""
    (MARKS / f"limited-{time.time_ns()}-{os.getpid()}").touch()


@app.task(name="free")
def free():
    return time.time()


if __name__ == "__main__":
    app.run(workers=int(sys.argv[1]), grace=float(sys.argv[2]))
'''


@pytest.fixture
def fleet(tmp_path: Path, redis_url: str, redis_namespace: str) -> Iterator[list[MinionProcess]]:
    script = tmp_path / "rate_app.py"
    script.write_text(RATE_APP)
    marks = tmp_path / "marks"
    marks.mkdir()
    minions = [
        MinionProcess(script, redis_url, redis_namespace, marks, workers=4, name=f"m{i}")
        for i in range(3)
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


def test_twenty_a_second_across_three_processes_holds_within_ten_percent(
    fleet: list[MinionProcess], redis_url: str, redis_namespace: str, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    with Arbiter(redis_url, namespace=redis_namespace) as arbiter:
        wait_registered(arbiter.node, *fleet)
        arbiter.apply("limited", tasks_count=BACKLOG, task_args=[1])
        assert wait_until(lambda: bool(starts(marks)), 10)
        first = starts(marks)[0][0]
        time.sleep(WINDOW / 3)
        applied = time.monotonic()
        [urgent] = arbiter.apply("free")
        [status] = arbiter.wait_for_tasks([urgent], timeout=5)
        latency = time.monotonic() - applied
        assert status["state"] == "succeeded"
        assert latency < 1.0, f"the unlimited task took {latency:.3f}s behind the backlog"
        time.sleep(max(0.0, first + WINDOW + 1.0 - time.time()))
        found = starts(marks)
    in_window = [at for at, _ in found if at < first + WINDOW]
    pids = {pid for _, pid in found}
    rate = len(in_window) / WINDOW
    print(
        f"\n{len(in_window)} starts in {WINDOW:g}s = {rate:.1f}/s (limit {RATE}/s), "
        f"by {len(pids)} processes; unlimited task latency {latency * 1000:.0f} ms"
    )
    assert abs(len(in_window) - RATE * WINDOW) <= 0.1 * RATE * WINDOW, len(in_window)
    assert len(pids) == 3, "every process ran some: the limit is shared, not per process"
    assert len(found) < BACKLOG, "the backlog outlasted the window"
