"""The whole EventNode contract on a third kombu transport, ``kombu+redis://``: kombu's
virtual Redis transport (polling, no publisher confirms), not arbiter's own Redis node,
on a redis-server of the session's own, with the records on that server too."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from arbiter_kombu.node import KombuEventNode

from arbiter_core.conformance import EventNodeContract
from arbiter_core.node import CROSS_PROCESS, PERSISTENT, ComposedNode, EventNode
from arbiter_redis import RedisEventNode


class TestKombuRedisTransportContract(EventNodeContract):
    """kombu's virtual transports poll (``polling_interval``), so a blocked pull wakes
    within that rather than at once; the prompt bound allows it."""

    lease = 0.3
    settle = 0.1
    ttl = 0.15

    @pytest.fixture
    def node_factory(self, throwaway_redis: str) -> Callable[[], EventNode]:
        namespace = f"t{uuid.uuid4().hex[:10]}"
        broker_url = "kombu+" + throwaway_redis

        def connect() -> EventNode:
            return ComposedNode(
                KombuEventNode(broker_url, namespace=namespace, max_deliveries=self.max_deliveries),
                RedisEventNode(url=throwaway_redis, namespace=namespace),
            )

        return connect


def test_kombus_redis_transport_is_cross_process_but_not_native(throwaway_redis: str) -> None:
    with KombuEventNode("kombu+" + throwaway_redis) as node:
        assert CROSS_PROCESS in node.capabilities
        assert PERSISTENT not in node.capabilities, "no publisher confirms on a virtual transport"
