"""Helpers for the plugin's tests (not a test module): a throwaway Redis, a RabbitMQ vhost.

Nothing here imports the plugin, so a run without it installed reaches the
conftest's check, which says what to install (and fails under CI) instead of an
import error.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

RABBIT_HOST = "127.0.0.1"
RABBIT_PORT = 5672
RABBIT_USER = "guest"
RABBIT_PASSWORD = "guest"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


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
        deadline = time.monotonic() + 10
        while not self._pong():
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start; see {directory / 'redis.log'}")
            time.sleep(0.05)

    def _pong(self) -> bool:
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


def rabbitmqctl(*args: str, timeout: float = 60) -> str:
    """Run ``rabbitmqctl`` (FileNotFoundError without it); its output, or an error with it."""
    executable = shutil.which("rabbitmqctl")
    if executable is None:
        raise FileNotFoundError("rabbitmqctl is not on PATH")
    done = subprocess.run(
        [executable, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr or done.stdout}")
    return done.stdout


class RabbitVhost:
    """A vhost of its own on the local RabbitMQ for one test session, deleted afterwards.

    Everything the tests declare lives in it, so deleting it removes every queue and
    exchange they made, whatever a failing test left behind.
    """

    def __init__(self) -> None:
        if not answers(RABBIT_HOST, RABBIT_PORT):
            raise ConnectionError(f"no RabbitMQ listening on {RABBIT_HOST}:{RABBIT_PORT}")
        self.name = f"arbiter-test-{uuid.uuid4().hex[:12]}"
        rabbitmqctl("add_vhost", self.name)
        try:
            rabbitmqctl("set_permissions", "-p", self.name, RABBIT_USER, ".*", ".*", ".*")
        except BaseException:
            self.delete()
            raise
        self.url = f"amqp://{RABBIT_USER}:{RABBIT_PASSWORD}@{RABBIT_HOST}:{RABBIT_PORT}/{self.name}"

    def delete(self) -> None:
        rabbitmqctl("delete_vhost", self.name)
