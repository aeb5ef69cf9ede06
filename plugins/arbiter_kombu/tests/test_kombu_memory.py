"""The conformance suite on ``kombu+memory://`` (composed with a memory state store), and
what needs no server: URLs, schemes, the refusal without a state store."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from arbiter_kombu.leases import PARK_AFTER
from arbiter_kombu.node import KombuEventNode, kombu_url
from arbiter_kombu.plugin import KOMBU_TRANSPORTS, schemes
from arbiter_kombu.url_options import DEFAULT_PARKING, parking

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


@pytest.mark.parametrize(
    ("url", "left", "seconds"),
    [
        ("amqp://h//?park_after=60", "amqp://h//", 60.0),
        ("amqp://h//?heartbeat=10&park_after=0.5", "amqp://h//?heartbeat=10", 0.5),
        ("amqp://h//?park_after=off", "amqp://h//", None),
        ("amqp://h//?heartbeat=10", "amqp://h//?heartbeat=10", PARK_AFTER),
        ("amqp://h//", "amqp://h//", PARK_AFTER),
    ],
)
def test_park_after_from_the_url(url: str, left: str, seconds: float | None) -> None:
    assert parking(url, DEFAULT_PARKING) == (left, seconds)


@pytest.mark.parametrize(
    ("url", "given", "error"),
    [
        ("amqp://h//?park_after=soon", DEFAULT_PARKING, "park_after='soon' is not a number"),
        ("amqp://h//?park_after=-1", DEFAULT_PARKING, "seconds >= 0"),
        ("amqp://h//?park_after=nan", DEFAULT_PARKING, "seconds >= 0"),
        ("amqp://h//?park_after=1&park_after=2", DEFAULT_PARKING, "given 2 times"),
        ("amqp://h//?park_after=1", 5.0, "both in the URL and as an argument"),
    ],
)
def test_bad_park_after_is_refused(url: str, given: float, error: str) -> None:
    with pytest.raises(ConfigurationError, match=error):
        parking(url, given)


def test_park_after_argument_is_checked() -> None:
    with pytest.raises(ValueError, match="park_after must be seconds >= 0"):
        parking("amqp://h//", -3.0)
    assert parking("amqp://h//", None) == ("amqp://h//", None)


def test_a_memory_url_takes_park_after_too() -> None:
    """Stripped before the URL is checked, though a virtual transport never parks."""
    with KombuEventNode(memory_url() + "?park_after=5") as node:
        node.push("q", b"x")
        assert node.queue_size("q") == 1


def test_password_is_masked() -> None:
    with KombuEventNode("kombu+memory://masked") as node:
        assert node.url == "kombu+memory://masked"
    node = KombuEventNode("amqp://user:secret@127.0.0.1:1//")  # never connects until used
    try:
        assert "secret" not in node.url and "***" in node.url
    finally:
        node.close()
