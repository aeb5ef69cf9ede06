"""The memory:// backend: the conformance suite, plus what only an in-process broker has."""

from __future__ import annotations

import gc
import threading
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from arbiter_core.conformance import EventNodeContract, Inbox
from arbiter_core.errors import ConfigurationError, NodeClosedError
from arbiter_core.node import BROADCAST, PRIORITY, QUEUE, STATE, EventNode, Record
from arbiter_core.settings import Settings
from arbiter_local.memory import MemoryEventNode, create_node


def fresh_url() -> str:
    """A broker of this test's own: nothing else in the process shares it."""
    return f"memory://test-{uuid.uuid4().hex}"


class TestMemoryNodeContract(EventNodeContract):
    @pytest.fixture
    def node_factory(self) -> Callable[[], EventNode]:
        url = fresh_url()
        return lambda: MemoryEventNode(url, namespace="test", max_deliveries=self.max_deliveries)


@pytest.fixture
def nodes() -> Iterator[Callable[..., MemoryEventNode]]:
    """Opens memory nodes (on a fresh broker unless a URL is given) and closes them after."""
    opened: list[MemoryEventNode] = []
    default_url = fresh_url()

    def open_node(url: str | None = None, **kwargs: Any) -> MemoryEventNode:
        node = MemoryEventNode(url or default_url, **kwargs)
        opened.append(node)
        return node

    yield open_node
    for node in opened:
        node.close()


# --- URLs, the named-broker registry, namespaces -------------------------------------------


def test_same_url_shares_a_broker(nodes: Callable[..., MemoryEventNode]) -> None:
    url = fresh_url()
    arbiter, minion = nodes(url), nodes(url)
    assert arbiter.broker is minion.broker
    arbiter.push("q", b"job")
    [delivery] = minion.pull("q", timeout=0, lease=10)
    assert delivery.body == b"job"
    arbiter.transition("k", Record("queued", b""), ttl=10)
    assert minion.get("k") == Record("queued", b"")


def test_plain_memory_url_is_the_default_broker(nodes: Callable[..., MemoryEventNode]) -> None:
    namespace = f"ns-{uuid.uuid4().hex}"
    plain, named = (
        nodes("memory://", namespace=namespace),
        nodes("memory://default", namespace=namespace),
    )
    assert plain.broker is named.broker
    assert plain.broker.name == "default"
    assert plain.url == "memory://"


def test_different_names_are_isolated(nodes: Callable[..., MemoryEventNode]) -> None:
    one, two = nodes(fresh_url()), nodes(fresh_url())
    assert one.broker is not two.broker
    one.push("q", b"x")
    one.transition("k", Record("queued", b""), ttl=10)
    one.heartbeat("w", b"", 10)
    assert two.queue_size("q") == 0
    assert two.get("k") is None
    assert two.live_workers() == {}


def test_broker_is_freed_when_its_last_node_goes() -> None:
    url = fresh_url()
    first, second = MemoryEventNode(url), MemoryEventNode(url)
    broker_ref = weakref.ref(first.broker)
    first.subscribe("e", Inbox())  # a running delivery thread must not keep it alive
    second.push("q", b"lost with the broker")
    first.close()
    del first
    gc.collect()
    assert broker_ref() is not None, "still used by the second node"
    del second  # dropped without close(): the finalizer releases it
    gc.collect()
    assert broker_ref() is None
    with MemoryEventNode(url) as again:
        assert again.queue_size("q") == 0, "a new broker of the same name starts empty"


def test_closed_node_lets_go_of_its_broker() -> None:
    node = MemoryEventNode(fresh_url())
    broker_ref = weakref.ref(node.broker)
    node.close()
    gc.collect()
    assert broker_ref() is None
    with pytest.raises(NodeClosedError):
        _ = node.broker
    assert node.url in repr(node), "repr and url still work after close"


def test_namespaces_isolate(nodes: Callable[..., MemoryEventNode]) -> None:
    url = fresh_url()
    app_a, app_b = nodes(url, namespace="a"), nodes(url, namespace="b")
    app_a.push("q", b"for a")
    app_a.transition("k", Record("queued", b""), ttl=10)
    app_a.heartbeat("w", b"", 10)
    inbox_b = Inbox()
    inbox_a = Inbox()
    app_b.subscribe("e", inbox_b)
    app_a.subscribe("e", inbox_a)
    app_a.emit("e", b"for a")
    assert inbox_a.wait_for(1, 5)
    assert app_b.pull("q", timeout=0, lease=10) == []
    assert app_b.queue_size("q") == 0
    assert app_b.get("k") is None
    assert app_b.live_workers() == {}
    app_b.emit("e", b"for b")
    assert inbox_b.wait_for(1, 5)
    assert inbox_b.payloads == [b"for b"], "b saw only its own namespace's event"
    assert inbox_a.payloads == [b"for a"]


