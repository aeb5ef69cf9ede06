"""The conformance suite on ``kombu+memory://`` (composed with a memory state store), and
what needs no server: URLs, schemes, the refusal without a state store."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from arbiter_kombu.node import KombuEventNode, kombu_url
from arbiter_kombu.plugin import KOMBU_TRANSPORTS, schemes

import arbiter
from arbiter_core.conformance import EventNodeContract
from arbiter_core.errors import ConfigurationError, UnsupportedOperationError
from arbiter_core.node import BROADCAST, CROSS_PROCESS, QUEUE, ComposedNode, EventNode, Record
from arbiter_local.memory import MemoryEventNode


def memory_url() -> str:
    return f"kombu+memory://{uuid.uuid4().hex}"


class TestKombuMemoryContract(EventNodeContract):
    """Every guarantee on kombu's in-process transport, with a memory state store.

    kombu's virtual transports poll (kombu's ``polling_interval``, 10 ms here), so a
    blocked pull wakes within that rather than at once; the prompt bound allows it.
    """

    lease = 0.3
    settle = 0.1
    ttl = 0.15

    @pytest.fixture
    def node_factory(self) -> Callable[[], EventNode]:
        broker_url, state_url = memory_url(), f"memory://{uuid.uuid4().hex}"

        def connect() -> EventNode:
            return ComposedNode(
                KombuEventNode(broker_url, namespace="t", max_deliveries=self.max_deliveries),
                MemoryEventNode(state_url, namespace="t"),
            )

        return connect


def test_the_node_alone_serves_queues_and_broadcast_only() -> None:
    with KombuEventNode(memory_url()) as node:
        assert node.capabilities == frozenset({BROADCAST, QUEUE})
        assert CROSS_PROCESS not in node.capabilities, "kombu's memory transport is one process"
        node.push("q", b"queues work")
        with pytest.raises(UnsupportedOperationError, match="ARBITER_STATE_URL"):
            node.transition("k", Record("queued", b""), ttl=10)


def test_connect_without_a_state_url_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARBITER_STATE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="ARBITER_STATE_URL"):
        arbiter.connect(memory_url())


def test_connect_composes_it_with_the_state_url() -> None:
    state = f"memory://{uuid.uuid4().hex}"
    with arbiter.connect(memory_url(), state_url=state) as node:
        assert isinstance(node, ComposedNode)
        assert isinstance(node.broker, KombuEventNode)
        assert node.transition("k", Record("queued", b""), ttl=10)[0]


def test_schemes_cover_kombus_transport_aliases() -> None:
    from kombu.transport import TRANSPORT_ALIASES

    assert set(KOMBU_TRANSPORTS) == {alias.lower() for alias in TRANSPORT_ALIASES}
    served = schemes()
    assert {"amqp", "amqps", "kombu+memory"} <= set(served)
    assert all(ref == "arbiter_kombu.node:create_node" for ref in served.values())


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("amqp://u:p@h:5672/v", ("amqp://u:p@h:5672/v", "")),
        ("amqps://h//", ("amqps://h//", "")),
        ("kombu+memory://", ("memory://", "")),
        ("kombu+memory://name", ("memory://", "name")),
        ("kombu+redis://h:6379/0", ("redis://h:6379/0", "")),
    ],
)
def test_urls(url: str, expected: tuple[str, str]) -> None:
    assert kombu_url(url) == expected


@pytest.mark.parametrize("url", ["kombu+://x", "kombu+memory://a/b", "kombu+memory://n?x=1"])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError):
        kombu_url(url)


def test_password_is_masked() -> None:
    with KombuEventNode("kombu+memory://masked") as node:
        assert node.url == "kombu+memory://masked"
    node = KombuEventNode("amqp://user:secret@127.0.0.1:1//")  # never connects until used
    try:
        assert "secret" not in node.url and "***" in node.url
    finally:
        node.close()
