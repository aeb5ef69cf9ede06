"""Helpers shared by the test modules (not a test module itself)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (a zombie has exited)."""
    status = Path(f"/proc/{pid}/status")
    if Path("/proc/self/status").exists():
        try:
            text = status.read_text()
        except (FileNotFoundError, ProcessLookupError):
            return False
        for line in text.splitlines():
            if line.startswith("State:"):
                return line.split()[1] != "Z"
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def read_pid(path: Path, timeout: float = 10.0) -> int:
    """Wait for a task to write its pid to ``path`` and return it."""
    assert wait_until(lambda: path.exists() and path.read_text().strip() != "", timeout), (
        f"no pid was written to {path}"
    )
    return int(path.read_text())


def write_pid(path: Path) -> int:
    """Publish this process's pid at ``path`` atomically (for :func:`read_pid`)."""
    pid = os.getpid()
    temporary = path.with_name(f"{path.name}.{pid}.tmp")
    temporary.write_text(str(pid))
    os.replace(temporary, path)
    return pid


def live_processes() -> dict[int, int]:
    """Every live (non-zombie) process, pid -> parent pid, from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        # "pid (comm) state ppid ...": comm may hold spaces or parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    return parents


def child_pids(parent: int | None = None) -> set[int]:
    """Live (non-zombie) child processes of ``parent`` (this process by default), from /proc."""
    parent = os.getpid() if parent is None else parent
    return {pid for pid, ppid in live_processes().items() if ppid == parent}
