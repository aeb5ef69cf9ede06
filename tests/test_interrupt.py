"""Ctrl-C, for real: a child Python runs run_tasks and receives SIGINT.

The run must stop promptly with RunInterrupted (a KeyboardInterrupt) carrying a
cancelled Result for every unfinished task, start nothing new, and leave no worker
process behind.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support import pid_alive, wait_until

SCRIPT = r"""
import os
import sys
import threading
import time

from arbiter import create_task, run_tasks
from arbiter.exceptions import RunInterrupted, TaskCancelledError

_lock = threading.Lock()


def report(line):
    with _lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def sleeper(name):
    report(f"STARTED {name} {os.getpid()}")
    time.sleep(120)
    return name


def quick(name):
    report(f"STARTED {name} {os.getpid()}")
    return name


if __name__ == "__main__":
    processes = sys.argv[1] == "processes"
    tasks = [create_task(f"long{i}", sleeper, args=(f"long{i}",)) for i in range(2)]
    if sys.argv[2] == "busy":  # every worker busy, more tasks queued behind them
        workers = 2
        tasks += [create_task(f"queued{i}", sleeper, args=(f"queued{i}",)) for i in range(3)]
    else:  # one worker idle after a quick task; the rest wait for long0
        workers = 3
        tasks.append(create_task("quick", quick, args=("quick",)))
        tasks += [
            create_task(f"waiting{i}", sleeper, args=(f"waiting{i}",), dependencies=["long0"])
            for i in range(2)
        ]
    tasks.append(create_task("after", sleeper, args=("after",), dependencies=["long0"]))
    report(f"PARENT {os.getpid()}")
    try:
        run_tasks(tasks, max_workers=workers, processes=processes)
    except RunInterrupted as exc:
        cancelled = sum(isinstance(r.value, TaskCancelledError) for r in exc.results.values())
        report(
            f"INTERRUPTED cancelled={cancelled} total={len(exc.results)} "
            f"keyboard={isinstance(exc, KeyboardInterrupt)}"
        )
        sys.exit(0)
    report("FINISHED")
    sys.exit(1)
"""


class Child:
    """The child process, with its stdout read line by line on a thread."""

    def __init__(self, script: Path, mode: str, scenario: str) -> None:
        # stderr goes to a file: worker processes inherit it and could hold a pipe open.
        self.stderr_path = script.with_suffix(".stderr")
        with self.stderr_path.open("w") as stderr:
            self.proc = subprocess.Popen(
                # faulthandler: on a hang, SIGABRT makes the child print every thread's stack.
                [sys.executable, "-X", "faulthandler", str(script), mode, scenario],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                start_new_session=True,  # its own process group, like a job in a shell
            )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.seen.append(line)
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait(self, timeout: float) -> int:
        """Wait for the child to exit; if it hangs, fail showing where it hangs."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            group = process_group(self.proc.pid)
            self.proc.send_signal(signal.SIGABRT)
            self.proc.wait(timeout=10)
            pytest.fail(
                f"the child did not exit within {timeout}s\n"
                f"its stdout: {self.seen}\nits process group: {group}\n"
                f"its stderr:\n{self.stderr()}"
            )

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def next_line(self, timeout: float = 30.0) -> str | None:
        return self.lines.get(timeout=timeout)

    def rest(self) -> list[str]:
        self.reader.join(timeout=30)
        rest = []
        while True:
            line = self.lines.get_nowait()
            if line is None:
                return rest
            rest.append(line)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def process_group(pgid: int) -> list[str]:
    """pid, state, name and kernel wait channel of every process in group ``pgid``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            wchan = (entry / "wchan").read_text()
        except (OSError, ValueError):
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:
            found.append(f"{entry.name} {fields[0]} {stat.split()[1]} {wchan}")
    return found


@pytest.mark.parametrize(
    ("mode", "target", "scenario"),
    [
        # "group" signals the whole process group, as a terminal's Ctrl-C does.
        ("processes", "group", "busy"),
        ("processes", "parent", "busy"),
        ("processes", "group", "idle"),  # an idle worker process must not choke on SIGINT
        ("threads", "group", "busy"),
        ("threads", "group", "idle"),
    ],
)
def test_ctrl_c_stops_the_run_and_leaves_no_worker(
    mode: str, target: str, scenario: str, tmp_path: Path
) -> None:
    script = tmp_path / "interrupt_me.py"
    script.write_text(SCRIPT)
    child = Child(script, mode, scenario)
    expected_started = {"long0", "long1"} if scenario == "busy" else {"long0", "long1", "quick"}
    try:
        first = child.next_line()
        assert first is not None and first.startswith("PARENT"), first
        parent_pid = int(first.split()[1])
        started: dict[str, int] = {}
        while len(started) < len(expected_started):
            line = child.next_line()
            assert line is not None, "the child ended early"
            word, name, pid = line.split()
            assert word == "STARTED"
            started[name] = int(pid)
        assert set(started) == expected_started
        worker_pids = set(started.values())
        if mode == "processes":
            assert parent_pid not in worker_pids
            assert len(worker_pids) == len(expected_started)
        else:
            assert worker_pids == {parent_pid}

        interrupted_at = time.monotonic()
        if target == "group":  # what a terminal does on Ctrl-C
            os.killpg(child.proc.pid, signal.SIGINT)
        else:
            child.proc.send_signal(signal.SIGINT)
        returncode = child.wait(timeout=30)
        elapsed = time.monotonic() - interrupted_at
        rest = child.rest()
        stderr = child.stderr()
    finally:
        child.kill()

    assert returncode == 0, (rest, stderr)
    assert elapsed < 10, f"took {elapsed:.1f}s to stop"
    # Nothing new started after the signal; every unfinished task was cancelled
    # (the quick task may or may not have been seen to finish before the signal).
    cancelled = {6} if scenario == "busy" else {5, 6}
    assert rest in ([f"INTERRUPTED cancelled={n} total=6 keyboard=True"] for n in cancelled), (
        rest,
        stderr,
    )
    assert "Traceback" not in stderr, stderr
    for pid in worker_pids | {parent_pid}:
        assert wait_until(lambda pid=pid: not pid_alive(pid), 10), f"pid {pid} survived"
