"""ComposedNode: queues and broadcast from one backend, the state store from another."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator

import fakeredis
import pytest

from arbiter_core.conformance import EventNodeContract, Inbox
from arbiter_core.errors import NodeClosedError, UnsupportedOperationError
from arbiter_core.node import (
    BROADCAST,
    BURIED_EVENT,
    DEAD,
    PRIORITY,
    PURGED,
    QUEUE,
    STATE,
    ComposedNode,
    DeadLetter,
    EventNode,
    NoStateStore,
    Record,
    buried_data,
)
from arbiter_core.node.bound_body import bind, unbind
from arbiter_local.memory import MemoryEventNode
from arbiter_redis import RedisEventNode


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
    assert composed.capabilities == frozenset({BROADCAST, QUEUE, STATE, PRIORITY})
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

    With shorter waits than the defaults, which an in-process broker affords. The
    memory broker reports its burials (``watch_burials``), so every burial test runs:
    the composed node ends the records it keeps in the other store itself.
    """

    lease = 0.25
    settle = 0.1
    ttl = 0.15

    @pytest.fixture
    def node_factory(self) -> Callable[[], EventNode]:
        broker_url, state_url = fresh_url(), fresh_url()

        def connect() -> EventNode:
            return ComposedNode(
                QueueOnlyNode(broker_url, namespace="t", max_deliveries=self.max_deliveries),
                MemoryEventNode(state_url, namespace="t"),
            )

        return connect


@pytest.mark.real_broker
class TestComposedOnRedisStateContract(EventNodeContract):
    """The whole suite again with the records on a real (throwaway) Redis server."""

    @pytest.fixture
    def node_factory(self, redis_url: str, redis_namespace: str) -> Callable[[], EventNode]:
        broker_url = fresh_url()

        def connect() -> EventNode:
            broker = QueueOnlyNode(
                broker_url, namespace=redis_namespace, max_deliveries=self.max_deliveries
            )
            return ComposedNode(broker, RedisEventNode(url=redis_url, namespace=redis_namespace))

        return connect


def bound_message(node: ComposedNode, key: str = "k", queue: str = "q") -> None:
    assert node.transition_and_push(
        key, Record("queued", b"q"), ttl=10, expect=[None], queue=queue, body=b"job"
    )


def test_the_broker_holds_a_bound_body_and_the_consumer_gets_the_original(
    composed: ComposedNode, urls: tuple[str, str]
) -> None:
    bound_message(composed)
    with MemoryEventNode(urls[0]) as on_broker:
        [raw] = on_broker.pull("q", timeout=1, lease=0.05)
        assert raw.body == bind("k", b"job") and unbind(raw.body) == ("k", b"job")
    [delivery] = composed.pull("q", timeout=2, lease=10)
    assert delivery.body == b"job"
    composed.push("q", b"plain")
    assert composed.ack(delivery)
    [plain] = composed.pull("q", timeout=1, lease=10)
    assert plain.body == b"plain", "an unbound message is handed on whole"


def test_dead_letter_ends_the_record_in_the_state_node(
    composed: ComposedNode, urls: tuple[str, str]
) -> None:
    bound_message(composed)
    [delivery] = composed.pull("q", timeout=1, lease=10)
    assert composed.dead_letter(delivery, "garbled")
    assert composed.get("k") == Record(DEAD, buried_data("garbled", b"q"))
    [letter] = composed.dead_letters("q")
    assert (letter.body, letter.record, letter.reason) == (b"job", "k", "garbled")
    with MemoryEventNode(urls[0]) as on_broker:
        assert on_broker.dead_letters("q")[0].body == bind("k", b"job"), "stored bound"
    assert composed.requeue_dead_letters("q") == [letter.message_id]
    assert composed.get("k") == Record("queued", b"q"), "revived"


def test_a_spent_message_buried_by_another_nodes_call_ends_its_record(
    composed: ComposedNode, urls: tuple[str, str]
) -> None:
    """The memory broker tells every watching node, whoever's call settled the queue."""
    inbox = Inbox()
    composed.subscribe(BURIED_EVENT, inbox)
    bound_message(composed)
    with MemoryEventNode(urls[0], max_deliveries=1) as raw:
        assert raw.pull("q", timeout=1, lease=0.01)
        time.sleep(0.05)
        assert raw.pull("q", timeout=0, lease=1) == [], "spent: buried by this pull"
    assert inbox.wait_for(1, 5) and inbox.payloads == [b"k"]
    record = composed.get("k")
    assert record is not None and record.state == DEAD


