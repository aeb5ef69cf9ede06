"""What every contract class shares: timing knobs, node fixtures, unique names, an inbox."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import TypeVar

import pytest

from arbiter_core.node import EventNode

NodeFactory = Callable[[], EventNode]
"""Returns a new node on the same broker and namespace each call."""

T = TypeVar("T")


def unique(prefix: str) -> str:
    """A name no other test uses, so tests can share a real broker."""
    return f"conformance-{prefix}-{uuid.uuid4().hex}"


def in_thread(function: Callable[[], T]) -> Future[T]:
    """Run ``function`` on a new daemon thread; if it hangs, the test fails instead of hanging."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(function())
        except BaseException as exc:  # noqa: BLE001 - handed to the test through the future
            future.set_exception(exc)

    threading.Thread(target=run, name="conformance-helper", daemon=True).start()
    return future


class Inbox:
    """A broadcast callback that records what it receives; waiting uses a Condition."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.received: list[tuple[str, bytes]] = []

    def __call__(self, event: str, payload: bytes) -> None:
        with self._cond:
            self.received.append((event, payload))
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float) -> bool:
        """Whether ``count`` deliveries arrived within ``timeout`` seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self.received) >= count, timeout)

    @property
    def payloads(self) -> list[bytes]:
        with self._cond:
            return [payload for _, payload in self.received]


class ContractBase:
    """Timing knobs and fixtures; subclasses add the ``test_*`` methods.

    Raise the knobs in a subclass for a slow or remote broker; keep ``lease``
    at least a few times the broker's round trip.
    """

    lease = 0.5
    """Short lease (seconds) for tests that wait for one to run out."""
    settle = 0.2
    """A short wait: how long a pull waits when nothing should arrive."""
    wait = 5.0
    """Upper bound for something that should happen (a broadcast arriving, a thread ending)."""
    prompt = 0.5
    """A blocked pull must return within this after a push or close (no long polling)."""
    clock_tolerance = 0.05
    """Allowed clock skew between this process and the broker when checking "not before"."""
    ttl = 0.3
    """Short TTL for records and worker heartbeats that should expire during a test."""
    long_lease = 60.0
    """A lease that never runs out during a test."""
    max_deliveries = 3
    """The ``max_deliveries`` that ``node_factory`` must configure its nodes with."""

    @pytest.fixture
    def new_node(self, node_factory: NodeFactory) -> Iterator[NodeFactory]:
        """Opens nodes through the backend's ``node_factory`` and closes them after the test."""
        opened: list[EventNode] = []

        def open_node() -> EventNode:
            node = node_factory()
            opened.append(node)
            return node

        yield open_node
        for node in opened:
            node.close()

    @pytest.fixture
    def node(self, new_node: NodeFactory) -> EventNode:
        return new_node()

    @pytest.fixture
    def queue(self) -> str:
        return unique("queue")
