"""Redis specifics of burial: the record shares the queue's slot, and a message whose
delivery metadata is unreadable is dead-lettered instead of left behind for ever."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from arbiter_core.conformance import Inbox
from arbiter_core.node import BURIED_EVENT, DEAD, Record, buried_data
from arbiter_redis import RedisEventNode


@pytest.fixture
def nodes(redis_url: str, redis_namespace: str) -> Iterator[Callable[..., RedisEventNode]]:
    opened: list[RedisEventNode] = []

    def open_node(**kwargs: Any) -> RedisEventNode:
        node = RedisEventNode(url=redis_url, namespace=redis_namespace, **kwargs)
        opened.append(node)
        return node

    yield open_node
    for node in opened:
        node.close()


def message_keys(node: RedisEventNode, queue: str, message_id: str) -> tuple[bool, bool]:
    keys = node.keys.queue(queue)
    return (
        bool(node.client.hexists(keys.body, message_id)),
        bool(node.client.hexists(keys.meta, message_id)),
    )


@pytest.mark.real_broker
@pytest.mark.parametrize("meta", ["garbage", "", "x|y|z"])
def test_a_ready_message_with_unreadable_meta_is_dead_lettered(
    nodes: Callable[..., RedisEventNode], meta: str
) -> None:
    node = nodes()
    message_id = node.push("q", b"body")
    node.client.hset(node.keys.queue("q").meta, message_id, meta)
    assert node.pull("q", timeout=0, lease=10) == []
    assert message_keys(node, "q", message_id) == (False, False), "nothing left behind"
    [letter] = node.dead_letters("q")
    assert (letter.message_id, letter.body) == (message_id, b"body")
    assert "metadata" in letter.reason
    assert node.queue_size("q") == 0


@pytest.mark.real_broker
def test_a_leased_message_whose_meta_breaks_is_dead_lettered_when_its_lease_ends(
    nodes: Callable[..., RedisEventNode],
) -> None:
    node = nodes()
    message_id = node.push("q", b"body")
    assert node.pull("q", timeout=5, lease=0.1)
    node.client.hset(node.keys.queue("q").meta, message_id, "broken")
    time.sleep(0.2)
    assert node.pull("q", timeout=0, lease=10) == []
    assert message_keys(node, "q", message_id) == (False, False)
    assert [d.message_id for d in node.dead_letters("q")] == [message_id]


@pytest.mark.real_broker
def test_an_id_with_no_message_at_all_is_just_dropped(
    nodes: Callable[..., RedisEventNode],
) -> None:
    node = nodes()
    node.client.lpush(node.keys.queue("q").ready, "ghost")
    assert node.pull("q", timeout=0, lease=10) == []
    assert node.dead_letters("q") == [], "no body: nothing to keep"


@pytest.mark.real_broker
def test_burial_ends_the_record_and_publishes_on_the_namespace_channel(
    nodes: Callable[..., RedisEventNode],
) -> None:
    node, listener = nodes(max_deliveries=1), nodes()
    inbox = Inbox()
    listener.subscribe(BURIED_EVENT, inbox)
    node.transition_and_push(
        "task:t1", Record("queued", b"data"), ttl=60, expect=[None], queue="q", body=b"m"
    )
    assert node.pull("q", timeout=5, lease=0.1)
    time.sleep(0.2)
    assert node.pull("q", timeout=0, lease=10) == []  # the lease ran out: spent, buried
    reason = node.dead_letters("q")[0].reason
    assert node.get("task:t1") == Record(DEAD, buried_data(reason, b"data"))
    assert node.client.pttl(node.keys.record("task:t1")) > 50_000, "its expiry is kept"
    assert node.client.hget(node.keys.record("task:t1"), "write") == b"", "write id cleared"
    assert inbox.wait_for(1, 5) and inbox.payloads == [b"task:t1"]
