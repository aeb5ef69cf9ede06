"""On a composed node (queues on one broker, records on another) every burial ends its task.

A Minion and an Arbiter on ``ComposedNode(memory broker, memory state)``, built by
``connect(url, state_url=...)`` as an application would: the broker keeps no records,
so the composed node binds each message to its record in the body, and ends the record
itself when the message is refused by the minion or spent on the broker.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from arbiter_core import records
from arbiter_core.client import Arbiter
from arbiter_core.connect import connect
from arbiter_core.minion import Minion
from arbiter_core.node import ComposedNode, EventNode
from arbiter_local.memory import MemoryEventNode
from tests.distributed.conftest import LEASE, running
from tests.distributed.test_bad_messages import assert_dead, push_bound


@pytest.fixture
def urls() -> tuple[str, str]:
    return f"memory://broker-{uuid.uuid4().hex[:10]}", f"memory://state-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def composed_factory(
    urls: tuple[str, str], namespace: str
) -> Iterator[Callable[..., ComposedNode]]:
    opened: list[EventNode] = []

    def make(**settings: Any) -> ComposedNode:
        node = connect(urls[0], state_url=urls[1], namespace=namespace, lease=LEASE, **settings)
        opened.append(node)
        assert isinstance(node, ComposedNode) and node.buries_records
        return node

    yield make
    for node in opened:
        node.close()


def work_minion(node: EventNode) -> Minion:
    minion = Minion(node, lease=LEASE)

    @minion.task(name="work")
    def work() -> int:
        return 1

    return minion


def test_a_spent_message_ends_its_record_and_wakes_the_wait(
    composed_factory: Callable[..., ComposedNode], urls: tuple[str, str], namespace: str
) -> None:
    arbiter = Arbiter(composed_factory(max_deliveries=2), lease=LEASE)
    [task_id] = arbiter.apply("work")
    with MemoryEventNode(urls[0], namespace=namespace, max_deliveries=2) as raw:
        for _ in range(2):  # two "minions" on the broker lease it and die
            assert raw.pull("default", timeout=5, lease=0.2)
    started = threading.Event()
    waited: list[dict[str, Any]] = []

    def wait() -> None:
        started.set()
        waited.extend(arbiter.wait_for_tasks([task_id], timeout=10))

    waiter = threading.Thread(target=wait)
    waiter.start()
    started.wait()
    # The minion's first pull finds the last lease run out and the message spent.
    with running(work_minion(composed_factory(max_deliveries=2)), workers=1):
        waiter.join(4)  # the resync would take RESYNC_INTERVAL (5 s): the event wakes it first
    assert not waiter.is_alive(), "the wait was not woken by the burial"
    [status] = waited
    assert_dead(status, "delivered 2 times")
    assert status["name"] == "work", "what the record held is kept"
    assert arbiter.status(task_id)["state"] == records.DEAD
    arbiter.close()


def test_a_refused_message_ends_its_record_and_wakes_the_wait(
    composed_factory: Callable[..., ComposedNode],
) -> None:
    """Garbage: the minion cannot read a task id from it, so only the binding ends it."""
    arbiter = Arbiter(composed_factory(), lease=LEASE)
    bad = "garbage" + "0" * 25
    push_bound(arbiter, b"\x00not a frame", bad)
    with running(work_minion(composed_factory()), workers=1):
        [dead] = arbiter.wait_for_tasks([bad], timeout=10)
        [good] = arbiter.wait_for_tasks(arbiter.apply("work"), timeout=10)
    assert_dead(dead, "bad magic")
    assert good["result"] == 1, "the minion serves on"
    [letter] = arbiter.node.dead_letters("default")
    assert letter.record == records.task_key(bad) and letter.body == b"\x00not a frame"
    assert "bad magic" in letter.reason
    arbiter.close()
