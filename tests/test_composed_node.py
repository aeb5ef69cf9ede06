"""ComposedNode: queues and broadcast from one backend, the state store from another."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from arbiter_core.conformance import EventNodeContract, Inbox
from arbiter_core.errors import NodeClosedError, UnsupportedOperationError
from arbiter_core.node import BROADCAST, QUEUE, STATE, ComposedNode, EventNode, NoStateStore, Record
from arbiter_local.memory import MemoryEventNode


def fresh_url() -> str:
    return f"memory://test-{uuid.uuid4().hex}"


class QueueOnlyNode(NoStateStore, MemoryEventNode):
    """Stands in for a broker with no key-value store (RabbitMQ through kombu)."""

    capabilities = frozenset({BROADCAST, QUEUE})


@pytest.fixture
def urls() -> tuple[str, str]:
    return fresh_url(), fresh_url()


@pytest.fixture
def composed(urls: tuple[str, str]) -> Iterator[ComposedNode]:
    broker_url, state_url = urls
    with ComposedNode(MemoryEventNode(broker_url), MemoryEventNode(state_url)) as node:
        yield node


def test_queues_go_to_the_broker_and_state_to_the_state_node(
    composed: ComposedNode, urls: tuple[str, str]
) -> None:
    broker_url, state_url = urls
    with MemoryEventNode(broker_url) as on_broker, MemoryEventNode(state_url) as on_state:
        composed.push("q", b"job")
        assert on_broker.queue_size("q") == 1
        assert on_state.queue_size("q") == 0
        composed.transition("k", Record("queued", b""), ttl=10)
        assert on_state.get("k") == Record("queued", b"")
        assert on_broker.get("k") is None
        composed.heartbeat("w", b"info", 10)
        assert on_state.live_workers() == {"w": b"info"}
        assert on_broker.live_workers() == {}
        inbox = Inbox()
        on_broker.subscribe("e", inbox)
        composed.emit("e", b"hi")
        assert inbox.wait_for(1, 5)


def test_capabilities_and_url(composed: ComposedNode, urls: tuple[str, str]) -> None:
    assert composed.capabilities == frozenset({BROADCAST, QUEUE, STATE})
    assert composed.url == f"{urls[0]} (state: {urls[1]})"


def test_closing_closes_both(urls: tuple[str, str]) -> None:
    broker, state = MemoryEventNode(urls[0]), MemoryEventNode(urls[1])
    ComposedNode(broker, state).close()
    for node in (broker, state):
        with pytest.raises(NodeClosedError):
            node.queue_size("q")


def test_node_without_state_store_names_state_url() -> None:
    with QueueOnlyNode(fresh_url()) as node:
        node.push("q", b"queues still work")
        with pytest.raises(UnsupportedOperationError, match="state_url"):
            node.get("k")
        with pytest.raises(UnsupportedOperationError, match="state_url"):
            node.transition("k", Record("queued", b""), ttl=10)
        with pytest.raises(UnsupportedOperationError, match="state_url"):
            node.live_workers()
        with (
            MemoryEventNode(fresh_url()) as broker,
            pytest.raises(UnsupportedOperationError, match="'state'"),
        ):
            ComposedNode(broker, node)


def test_node_without_state_store_composes_with_one_that_has_it() -> None:
    with ComposedNode(QueueOnlyNode(fresh_url()), MemoryEventNode(fresh_url())) as node:
        assert node.transition("k", Record("queued", b""), ttl=10)[0]
        assert STATE in node.capabilities


class TestComposedNodeContract(EventNodeContract):
    """A composed node is an EventNode like any other: it passes the whole suite.

    With shorter waits than the defaults, which an in-process broker affords. Burial
    cannot end a record kept by another broker in the same step (see ``node.burial``):
    the minion ends the record of a message it rejects itself, but a spent message's
    record is left as it was. ``test_composed_burial_limit`` below pins that down.
    """

    lease = 0.25
    settle = 0.1
    ttl = 0.15
    buries_records = False

    @pytest.fixture
    def node_factory(self) -> Callable[[], EventNode]:
        broker_url, state_url = fresh_url(), fresh_url()

        def connect() -> EventNode:
            return ComposedNode(
                QueueOnlyNode(broker_url, namespace="t", max_deliveries=self.max_deliveries),
                MemoryEventNode(state_url, namespace="t"),
            )

        return connect


def test_composed_burial_limit(composed: ComposedNode) -> None:
    """What ``buries_records = False`` stands for: a burial leaves the other store's record."""
    assert composed.transition_and_push(
        "k", Record("queued", b"q"), ttl=10, expect=[None], queue="q", body=b"job"
    )
    [delivery] = composed.pull("q", timeout=1, lease=10)
    assert composed.dead_letter(delivery, "garbled")
    assert composed.get("k") == Record("queued", b"q")
