"""Minions in processes of their own, for the real-broker tests (not a test module itself).

:data:`MINION_SCRIPT` is written to a test's ``tmp_path`` and run with
:class:`MinionProcess`. It reads everything from the environment the way a
deployed minion would (``ARBITER_BROKER_URL``, ``ARBITER_NAMESPACE``,
``ARBITER_LEASE``, ``ARBITER_SIGNING_SECRET``), and every task records each
execution as a file of its own in ``ARBITER_TEST_MARKS``: ``exec-<tag>-<pid>-<n>``.
So a test counts executions per tag, and sees which process ran them, without
trusting the broker it is testing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import wait_until

MINION_SCRIPT = r'''
import os
import sys
import time
from pathlib import Path

from arbiter import Minion

MARKS = Path(os.environ["ARBITER_TEST_MARKS"])
app = Minion(queue="default")  # broker, namespace, lease and secret from ARBITER_*


def mark(tag):
    """One file per execution: its name says which task ran, in which process."""
    (MARKS / f"exec-{tag}-{os.getpid()}-{time.monotonic_ns()}").touch()


@app.task(name="add")
def add(x, y):
    return x + y


@app.task(name="work")
def work(tag, seconds=0.0):
    mark(tag)
    if seconds:
        time.sleep(seconds)
    return os.getpid()


@app.task(name="collect")
def collect(tag, results):
    """A group callback: how many results it got."""
    mark(tag)
    return len(results)


@app.task(name="hang_once")
def hang_once(tag, seconds):
    """Hangs on its first execution (long enough to be killed there), returns on the next."""
    mark(tag)
    first = MARKS / f"started-{tag}"
    try:
        first.touch(exist_ok=False)
    except FileExistsError:
        return os.getpid()
    time.sleep(seconds)
    return os.getpid()


if __name__ == "__main__":
    app.run(workers=int(sys.argv[1]), grace=float(sys.argv[2]))
    print("STOPPED", os.getpid(), flush=True)
'''

STATUS_SCRIPT = r"""
import json
import sys

from arbiter import Arbiter

url, namespace, task_id = sys.argv[1:]
with Arbiter(url, namespace=namespace) as arbiter:
    print(json.dumps(arbiter.status(task_id)))
"""

START_TIMEOUT = 30.0
"""Seconds a minion process may take to import arbiter and register itself."""
STOP_TIMEOUT = 30.0


def clean_environment(**settings: str) -> dict[str, str]:
    """This process's environment without any ARBITER_* variable, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARBITER_")}
    env.update(settings)
    return env


class MinionProcess:
    """``MINION_SCRIPT`` in a process of its own; its output goes to a log file."""

    def __init__(
        self,
        script: Path,
        url: str,
        namespace: str,
        marks: Path,
        *,
        workers: int = 2,
        grace: float = 30.0,
        lease: float | None = None,
        secret: str | None = None,
        name: str = "minion",
    ) -> None:
        env = clean_environment(
            ARBITER_BROKER_URL=url,
            ARBITER_NAMESPACE=namespace,
            ARBITER_TEST_MARKS=str(marks),
        )
        if lease is not None:
            env["ARBITER_LEASE"] = str(lease)
        if secret is not None:
            env["ARBITER_SIGNING_SECRET"] = secret
        self.log_path = script.parent / f"{name}.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                # faulthandler: SIGABRT on a hang makes it print every thread's stack
                [sys.executable, "-X", "faulthandler", str(script), str(workers), str(grace)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=script.parent,  # no pyproject.toml or arbiter.toml of ours
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then wait for the exit code; a hang fails the test showing the stacks."""
        self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGABRT)
            self.proc.wait(STOP_TIMEOUT)
            pytest.fail(f"minion {self.pid} did not exit within {timeout}s:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL (a crash, as the OOM killer does it) and reap."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(STOP_TIMEOUT)


def registered_pids(node: Any) -> set[int]:
    """The pids of the minions in the live worker registry of ``node``'s namespace."""
    return {json.loads(info)["pid"] for info in node.live_workers().values()}


def wait_registered(node: Any, *minions: MinionProcess, timeout: float = START_TIMEOUT) -> None:
    """Wait until every minion has registered (it does so before its first pull)."""
    wanted = {m.pid for m in minions}

    def ready() -> bool:
        for minion in minions:
            if minion.proc.poll() is not None:
                pytest.fail(f"minion {minion.pid} exited early:\n{minion.output()}")
        return wanted <= registered_pids(node)

    assert wait_until(ready, timeout), "minions did not register:\n" + "\n".join(
        m.output() for m in minions
    )


class Minions:
    """Starts minion processes from one script in ``directory``; :meth:`kill_all` at teardown.

    ``marks`` is the directory where their tasks record executions.
    """

    def __init__(self, directory: Path) -> None:
        self.script = directory / "minion_app.py"
        self.script.write_text(MINION_SCRIPT)
        self.marks = directory / "marks"
        self.marks.mkdir()
        self.started: list[MinionProcess] = []

    def start(self, url: str, namespace: str, **options: Any) -> MinionProcess:
        options.setdefault("name", f"minion{len(self.started) + 1}")
        minion = MinionProcess(self.script, url, namespace, self.marks, **options)
        self.started.append(minion)
        return minion

    def kill_all(self) -> None:
        for minion in self.started:
            minion.kill()

    def executions(self, tag: str) -> list[int]:
        """The pid of every execution of the task tagged ``tag``."""
        return [int(p.name.split("-")[2]) for p in self.marks.glob(f"exec-{tag}-*")]

    def all_executions(self) -> dict[str, list[int]]:
        """tag -> the pid of each of its executions."""
        found: dict[str, list[int]] = {}
        for path in self.marks.glob("exec-*"):
            _, tag, pid, _ = path.name.split("-")
            found.setdefault(tag, []).append(int(pid))
        return found
