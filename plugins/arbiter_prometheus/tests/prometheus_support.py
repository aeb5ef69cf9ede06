"""Helpers for the plugin's tests (not a test module): free ports, scraping, a throwaway Redis.

Nothing here imports the plugin, so a run without it installed reaches the
conftest's check, which says what to install (and fails under CI) instead of an
import error.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

SCRAPE_TIMEOUT = 5.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``GET /metrics`` on loopback, parsed: ``{(sample name, sorted labels): value}``."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(
        f"http://127.0.0.1:{port}/metrics", timeout=SCRAPE_TIMEOUT
    ) as reply:
        text = reply.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float | None:
    """The value of sample ``name`` with exactly ``labels``, or None."""
    return samples.get((name, tuple(sorted(labels.items()))))


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape_until(port: int, condition: Callable[[Samples], bool], timeout: float = 10.0) -> Samples:
    """Scrape until ``condition(samples)`` holds (or time runs out); the last scrape.

    A task is counted just after its result is announced (the observer hooks run
    after the waiter is woken), so a scrape right after a wait may miss the last one.
    """
    deadline = time.monotonic() + timeout
    samples = scrape(port)
    while not condition(samples) and time.monotonic() < deadline:
        time.sleep(0.05)
        samples = scrape(port)
    return samples


def serving(port: int) -> bool:
    try:
        scrape(port)
    except (urllib.error.URLError, ConnectionError):
        return False
    return True


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Poll ``condition`` (a test waiting on another process) until it holds or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


class ThrowawayRedis:
    """A ``redis-server`` on a free loopback port, no persistence, for one test session."""

    def __init__(self, directory: Path) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise FileNotFoundError("redis-server is not on PATH")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        log = (directory / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""],
            cwd=directory,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        if not wait_until(self._answers, timeout=10.0):
            self.stop()
            raise RuntimeError(f"redis-server did not start; see {directory / 'redis.log'}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