def test_a_purge_through_the_composed_node_ends_the_record_before_it_returns(
    composed: ComposedNode,
) -> None:
    bound_message(composed)
    assert composed.purge("q") == 1
    assert composed.get("k") == Record(DEAD, buried_data(PURGED, b"q"))


def test_buries_records_follows_the_brokers_watch_burials(urls: tuple[str, str]) -> None:
    with ComposedNode(MemoryEventNode(urls[0]), MemoryEventNode(urls[1])) as node:
        assert node.buries_records
    server = fakeredis.FakeServer()
    redis_broker = RedisEventNode(client=fakeredis.FakeRedis(server=server), namespace="t")
    assert redis_broker.watch_burials(lambda letter: None) is False
    with ComposedNode(redis_broker, MemoryEventNode(urls[1], namespace="t")) as node:
        assert not node.buries_records
        bound_message(node)
        [delivery] = node.pull("q", timeout=1, lease=10)
        assert delivery.body == b"job"
        assert node.dead_letter(delivery, "garbled"), "dead_letter ends it all the same"
        assert node.get("k") == Record(DEAD, buried_data("garbled", b"q"))


def test_watch_burials_reports_spent_and_purged_messages_but_not_dead_letter() -> None:
    letters: list[DeadLetter] = []
    with MemoryEventNode(fresh_url(), max_deliveries=1) as node:
        assert node.watch_burials(letters.append)
        node.push("q", b"refused")
        assert node.dead_letter(node.pull("q", timeout=1, lease=10)[0], "by hand")
        node.push("q", b"spent")
        assert node.nack(node.pull("q", timeout=1, lease=10)[0])
        node.push("q", b"dropped")
        assert node.purge("q") == 1
        with pytest.raises(TypeError, match="callable"):
            node.watch_burials("nope")  # type: ignore[arg-type]
    assert [(letter.body, letter.reason) for letter in letters] == [
        (b"spent", "delivered 1 times without an ack"),
        (b"dropped", PURGED),
    ]


def test_a_second_watch_replaces_the_first_and_close_drops_it() -> None:
    first: list[DeadLetter] = []
    second: list[DeadLetter] = []
    url = fresh_url()
    with MemoryEventNode(url) as other:
        node = MemoryEventNode(url)
        node.watch_burials(first.append)
        node.watch_burials(second.append)
        other.push("q", b"x")
        assert other.purge("q") == 1
        node.close()
        other.push("q", b"y")
        assert other.purge("q") == 1
    assert first == [] and [letter.body for letter in second] == [b"x"]


@pytest.mark.parametrize(
    "data",
    [
        b"job",
        b"\x00arbiter-bound:",
        b"\x00arbiter-bound:x:k",
        b"\x00arbiter-bound:05:hello",
        b"\x00arbiter-bound:9:short",
        b"\x00arbiter-bound:2:\xff\xfe",
        b"\x00arbiter-bound:1234567890:k",
    ],
)
def test_unbind_refuses_what_bind_did_not_make(data: bytes) -> None:
    assert unbind(data) is None


@pytest.mark.parametrize("key", ["k", "task:é€", "a:b:c" * 50])
@pytest.mark.parametrize("body", [b"", b"job", b"\x00arbiter-bound:1:k", bytes(range(256))])
def test_bind_round_trips(key: str, body: bytes) -> None:
    assert unbind(bind(key, body)) == (key, body)


def test_in_flight_deliveries_are_forgotten(composed: ComposedNode) -> None:
    """What bounds the receipt map: settling a delivery, or a renew that finds it lost."""
    for index in range(4):
        bound_message(composed, f"k{index}")
    deliveries = composed.pull("q", timeout=1, lease=10, max_messages=4)
    assert len(composed._in_flight._entries) == 4
    assert composed.ack(deliveries[0])
    assert composed.nack(deliveries[1])
    assert composed.dead_letter(deliveries[2], "x")
    assert len(composed._in_flight._entries) == 1
    stale = dataclasses.replace(deliveries[3], receipt="stale")
    composed._in_flight.add("stale", "k3", 10)
    assert composed.renew([deliveries[3], stale], 10) == [True, False]
    assert list(composed._in_flight._entries) == [deliveries[3].receipt]


def test_closing_waits_for_the_records_reported_before(urls: tuple[str, str]) -> None:
    node = ComposedNode(MemoryEventNode(urls[0]), MemoryEventNode(urls[1]))
    bound_message(node)
    with MemoryEventNode(urls[0]) as other, MemoryEventNode(urls[1]) as on_state:
        assert other.purge("q") == 1  # reported to ``node`` on this thread: ended on its own
        node.close()
        record = on_state.get("k")
        assert record is not None and record.state == DEAD
