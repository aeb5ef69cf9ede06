"""A throwaway real Redis server for the tests (registered as fixtures in conftest.py).

``redis_server`` (session-scoped) starts ``redis-server`` on a free loopback port
with its own directory, no RDB snapshots and the AOF on (so data survives
:meth:`RedisServer.restart`), waits until it answers PING, and shuts it down at
the end of the session. Without ``redis-server`` on PATH it falls back to the
server at ``ARBITER_TEST_REDIS_URL`` (which cannot be restarted), and without
either it skips — which ``ARBITER_REQUIRE_REAL_BROKERS=1`` turns into a failure
for tests marked ``real_broker``.

Tests share the server, so each one works in a namespace of its own
(``redis_namespace``), whose keys are deleted afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process; ``url`` stays the same across :meth:`restart`."""

    def __init__(self, executable: str, directory: Path) -> None:
        self.executable = executable
        self.directory = directory
        self.port = free_port()
        self.socket_path = directory / "redis.sock"
        self.process: subprocess.Popen[bytes] | None = None
        self.can_restart = True

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def unix_url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self) -> None:
        assert self.process is None, "already running"
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                self.executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--unixsocket",
                str(self.socket_path),
                "--unixsocketperm",
                "700",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not _ping(self.port):  # bounded: a server that never answers fails the session
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"redis-server did not start; see {self.directory / 'redis.log'}")
            time.sleep(0.02)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"SHUTDOWN NOSAVE\r\n")
        except OSError:
            pass
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)

    def restart(self) -> None:
        """Stop and start again on the same port and directory: the AOF brings the data back."""
        self.stop()
        self.start()


class ExternalRedis:
    """A server we did not start (``ARBITER_TEST_REDIS_URL``): shared, never restarted."""

    can_restart = False

    def __init__(self, url: str) -> None:
        self.url = url

    def restart(self) -> None:
        pytest.skip("ARBITER_TEST_REDIS_URL names a server these tests may not restart")


@contextmanager
def private_server(directory: Path, needed_for: str) -> Iterator[RedisServer]:
    """A started redis-server of the caller's own (AOF on, restartable), stopped after.

    For tests that stop or restart the server, or need a fixed namespace, and so
    cannot share the session one. Skips (a failure under ARBITER_REQUIRE_REAL_BROKERS=1
    for ``real_broker`` tests) without ``redis-server`` on PATH.
    """
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.skip(f"{needed_for} needs redis-server on PATH")
    directory.mkdir()
    server = RedisServer(executable, directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RedisServer | ExternalRedis]:
    executable = shutil.which("redis-server")
    if executable is None:
        url = os.environ.get("ARBITER_TEST_REDIS_URL")
        if not url:
            pytest.skip("no redis-server on PATH and ARBITER_TEST_REDIS_URL is not set")
        yield ExternalRedis(url)
        return
    server = RedisServer(executable, tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer | ExternalRedis) -> str:
    return redis_server.url


@pytest.fixture
def redis_namespace(redis_server: RedisServer | ExternalRedis) -> Iterator[str]:
    """A namespace of this test's own; its keys are deleted afterwards."""
    import redis

    namespace = f"t-{uuid.uuid4().hex[:12]}"
    yield namespace
    client = redis.Redis.from_url(redis_server.url)
    try:
        names = list(client.scan_iter(match=f"{{{namespace}}}:*", count=1000))
        if names:
            client.delete(*names)
    except redis.ConnectionError:
        pass  # a test that stopped the server for good
    finally:
        client.close()
