"""connect(): the URL (or configuration) picks the backend; a state URL composes two nodes."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

import arbiter
from arbiter_core.config import SETTING_NAMES, env_var
from arbiter_core.errors import ConfigurationError
from arbiter_core.node import BROADCAST, QUEUE, STATE, ComposedNode, EventNode, NoStateStore
from arbiter_core.plugins import PluginRegistry, hookimpl
from arbiter_core.settings import Settings
from arbiter_local.memory import MemoryEventNode


class QueueOnlyNode(NoStateStore, MemoryEventNode):
    """A broker with queues and broadcast but no state store, like RabbitMQ."""

    capabilities = frozenset({BROADCAST, QUEUE})


class StateOnlyNode(MemoryEventNode):
    capabilities = frozenset({STATE})


class Backends:
    """``queues://``, ``state://`` and ``mem://`` (all in-process), remembering what they built."""

    def __init__(self) -> None:
        self.built: list[tuple[str, Settings, EventNode]] = []
        self.broker = f"memory://{uuid.uuid4().hex}"

    def _make(self, cls: type[MemoryEventNode]) -> Any:
        def factory(url: str, settings: Settings) -> EventNode:
            node = cls(self.broker, namespace=settings.namespace)
            self.built.append((url, settings, node))
            return node

        return factory

    @hookimpl
    def arbiter_node_schemes(self) -> dict[str, Any]:
        return {
            "queues": self._make(QueueOnlyNode),
            "state": self._make(StateOnlyNode),
            "mem": self._make(MemoryEventNode),
        }


@pytest.fixture(autouse=True)
def clean_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ARBITER_* variable or config file of the developer's leaks into these tests."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(env_var(name), raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def backends() -> Backends:
    return Backends()


@pytest.fixture
def registry(backends: Backends) -> PluginRegistry:
    registry = PluginRegistry(entry_points=[])
    registry.register(backends, name="test-backends")
    return registry


def test_connect_with_nothing_configured_is_the_embedded_memory_broker() -> None:
    with arbiter.connect() as node:
        assert isinstance(node, MemoryEventNode)
        assert node.url == "memory://"
        assert node.namespace == "arbiter"


def test_the_environment_picks_the_broker_with_no_code_change(
    monkeypatch: pytest.MonkeyPatch, registry: PluginRegistry, backends: Backends
) -> None:
    monkeypatch.setenv("ARBITER_BROKER_URL", "mem://from-env")
    monkeypatch.setenv("ARBITER_NAMESPACE", "shop")
    with arbiter.connect(registry=registry) as node:
        assert node.namespace == "shop"
    [(url, settings, _)] = backends.built
    assert url == "mem://from-env"
    assert settings.broker_url == "mem://from-env"


def test_an_explicit_url_and_settings_win(
    monkeypatch: pytest.MonkeyPatch, registry: PluginRegistry, backends: Backends
) -> None:
    monkeypatch.setenv("ARBITER_BROKER_URL", "nope://")
    with arbiter.connect("mem://", registry=registry, namespace="mine", lease=5) as node:
        assert node.namespace == "mine"
    assert backends.built[0][1].lease == 5.0


def test_a_state_url_composes_the_broker_with_another_state_store(
    registry: PluginRegistry, backends: Backends
) -> None:
    node = arbiter.connect("queues://", state_url="state://", registry=registry)
    with node:
        assert isinstance(node, ComposedNode)
        assert {BROADCAST, QUEUE, STATE} <= node.capabilities
        assert [url for url, _, _ in backends.built] == ["queues://", "state://"]
    broker, state = (n for _, _, n in backends.built)
    with pytest.raises(Exception, match="closed"):
        broker.queue_size("q")
    with pytest.raises(Exception, match="closed"):
        state.get("k")


def test_a_state_url_equal_to_the_broker_url_opens_one_node(
    registry: PluginRegistry, backends: Backends
) -> None:
    with arbiter.connect("mem://", state_url="mem://", registry=registry) as node:
        assert isinstance(node, MemoryEventNode)
    assert len(backends.built) == 1


def test_a_broker_without_a_state_store_needs_a_state_url(
    registry: PluginRegistry, backends: Backends
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        arbiter.connect("queues://", registry=registry)
    assert "state_url" in str(caught.value)
    assert "ARBITER_STATE_URL" in str(caught.value)
    [(_, _, broker)] = backends.built
    with pytest.raises(Exception, match="closed"):
        broker.queue_size("q")  # connect closed what it opened


def test_a_node_without_queues_cannot_be_the_broker(
    registry: PluginRegistry, backends: Backends
) -> None:
    with pytest.raises(ConfigurationError, match="use it as state_url"):
        arbiter.connect("state://", registry=registry)


def test_a_failing_state_node_closes_the_broker(
    registry: PluginRegistry, backends: Backends
) -> None:
    with pytest.raises(ConfigurationError, match="no installed plugin serves nowhere://"):
        arbiter.connect("queues://", state_url="nowhere://", registry=registry)
    [(_, _, broker)] = backends.built
    with pytest.raises(Exception, match="closed"):
        broker.queue_size("q")


def test_a_misspelt_setting_is_a_type_error_with_a_suggestion() -> None:
    with pytest.raises(TypeError, match="did you mean 'namespace'"):
        arbiter.connect(namespase="x")


def test_load_settings_is_part_of_the_public_api() -> None:
    assert arbiter.load_settings(namespace="x").namespace == "x"
