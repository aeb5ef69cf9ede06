"""Driving the real ``arbiter`` console script, and a task app in a minion subprocess.

Not a test module.

:func:`arbiter_command` finds the console script next to this interpreter (it is what a
user runs; there is no ``python -m arbiter_core.cli``). :class:`CommandLine` runs it
with a clean environment pointing at one broker and namespace. :data:`APP` is the task
module the minion subprocesses serve (:class:`AppMinion`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from minion_process import START_TIMEOUT, STOP_TIMEOUT, clean_environment

COMMAND_TIMEOUT = 60.0

APP = r'''
import os
import sys
import time
from pathlib import Path

from arbiter import Minion

app = Minion(queue=os.environ.get("APP_QUEUE", "default"))  # the rest from ARBITER_*


@app.task(name="add")
def add(x, y=0):
    return x + y


@app.task(name="sleep")
def sleep(seconds):
    time.sleep(seconds)
    return seconds


@app.task(name="fail")
def fail():
    raise ValueError("boom")


@app.task(name="crash_unless")
def crash_unless(marker):
    """Kills its own process (a segfault, the OOM killer) until ``marker`` exists."""
    if not Path(marker).exists():
        os._exit(3)
    return "recovered"


if __name__ == "__main__":
    app.run(workers=2, grace=5.0)
'''


def arbiter_command() -> str:
    found = shutil.which("arbiter", path=str(Path(sys.executable).parent))
    assert found, f"no arbiter console script beside {sys.executable}"
    return found


class CommandLine:
    """``arbiter ARGS`` in a subprocess, on one broker URL and namespace (ARBITER_*)."""

    def __init__(self, url: str, namespace: str, cwd: Path) -> None:
        self.url = url
        self.env = clean_environment(ARBITER_BROKER_URL=url, ARBITER_NAMESPACE=namespace)
        self.cwd = cwd
        self.executable = arbiter_command()

    def __call__(
        self, *args: str, input: str | None = None, check: int | None = 0
    ) -> subprocess.CompletedProcess[str]:
        """Run it; ``check`` is the exit status expected (None: any)."""
        done = subprocess.run(
            [self.executable, *args],
            check=False,
            env=self.env,
            cwd=self.cwd,
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )
        if check is not None and done.returncode != check:
            pytest.fail(
                f"arbiter {' '.join(args)} exited {done.returncode}, not {check}\n"
                f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            )
        return done


class AppMinion:
    """:data:`APP` served by a minion in a process of its own, output to a log file."""

    def __init__(self, directory: Path, url: str, namespace: str, name: str, **env: str) -> None:
        script = directory / "tasks_app.py"
        if not script.exists():
            script.write_text(APP)
        self.log_path = directory / f"{name}.log"
        environment = clean_environment(ARBITER_BROKER_URL=url, ARBITER_NAMESPACE=namespace, **env)
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(script)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
                cwd=directory,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.wait(STOP_TIMEOUT)


__all__ = ["APP", "START_TIMEOUT", "AppMinion", "CommandLine", "arbiter_command"]
