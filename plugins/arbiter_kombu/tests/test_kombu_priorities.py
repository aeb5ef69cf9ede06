"""Priorities on RabbitMQ with ``?max_priority=9``: the whole contract with the option on,
the level through what only RabbitMQ does (a broker redelivery, a parked lease), the
refusal of a queue made with the other setting, and the option's own checks."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from arbiter_kombu.node import KombuEventNode

import arbiter
from arbiter_core.client import Arbiter
from arbiter_core.conformance import EventNodeContract
from arbiter_core.errors import BrokerError, ConfigurationError
from arbiter_core.minion import Minion
from arbiter_core.node import PRIORITY, ComposedNode, EventNode
from arbiter_redis import RedisEventNode

pytestmark = pytest.mark.real_broker

OPTION = "max_priority=9"


def with_option(url: str) -> str:
    return f"{url}?{OPTION}"


@pytest.fixture
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


class TestRabbitMQPriorityContract(EventNodeContract):
    """Every guarantee (not only the priority ones) on queues with ``x-max-priority``."""

    @pytest.fixture
    def node_factory(
        self, rabbit_url: str, throwaway_redis: str, namespace: str
    ) -> Callable[[], EventNode]:
        def connect() -> EventNode:
            broker = KombuEventNode(
                with_option(rabbit_url), namespace=namespace, max_deliveries=self.max_deliveries
            )
            assert PRIORITY in broker.capabilities
            return ComposedNode(broker, RedisEventNode(url=throwaway_redis, namespace=namespace))

        return connect


@pytest.fixture
def node(rabbit_url: str, namespace: str) -> Iterator[KombuEventNode]:
    with KombuEventNode(rabbit_url, namespace=namespace, max_priority=9) as node:
        yield node


def flood(node: EventNode, queue: str, count: int = 20) -> None:
    for i in range(count):
        node.push(queue, b"low%d" % i)


def test_without_the_option_there_is_no_priority_capability(rabbit_url: str) -> None:
    with KombuEventNode(rabbit_url) as node:
        assert PRIORITY not in node.capabilities


def test_a_broker_redelivery_keeps_the_level(rabbit_url: str, namespace: str) -> None:
    """The holder's connection dies: RabbitMQ requeues the message itself (redelivered)."""
    with KombuEventNode(rabbit_url, namespace=namespace, max_priority=9) as other:
        holder = KombuEventNode(rabbit_url, namespace=namespace, max_priority=9)
        holder.push("crash", b"urgent", priority=7)
        [delivery] = holder.pull("crash", timeout=5, lease=30)
        flood(other, "crash")
        holder._held.clear()  # the process "dies": its connection closes, nothing released
        holder.close()
        [again] = other.pull("crash", timeout=5, lease=30)
        assert (again.body, again.delivery_count) == (b"urgent", 2)
        assert again.message_id == delivery.message_id
        assert other.ack(again)


def test_a_spent_redelivery_is_buried_with_its_level(rabbit_url: str, namespace: str) -> None:
    with KombuEventNode(rabbit_url, namespace=namespace, max_priority=9, max_deliveries=1) as n:
        holder = KombuEventNode(rabbit_url, namespace=namespace, max_priority=9)
        holder.push("spent", b"urgent", priority=3)
        holder.pull("spent", timeout=5, lease=30)
        holder._held.clear()
        holder.close()
        assert n.pull("spent", timeout=0.5, lease=30) == []
        [letter] = n.dead_letters("spent")
        assert (letter.body, letter.priority) == (b"urgent", 3)


def test_a_parked_lease_of_a_dead_holder_comes_back_at_its_level(
    rabbit_url: str, namespace: str
) -> None:
    """The lease queue dead-letters into the work queue: the property comes along."""
    with KombuEventNode(rabbit_url, namespace=namespace, max_priority=9) as other:
        holder = KombuEventNode(rabbit_url, namespace=namespace, max_priority=9, park_after=0.0)
        holder.push("parked", b"urgent", priority=5)
        [delivery] = holder.pull("parked", timeout=5, lease=1.0)
        assert holder.renew([delivery], 1.0) == [True]  # parked now
        flood(other, "parked")
        holder._held.clear()
        holder.close()
        deadline = time.monotonic() + 15  # the lease plus PARK_MARGIN, then it is back
        while other.queue_stats("parked").ready < 21:
            assert time.monotonic() < deadline, "the parked message did not come back"
            time.sleep(0.1)
        [back] = other.pull("parked", timeout=5, lease=30)
        assert (back.body, back.delivery_count) == (b"urgent", 2)
        assert other.ack(back)


