"""Periodic tasks fired by three minion processes on a real Redis, one of them killed -9.

Each run of the task leaves a file named after its tick (see :data:`PERIODIC_APP`), so
"each tick ran once" is counted on the file system, not read from the broker under
test. Then ``arbiter periodic`` (the real console script) lists what the live minions fire.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import CommandLine
from minion_process import MinionProcess, wait_registered
from support import wait_until

from arbiter import Arbiter

pytestmark = pytest.mark.real_broker

LEASE = 1.5  # a killed minion's message, if it held one, comes back within seconds
WINDOW = 10.0

PERIODIC_APP = r'''
import os
import sys
import time
from pathlib import Path

from arbiter import Minion

MARKS = Path(os.environ["ARBITER_TEST_MARKS"])
app = Minion(queue="default")  # broker, namespace and lease from ARBITER_*


@app.periodic(every=1, name="beat")
def beat(tick):
    """One file per run: the tick it ran for, and the process that ran it."""
    (MARKS / f"tick-{int(tick)}-{os.getpid()}-{time.monotonic_ns()}").touch()


if __name__ == "__main__":
    app.run(workers=int(sys.argv[1]), grace=float(sys.argv[2]))
'''


@pytest.fixture
def fleet(tmp_path: Path, redis_url: str, redis_namespace: str) -> Iterator[list[MinionProcess]]:
    script = tmp_path / "periodic_app.py"
    script.write_text(PERIODIC_APP)
    marks = tmp_path / "marks"
    marks.mkdir()
    minions = [
        MinionProcess(
            script, redis_url, redis_namespace, marks, workers=2, lease=LEASE, name=f"m{i}"
        )
        for i in range(3)
    ]
    yield minions
    for minion in minions:
        minion.kill()


def runs(marks: Path) -> Counter[int]:
    """Tick -> how many times it ran."""
    return Counter(int(path.name.split("-")[1]) for path in marks.glob("tick-*"))


def test_three_processes_fire_each_tick_once_with_one_killed_midway(
    fleet: list[MinionProcess], redis_url: str, redis_namespace: str, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    with Arbiter(redis_url, namespace=redis_namespace) as arbiter:
        wait_registered(arbiter.node, *fleet)
        started = time.time()
        time.sleep(WINDOW / 2)
        fleet[1].kill()  # kill -9, mid-schedule
        time.sleep(started + WINDOW - time.time())
        ended = time.time()
        assert wait_until(lambda: any(tick > ended for tick in runs(marks)), 5)
        counted = runs(marks)
        assert [tick for tick, n in counted.items() if n > 1] == [], "a tick ran twice"
        in_window = sorted(tick for tick in counted if started < tick <= ended)
        print(f"\n{len(in_window)} ticks ran in {WINDOW:g}s across 3 processes, one killed")
        assert abs(len(in_window) - WINDOW) <= 1, in_window
        fired_by = {int(p.name.split("-")[2]) for p in marks.glob("tick-*")}
        assert fired_by <= {minion.pid for minion in fleet}

        listed = json.loads(
            CommandLine(redis_url, redis_namespace, tmp_path)("periodic", "--json").stdout
        )
        table = CommandLine(redis_url, redis_namespace, tmp_path)("periodic").stdout
    [beat] = listed
    assert beat["name"] == "beat" and beat["schedule"] == "every 1s" and beat["minions"] == 2
    assert beat["last_tick"] >= in_window[-1] and beat["next_tick"] > beat["last_tick"]
    assert beat["last_task_id"] == f"periodic:beat:{int(beat['last_tick'])}"
    header, row = table.splitlines()
    assert header.split() == [
        "NAME",
        "SCHEDULE",
        "QUEUE",
        "MISSED",
        "LAST",
        "RUN",
        "NEXT",
        "RUN",
        "MINIONS",
    ]
    assert row.startswith("beat") and "every 1s" in row and row.rstrip().endswith("2")