@pytest.mark.parametrize(
    "url",
    ["redis://localhost", "memory://name/path", "memory://name?x=1", "memory://u@name", "memory:x"],
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="memory"):
        MemoryEventNode(url)


def test_create_node_honours_settings() -> None:
    settings = Settings(broker_url=fresh_url(), namespace="app", max_deliveries=2)
    with create_node(settings.broker_url, settings) as node:
        assert isinstance(node, MemoryEventNode)
        assert (node.namespace, node.max_deliveries, node.url) == ("app", 2, settings.broker_url)
        node.push("q", b"poison")
        for _ in range(2):
            [delivery] = node.pull("q", timeout=0, lease=10)
            node.nack(delivery)
        assert node.pull("q", timeout=0, lease=10) == []
        [letter] = node.dead_letters("q")
        assert letter.reason == "delivered 2 times without an ack"


def test_capabilities() -> None:
    assert MemoryEventNode.capabilities == frozenset({BROADCAST, QUEUE, STATE, PRIORITY})


@pytest.mark.parametrize("bad", [0, -1])
def test_max_deliveries_must_be_positive(bad: int) -> None:
    with pytest.raises(ValueError, match="max_deliveries"):
        MemoryEventNode(fresh_url(), max_deliveries=bad)


def test_bad_arguments_are_refused(nodes: Callable[..., MemoryEventNode]) -> None:
    node = nodes()
    with pytest.raises(TypeError, match="body"):
        node.push("q", "text")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lease"):
        node.pull("q", timeout=0, lease=0)
    with pytest.raises(ValueError, match="max_messages"):
        node.pull("q", timeout=0, lease=1, max_messages=0)
    with pytest.raises(ValueError, match="ttl"):
        node.transition("k", Record("queued", b""), ttl=0)
    with pytest.raises(ValueError, match="namespace"):
        MemoryEventNode(fresh_url(), namespace="")


# --- queue behaviour specific to the in-process broker --------------------------------------


def test_bodies_are_isolated_from_the_caller(nodes: Callable[..., MemoryEventNode]) -> None:
    node = nodes()
    body = bytearray(b"original")
    node.push("q", body)  # type: ignore[arg-type]
    body[:] = b"mutated!"
    [delivery] = node.pull("q", timeout=0, lease=10)
    assert delivery.body == b"original"
    assert isinstance(delivery.body, bytes)


def test_expired_leases_count_towards_dead_letters(nodes: Callable[..., MemoryEventNode]) -> None:
    node = nodes(max_deliveries=2)
    node.push("q", b"crashes its worker")
    for count in (1, 2):
        [delivery] = node.pull("q", timeout=1, lease=0.05)
        assert delivery.delivery_count == count
    assert node.pull("q", timeout=0.2, lease=0.05) == []
    [letter] = node.dead_letters("q")
    assert letter.reason == "delivered 2 times without an ack"
    assert node.queue_size("q") == 0


def test_stricter_consumer_applies_its_own_limit(nodes: Callable[..., MemoryEventNode]) -> None:
    url = fresh_url()
    lax, strict = nodes(url, max_deliveries=5), nodes(url, max_deliveries=2)
    lax.push("q", b"x")
    for _ in range(2):
        [delivery] = lax.pull("q", timeout=0, lease=10)
        lax.nack(delivery)
    assert strict.pull("q", timeout=0, lease=10) == []
    assert [letter.delivery_count for letter in strict.dead_letters("q")] == [2]


def test_join_waits_until_the_queue_is_drained(nodes: Callable[..., MemoryEventNode]) -> None:
    node = nodes()
    for i in range(3):
        node.push("q", str(i).encode())
    assert node.broker.join(node.namespace, "q", timeout=0.05) is False

    def work() -> None:
        while batch := node.pull("q", timeout=0.1, lease=10):
            node.ack(batch[0])

    worker = threading.Thread(target=work)
    worker.start()
    assert node.broker.join(node.namespace, "q", timeout=5) is True
    worker.join(5)


def test_empty_queues_are_forgotten(nodes: Callable[..., MemoryEventNode]) -> None:
    node = nodes()
    for i in range(50):
        node.push(f"reply-{i}", b"x")
        [delivery] = node.pull(f"reply-{i}", timeout=0, lease=10)
        node.ack(delivery)
    node.pull("never-used", timeout=0, lease=10)
    assert node.broker._queues == {}


