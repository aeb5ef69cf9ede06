"""A global rate limit held by minion processes on a real Redis: 20/s by three over 10 s,
and 200/s by two over 5 s.

Each start leaves a file named after the time it began (see :data:`RATE_APP`), so
the rate is counted on the file system, not read from the broker under test. An
unlimited task applied while the limited backlog waits shows the waiting tasks
hold no worker slot. At 200 starts a second each start is a reservation and a push
back, then a pull and a run: the limit still spaces the starts when the minions do
little else than keep it.
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


@app.task(name="limited", rate_limit=os.environ.get("TEST_RATE_LIMIT", "20/s"))
def limited(i):
    """One file per start: when it began, and the process that ran it."""
    (MARKS / f"limited-{time.time_ns()}-{os.getpid()}").touch()


@app.task(name="free")
def free():
    return time.time()


if __name__ == "__main__":
    app.run(workers=int(sys.argv[1]), grace=float(sys.argv[2]))
'''


def launch(tmp_path: Path, redis_url: str, redis_namespace: str, count: int) -> list[MinionProcess]:
    """``count`` minion processes of :data:`RATE_APP` (4 workers each), marks in tmp/marks."""
    script = tmp_path / "rate_app.py"
    script.write_text(RATE_APP)
    marks = tmp_path / "marks"
    marks.mkdir()
    return [
        MinionProcess(script, redis_url, redis_namespace, marks, workers=4, name=f"m{i}")
        for i in range(count)
    ]


@pytest.fixture
def fleet(tmp_path: Path, redis_url: str, redis_namespace: str) -> Iterator[list[MinionProcess]]:
    minions = launch(tmp_path, redis_url, redis_namespace, 3)
    yield minions
    for minion in minions:
        minion.kill()


def shared_rate_held(
    found: list[tuple[float, int]],
    first: float,
    rate: int,
    window: float,
    processes: int,
    backlog: int,
) -> None:
    """The starts ``found`` (time, pid) in ``window`` seconds from ``first`` are ``rate``
    a second within 10 %, every one of ``processes`` ran some (the limit is shared, not
    per process), and the ``backlog`` outlasted the window (the rate ended the count)."""
    in_window = [at for at, _ in found if at < first + window]
    per_second = [
        sum(1 for at in in_window if first + s <= at < first + s + 1) for s in range(int(window))
    ]
    pids = {pid for _, pid in found}
    print(
        f"\n{len(in_window)} starts in {window:g}s = {len(in_window) / window:.1f}/s "
        f"(limit {rate}/s), per second {per_second}, by {len(pids)} processes"
    )
    assert abs(len(in_window) - rate * window) <= 0.1 * rate * window, len(in_window)
    assert len(pids) == processes, "every process ran some: the limit is shared"
    assert len(found) < backlog, "the backlog outlasted the window"


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
    shared_rate_held(found, first, RATE, WINDOW, 3, BACKLOG)
    print(f"unlimited task latency {latency * 1000:.0f} ms")


def test_two_hundred_a_second_across_two_processes_holds_within_ten_percent(
    redis_url: str, redis_namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rate, window, backlog = 200, 5.0, 1400  # a backlog the window cannot hold
    monkeypatch.setenv("TEST_RATE_LIMIT", f"{rate}/s")  # read by the minion processes
    marks = tmp_path / "marks"
    fleet = launch(tmp_path, redis_url, redis_namespace, 2)
    try:
        with Arbiter(redis_url, namespace=redis_namespace) as arbiter:
            wait_registered(arbiter.node, *fleet)
            arbiter.apply("limited", tasks_count=backlog, task_args=[1])
            assert wait_until(lambda: bool(starts(marks)), 10)
            first = starts(marks)[0][0]
            time.sleep(max(0.0, first + window + 1.0 - time.time()))
            found = starts(marks)
    finally:
        for minion in fleet:
            minion.kill()
    shared_rate_held(found, first, rate, window, 2, backlog)
