"""Fixtures for the Minion/Arbiter suite, which runs unchanged against every backend.

``ARBITER_TEST_BROKER_URLS`` (comma-separated) picks the brokers; by default
``memory://`` and ``redis-server``, which stands for the throwaway Redis server of
``tests/redis_server.py`` (any other URL is used as given). Tests on a real broker
are marked ``real_broker``. Each test gets its own namespace, so tests never see
each other's queues, records or workers, even on a shared real broker.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from arbiter_core.client import Arbiter
from arbiter_core.connect import connect
from arbiter_core.minion import Minion
from arbiter_core.node import EventNode

THROWAWAY_REDIS = "redis-server"
BROKER_URLS = [
    u.strip()
    for u in os.environ.get("ARBITER_TEST_BROKER_URLS", f"memory://,{THROWAWAY_REDIS}").split(",")
    if u.strip()
]


RABBITMQ = "rabbitmq"
"""Stands for the local RabbitMQ (127.0.0.1:5672, guest/guest) on a vhost of the session's
own (made and deleted with ``rabbitmqctl``), with the records on the throwaway Redis
server through ``ARBITER_STATE_URL``. Needs the arbiter-kombu plugin installed."""


def _param(url: str) -> Any:
    if url.startswith("memory://"):
        return pytest.param(url, id="memory")
    if url == RABBITMQ:
        return pytest.param(url, id="rabbitmq", marks=pytest.mark.real_broker)
    name = "redis" if url == THROWAWAY_REDIS else url.partition("://")[0]
    return pytest.param(url, id=name, marks=pytest.mark.real_broker)


@pytest.fixture(scope="session")
def rabbitmq_vhost() -> Iterator[str]:
    """An amqp:// URL on a vhost of this session's own, deleted with all in it afterwards."""
    import shutil
    import subprocess

    rabbitmqctl = shutil.which("rabbitmqctl")
    if rabbitmqctl is None:
        pytest.skip("rabbitmqctl is not on PATH: no local RabbitMQ to test on")

    def ctl(*args: str) -> None:
        done = subprocess.run([rabbitmqctl, *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"rabbitmqctl {args[0]} failed: {done.stderr or done.stdout}")

    vhost = f"arbiter-test-{uuid.uuid4().hex[:12]}"
    ctl("add_vhost", vhost)
    try:
        ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        ctl("delete_vhost", vhost)


LEASE = 1.0  # short, so crash recovery shows within a test; keepers renew every third


@pytest.fixture(params=[_param(url) for url in BROKER_URLS])
def broker_url(request: pytest.FixtureRequest) -> str:
    url: str = request.param
    if url.startswith("memory://"):
        url = f"memory://{uuid.uuid4().hex[:10]}"  # a broker of its own per test
    elif url == THROWAWAY_REDIS:
        url = request.getfixturevalue("redis_server").url
    elif url == RABBITMQ:
        # the records on Redis, for every node, CLI call and minion process of the test
        state = request.getfixturevalue("redis_server").url
        request.getfixturevalue("monkeypatch").setenv("ARBITER_STATE_URL", state)
        url = request.getfixturevalue("rabbitmq_vhost")
    return url


@pytest.fixture
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def node_factory(broker_url: str, namespace: str) -> Iterator[Callable[..., EventNode]]:
    """Open nodes on this test's broker and namespace; all closed at teardown."""
    opened: list[EventNode] = []

    def make(**settings: Any) -> EventNode:
        node = connect(broker_url, namespace=namespace, lease=LEASE, **settings)
        opened.append(node)
        return node

    yield make
    for node in opened:
        node.close()


@pytest.fixture
def node(node_factory: Callable[..., EventNode]) -> EventNode:
    return node_factory()


@pytest.fixture
def arbiter(node_factory: Callable[..., EventNode]) -> Iterator[Arbiter]:
    client = Arbiter(node_factory(), lease=LEASE)
    yield client
    client.close()


@pytest.fixture
def make_minion(node_factory: Callable[..., EventNode]) -> Callable[..., Minion]:
    def make(queue: str = "default", **settings: Any) -> Minion:
        return Minion(node_factory(**settings), queue=queue, lease=LEASE, **settings)

    return make


@contextmanager
def running(minion: Minion, workers: int = 2, **options: Any) -> Iterator[threading.Thread]:
    """Run ``minion`` in a thread for the duration of the block, then stop it cleanly."""
    options.setdefault("handle_signals", False)
    thread = threading.Thread(
        target=minion.run, kwargs={"workers": workers, **options}, daemon=True
    )
    thread.start()
    try:
        yield thread
    finally:
        minion.stop()
        thread.join(timeout=30)
        assert not thread.is_alive(), "the minion did not stop"