def test_expired_records_are_purged_without_being_read(
    nodes: Callable[..., MemoryEventNode],
) -> None:
    node = nodes()
    for i in range(10):
        node.transition(f"k{i}", Record("done", b""), ttl=0.05)
    time.sleep(0.1)
    node.transition("trigger", Record("queued", b""), ttl=10)
    assert list(node.broker._records) == [(node.namespace, "trigger")]


def test_pull_never_sleep_polls(
    nodes: Callable[..., MemoryEventNode], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pull blocked for a while wakes only when something is due: a handful of wake-ups."""
    node = nodes()
    node.push("q", b"later", not_before=time.time() + 0.3)
    wakeups = 0
    broker = node.broker
    real_settle = broker._settle

    def counting_settle(*args: Any) -> None:
        nonlocal wakeups
        wakeups += 1
        real_settle(*args)

    monkeypatch.setattr(broker, "_settle", counting_settle)
    [delivery] = node.pull("q", timeout=5, lease=10)
    assert delivery.body == b"later"
    assert wakeups <= 3


# --- broadcast specifics --------------------------------------------------------------------


def delivery_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("arbiter-memory-events-")]


def test_delivery_thread_starts_on_subscribe_and_stops_on_close() -> None:
    before = set(delivery_threads())
    node = MemoryEventNode(fresh_url())
    node.push("q", b"x")
    assert set(delivery_threads()) == before, "no thread until something subscribes"
    node.subscribe("e", Inbox())
    node.subscribe("f", Inbox())
    [thread] = set(delivery_threads()) - before
    node.close()
    assert not thread.is_alive()


def test_close_from_inside_a_callback(nodes: Callable[..., MemoryEventNode]) -> None:
    node = nodes()
    closed = threading.Event()

    def close_me(event: str, payload: bytes) -> None:
        node.close()
        closed.set()

    node.subscribe("e", close_me)
    node.emit("e", b"")
    assert closed.wait(5)
    with pytest.raises(NodeClosedError):
        node.emit("e", b"")


def test_subscribing_twice_delivers_once(nodes: Callable[..., MemoryEventNode]) -> None:
    node = nodes()
    inbox, marker = Inbox(), Inbox()
    node.subscribe("e", inbox)
    node.subscribe("e", inbox)
    node.subscribe("e", marker)
    node.emit("e", b"1")
    node.emit("e", b"2")
    assert marker.wait_for(2, 5)
    assert inbox.payloads == [b"1", b"2"]


def test_garbage_collected_node_stops_receiving_and_its_thread_ends() -> None:
    url = fresh_url()
    with MemoryEventNode(url) as emitter:
        before = set(delivery_threads())
        listener = MemoryEventNode(url)
        inbox = Inbox()
        listener.subscribe("e", inbox)
        [thread] = set(delivery_threads()) - before
        del listener  # never closed
        gc.collect()
        thread.join(5)
        assert not thread.is_alive()
        emitter.emit("e", b"to nobody")
        assert emitter.broker._topics == {}, "the emit dropped the dead subscription"
        assert inbox.received == []


# --- thread safety ---------------------------------------------------------------------------


def test_stress_no_loss_no_duplicates(nodes: Callable[..., MemoryEventNode]) -> None:
    url = fresh_url()
    shared = [nodes(url), nodes(url)]
    per_thread = 1000
    start = threading.Barrier(4)

    def work(index: int) -> tuple[list[bytes], list[bytes]]:
        node = shared[index % 2]
        pushed, acked = [], []
        start.wait(5)
        for i in range(per_thread):
            body = f"{index}-{i}".encode()
            node.push("q", body)
            pushed.append(body)
            if i % 3 == 0:
                continue  # let some pile up so batches and contention happen
            for delivery in node.pull("q", timeout=0, lease=30, max_messages=2):
                assert node.ack(delivery)
                acked.append(delivery.body)
        while batch := node.pull("q", timeout=0.05, lease=30, max_messages=8):
            for delivery in batch:
                assert node.ack(delivery)
                acked.append(delivery.body)
        return pushed, acked

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, range(4)))
    pushed = [body for p, _ in results for body in p]
    acked = Counter(body for _, a in results for body in a)
    assert len(pushed) == 4 * per_thread
    assert acked == Counter(pushed), "every message acked exactly once"
    assert shared[0].queue_size("q") == 0
    assert shared[0].dead_letters("q") == []
