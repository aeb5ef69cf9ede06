"""A minion process killed (SIGKILL) between reserving a rate slot and putting its task
back, on a real Redis: the task is redelivered after its lease, reserves again on
another minion, and runs exactly once; the slot it held goes unused.

The crash is deterministic: the app (:data:`CRASH_APP`) kills its own process at the
first send-back while the file ``crash-on-send-back`` exists (the first of the two
minions to take it away dies), just after the slot was reserved and before the push.
The other minion runs all along, so the victim waits for its lease, not for a process
to start. Each start leaves a file named after its time, task and process. Each minion
has one slot, so the victim is all the doomed one holds when it dies: with two, a task
that had just started on its other lane was run again elsewhere (rightly: a kill -9
mid-task), and "each ran exactly once" failed about one run in five.
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

LEASE = 1.0
INTERVAL = 0.2  # "5/s"
TASKS = 6

CRASH_APP = r'''
import os
import signal
import sys
import time
from pathlib import Path

from arbiter import Minion
from arbiter_core.minion.rate_gate import RateGate

MARKS = Path(os.environ["ARBITER_TEST_MARKS"])
CRASH = MARKS / "crash-on-send-back"
app = Minion(queue="default")  # broker, namespace and lease from ARBITER_*
send_back = RateGate._send_back


def crash_on_the_first_send_back(gate, delivery, envelope, due, slot):
    """The slot is reserved; die before the task goes back (once, for this process)."""
    try:
        CRASH.unlink()
    except FileNotFoundError:
        return send_back(gate, delivery, envelope, due, slot)
    (MARKS / f"crashed-{time.time_ns()}-{envelope.args[0]}-{round(due * 1e6)}").touch()
    os.kill(os.getpid(), signal.SIGKILL)


RateGate._send_back = crash_on_the_first_send_back


@app.task(name="metered", rate_limit="5/s")
def metered(i):
    (MARKS / f"start-{time.time_ns()}-{i}-{os.getpid()}").touch()
    return i


if __name__ == "__main__":
    app.run(workers=int(sys.argv[1]), grace=float(sys.argv[2]))
'''


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[Path, Path, list[MinionProcess]]]:
    script = tmp_path / "crash_app.py"
    script.write_text(CRASH_APP)
    marks = tmp_path / "marks"
    marks.mkdir()
    started: list[MinionProcess] = []
    yield script, marks, started
    for minion in started:
        minion.kill()


def marks_of(marks: Path, kind: str) -> list[tuple[float, int, int]]:
    """(time, task number, pid) of each ``kind`` mark, in time order; for a crash, the
    time its lost slot was due (this machine's clock, microseconds) instead of the pid."""
    found = []
    for path in marks.glob(f"{kind}-*"):
        _, nanos, task, last = path.name.split("-")
        found.append((int(nanos) / 1e9, int(task), int(last)))
    return sorted(found)


def test_a_minion_killed_between_reserving_and_putting_back_loses_the_slot_not_the_task(
    app: tuple[Path, Path, list[MinionProcess]], redis_url: str, redis_namespace: str
) -> None:
    script, marks, started = app
    (marks / "crash-on-send-back").touch()  # the first of them to put a task back dies there
    for name in ("m1", "m2"):
        started.append(
            MinionProcess(
                script, redis_url, redis_namespace, marks, workers=1, lease=LEASE, name=name
            )
        )
    with Arbiter(redis_url, namespace=redis_namespace) as arbiter:
        wait_registered(arbiter.node, *started)
        ids = [arbiter.apply("metered", task_args=[i])[0] for i in range(TASKS)]
        assert wait_until(lambda: any(m.proc.poll() is not None for m in started), 30)
        [doomed] = [m for m in started if m.proc.poll() is not None]
        [survivor] = [m for m in started if m is not doomed]
        assert doomed.wait(5) == -9, doomed.output()
        [(crashed_at, victim, lost_due_micros)] = marks_of(marks, "crashed")
        done = {s["id"]: s for s in arbiter.wait_for_tasks(ids, timeout=60)}
        time.sleep(LEASE + 0.5)  # room for a duplicate to show
        runs = marks_of(marks, "start")
    assert {s["state"] for s in done.values()} == {"succeeded"}, done
    assert sorted(task for _, task, _ in runs) == list(range(TASKS)), "each ran exactly once"
    [(victim_start, _, victim_pid)] = [run for run in runs if run[1] == victim]
    assert victim_pid == survivor.pid
    assert victim_start - crashed_at >= LEASE * 0.9, "redelivered only after its lease"
    assert done[ids[victim]]["attempt"] == 1, "the crash cost a turn, not an attempt"
    starts = [at for at, _, _ in runs]
    lost = lost_due_micros / 1e6
    assert all(abs(at - lost) >= INTERVAL / 2 for at in starts), "nothing started in the lost slot"
    busiest = max(sum(1 for at in starts if first <= at < first + 1.0) for first in starts)
    assert busiest <= 1 / INTERVAL + 1, "the two minions kept to the rate between them"
    offsets = [round(at - crashed_at, 3) for at in starts]
    print(
        f"\ncrash at the send-back of task {victim} (its lost slot "
        f"{lost - crashed_at:+.3f}s); starts from the crash: {offsets}; the victim's "
        f"{victim_start - crashed_at:.3f}s"
    )