def test_a_queue_made_without_the_option_is_refused_saying_what_to_do(
    rabbit_url: str, namespace: str
) -> None:
    with (
        KombuEventNode(rabbit_url, namespace=namespace) as plain,
        KombuEventNode(rabbit_url, namespace=namespace, max_priority=9) as leveled,
    ):
        plain.push("old", b"made without x-max-priority")
        for call in (
            lambda: leveled.push("old", b"x", priority=5),
            lambda: leveled.pull("old", timeout=0, lease=30),
        ):
            with pytest.raises(ConfigurationError) as caught:
                call()
            assert isinstance(caught.value, BrokerError), "a minion backs off and retries"
            message = str(caught.value)
            assert "'old'" in message and "x-max-priority" in message, message
            assert "drop max_priority" in message and "rabbitmqctl delete_queue" in message
        leveled.push("new", b"fine", priority=5)  # the node still works on other queues
        assert [d.body for d in leveled.pull("new", timeout=5, lease=30)] == [b"fine"]
        with pytest.raises(ConfigurationError, match=r"add \?max_priority=9"):
            plain.push("new", b"the other way round")
        assert plain.queue_size("old") == 1, "nothing lost"


def test_after_drain_and_delete_the_queue_takes_the_option(rabbit_url: str, namespace: str) -> None:
    """The upgrade path of docs/priorities.md, with the node's own calls."""
    with KombuEventNode(rabbit_url, namespace=namespace) as plain:
        plain.push("move", b"old")
        [old] = plain.pull("move", timeout=5, lease=30)
        assert plain.ack(old)  # drained
        ready = plain._names.ready("move")
        plain._attempt(plain._main, "delete", lambda channel: channel.queue_delete(queue=ready))
    with KombuEventNode(rabbit_url, namespace=namespace, max_priority=9) as leveled:
        flood(leveled, "move", 3)
        leveled.push("move", b"urgent", priority=9)
        assert leveled.pull("move", timeout=5, lease=30)[0].body == b"urgent"


@pytest.mark.parametrize("value", ["4", "10", "0", "yes", ""])
def test_a_bad_max_priority_in_the_url_is_refused_naming_it(rabbit_url: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=f"max_priority={value!r}"):
        KombuEventNode(f"{rabbit_url}?max_priority={value}")


def test_max_priority_as_argument_and_in_the_url_is_refused(rabbit_url: str) -> None:
    with pytest.raises(ConfigurationError, match="both in the URL and as an argument"):
        KombuEventNode(with_option(rabbit_url), max_priority=9)
    with pytest.raises(ConfigurationError, match="max_priority=5"):
        KombuEventNode(rabbit_url, max_priority=5)
    with pytest.raises(ConfigurationError, match="given 2 times"):
        KombuEventNode(f"{with_option(rabbit_url)}&{OPTION}")


def test_max_priority_on_a_virtual_transport_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="max_priority needs RabbitMQ"):
        KombuEventNode("kombu+memory://", max_priority=9)


def test_a_minion_serves_the_higher_level_first(
    rabbit_url: str, throwaway_redis: str, namespace: str
) -> None:
    """End to end through the URL an operator gives ``--broker``."""
    with (
        arbiter.connect(
            with_option(rabbit_url), state_url=throwaway_redis, namespace=namespace
        ) as node,
        Arbiter(node) as client,
    ):
        assert PRIORITY in node.capabilities
        app = Minion(node, queue="default")
        order: list[str] = []

        @app.task(name="mark")
        def mark(label: str) -> None:
            order.append(label)

        low = client.apply("mark", 30, task_args=["low"])
        high = client.apply("mark", task_args=["high"], priority=8)
        thread = threading.Thread(
            target=app.run, kwargs={"workers": 1, "handle_signals": False}, daemon=True
        )
        thread.start()
        try:
            assert len(list(client.wait_for_tasks([*low, *high], timeout=60))) == 31
        finally:
            app.stop()
            thread.join(timeout=30)
        assert order[0] == "high"
        assert order.count("low") == 30
