"""The conformance suite against the real RabbitMQ, composed with a real Redis state store,
and what is RabbitMQ's own: server info, the refusal without a state URL, delay queues."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from arbiter_kombu.node import KombuEventNode
from kombu_support import rabbitmqctl

import arbiter
from arbiter_core.conformance import EventNodeContract
from arbiter_core.errors import ConfigurationError
from arbiter_core.node import CROSS_PROCESS, PERSISTENT, ComposedNode, Delivery, EventNode
from arbiter_redis import RedisEventNode

pytestmark = pytest.mark.real_broker


@pytest.fixture
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


class TestRabbitMQContract(EventNodeContract):
    """Every guarantee on RabbitMQ (a vhost of the session's own), records on Redis."""

    @pytest.fixture
    def node_factory(
        self, rabbit_url: str, throwaway_redis: str, namespace: str
    ) -> Callable[[], EventNode]:
        def connect() -> EventNode:
            return ComposedNode(
                KombuEventNode(rabbit_url, namespace=namespace, max_deliveries=self.max_deliveries),
                RedisEventNode(url=throwaway_redis, namespace=namespace),
            )

        return connect


@pytest.fixture
def node(rabbit_url: str, namespace: str) -> Iterator[KombuEventNode]:
    with KombuEventNode(rabbit_url, namespace=namespace, max_deliveries=3) as node:
        yield node


def test_capabilities_and_server_info(node: KombuEventNode) -> None:
    assert {CROSS_PROCESS, PERSISTENT} <= node.capabilities
    assert node.server_info()["server"].startswith("RabbitMQ ")


def test_connect_without_a_state_url_names_the_setting(
    rabbit_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARBITER_STATE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="ARBITER_STATE_URL"):
        arbiter.connect(rabbit_url)


def test_connect_with_a_state_url_composes(rabbit_url: str, throwaway_redis: str) -> None:
    with arbiter.connect(rabbit_url, state_url=throwaway_redis) as node:
        assert isinstance(node, ComposedNode)
        assert isinstance(node.broker, KombuEventNode)
        assert "guest:***@" in node.url


def test_delayed_messages_come_in_due_order_once(node: KombuEventNode) -> None:
    """Different delays go to different TTL queues; each falls due in order, once."""
    now = time.time()
    delays = [0.9, 0.3, 0.6, 0.3, 0.1]
    for i, delay in enumerate(delays):
        node.push("delays", b"%d" % i, not_before=now + delay)
    got = []
    while len(got) < len(delays):
        batch = node.pull("delays", timeout=5, lease=30)
        assert batch, "a delayed message was lost"
        for delivery in batch:
            got.append((time.time() - now, delivery.body))
            assert node.ack(delivery)
    order = [body for _, body in got]
    assert order == [b"4", b"1", b"3", b"2", b"0"]
    for arrived, body in got:
        assert arrived >= delays[int(body)] - 0.01, "delivered before its time"
    assert node.pull("delays", timeout=0.5, lease=30) == [], "a delayed message came twice"


@pytest.fixture
def short_consumer_timeout() -> Iterator[float]:
    """RabbitMQ's consumer_timeout at 2 s (checked every 0.5 s) for one test, then restored.

    The setting is the broker's own (``rabbitmqctl environment``), read when a channel
    opens, so only channels opened during the test see it.
    """

    def get(key: str) -> str:
        return rabbitmqctl("eval", f"application:get_env(rabbit, {key}).").strip()

    before = {key: get(key) for key in ("consumer_timeout", "channel_tick_interval")}
    rabbitmqctl(
        "eval",
        "application:set_env(rabbit, consumer_timeout, 2000), "
        "application:set_env(rabbit, channel_tick_interval, 500).",
    )
    try:
        yield 2.0
    finally:
        for key, value in before.items():
            if value.startswith("{ok,"):
                rabbitmqctl("eval", f"application:set_env(rabbit, {key}, {value[4:-1]}).")
            else:
                rabbitmqctl("eval", f"application:unset_env(rabbit, {key}).")


def hold(node: EventNode, delivery: Delivery, seconds: float, lease: float) -> list[bool]:
    """Renew like a minion's keeper (every third of the lease) for ``seconds``."""
    renewed = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(lease / 3)
        renewed.extend(node.renew([delivery], lease))
    return renewed


def test_consumer_timeout_takes_a_delivery_held_unparked(
    rabbit_url: str, namespace: str, short_consumer_timeout: float
) -> None:
    """What parking prevents: RabbitMQ closes the channel, and the message goes to another."""
    with (
        KombuEventNode(rabbit_url, namespace=namespace, park_after=None) as slow,
        KombuEventNode(rabbit_url, namespace=namespace) as other,
    ):
        slow.push("long", b"long task")
        [delivery] = slow.pull("long", timeout=5, lease=1.0)
        hold(slow, delivery, short_consumer_timeout * 2.5, lease=1.0)
        assert slow.ack(delivery) is False, "the broker took the delivery back"
        [again] = other.pull("long", timeout=5, lease=30)
        assert (again.body, again.delivery_count) == (b"long task", 2)
        assert other.ack(again)


@pytest.mark.parametrize("given", ["argument", "url"])
def test_a_parked_delivery_outlives_consumer_timeout(
    rabbit_url: str, namespace: str, short_consumer_timeout: float, given: str
) -> None:
    """``park_after`` from Python, or from the URL an operator gives ``--broker`` (through
    ``arbiter.connect``, as a minion builds its node)."""
    worker_node: EventNode
    if given == "argument":
        worker_node = KombuEventNode(rabbit_url, namespace=namespace, park_after=0.5)
    else:
        state = f"memory://{uuid.uuid4().hex}"
        worker_node = arbiter.connect(
            f"{rabbit_url}?park_after=0.5", namespace=namespace, state_url=state
        )
    with (
        worker_node as worker,
        KombuEventNode(rabbit_url, namespace=namespace) as other,
    ):
        worker.push("long", b"long task")
        [delivery] = worker.pull("long", timeout=5, lease=1.0)
        renewed = hold(worker, delivery, short_consumer_timeout * 2.5, lease=1.0)
        assert all(renewed)
        assert other.pull("long", timeout=0.5, lease=30) == [], "redelivered while held"
        assert worker.queue_size("long") == 1
        assert worker.ack(delivery) is True
        assert other.pull("long", timeout=2.5, lease=30) == [], "came back after its ack"
        assert worker.queue_size("long") == 0


def test_a_parked_lease_of_a_dead_holder_comes_back_after_the_lease(
    rabbit_url: str, namespace: str
) -> None:
    with KombuEventNode(rabbit_url, namespace=namespace, park_after=0.0) as other:
        holder = KombuEventNode(rabbit_url, namespace=namespace, park_after=0.0)
        holder.push("parked", b"job")
        [delivery] = holder.pull("parked", timeout=5, lease=1.0)
        assert holder.renew([delivery], 1.0) == [True]  # parked now
        died_at = time.monotonic()
        holder._held.clear()  # the process "dies": nothing of its own gives it back
        holder.close()
        [back] = other.pull("parked", timeout=15, lease=30)
        assert time.monotonic() - died_at >= 1.0, "came back before the lease ran out"
        assert (back.body, back.delivery_count, back.message_id) == (
            b"job",
            2,
            delivery.message_id,
        )
        assert other.ack(back)
