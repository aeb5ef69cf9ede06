"""The plugin registry: entry-point loading, broken plugins, schemes, pools and observers."""

from __future__ import annotations

import logging
import sys
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pluggy
import pytest
from plugin_support import arbiter_entry_points, make_distribution, unique_module

from arbiter_core.errors import ConfigurationError
from arbiter_core.node import EventNode
from arbiter_core.plugins import (
    ENTRY_POINT_GROUP,
    PluginRegistry,
    default_registry,
    hookimpl,
    url_scheme,
)
from arbiter_core.settings import Settings
from arbiter_local.memory import MemoryEventNode


class MemoryAlias:
    """A plugin object serving ``alias://`` with a callable factory (no import needed)."""

    def __init__(self, scheme: str = "alias") -> None:
        self.scheme = scheme
        self.calls: list[tuple[str, Settings]] = []

    def create(self, url: str, settings: Settings) -> EventNode:
        self.calls.append((url, settings))
        return MemoryEventNode("memory://plugins-test", namespace=settings.namespace)

    @hookimpl
    def arbiter_node_schemes(self) -> dict[str, Any]:
        return {self.scheme: self.create}


def empty_registry() -> PluginRegistry:
    return PluginRegistry(entry_points=[])


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on sys.path for fake plugin distributions and their modules."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder


# --- the installed plugins -------------------------------------------------------------------


def test_the_installed_local_plugin_provides_memory_and_the_pools() -> None:
    registry = PluginRegistry()
    memory = registry.schemes()["memory"]
    assert memory.factory_ref == "arbiter_local.memory.node:create_node"
    assert (memory.plugin_name, memory.distribution) == ("local", "arbiter-tasks")
    assert memory.origin.startswith("arbiter-tasks ")
    assert {"thread", "process"} <= set(registry.pools())
    assert registry.broken() == []
    assert ENTRY_POINT_GROUP == "arbiter"


def test_the_default_registry_is_one_cached_instance_and_registries_are_independent() -> None:
    assert default_registry() is default_registry()
    mine = empty_registry()
    mine.register(MemoryAlias(), name="alias")
    assert "alias" in mine.schemes()
    assert "alias" not in default_registry().schemes()


def test_create_node_builds_memory_through_the_entry_point() -> None:
    with PluginRegistry().create_node("memory://", Settings(namespace="plug")) as node:
        assert isinstance(node, MemoryEventNode)
        assert node.namespace == "plug"


def test_create_pool_builds_the_thread_pool_from_a_lazy_reference() -> None:
    pool = PluginRegistry().create_pool("thread", 2)
    try:
        assert pool.slots == 2
        future: Future[Any] = pool.submit(sum, ([1, 2, 3],))
        assert future.result(timeout=5) == 6
    finally:
        pool.shutdown()


# --- schemes ----------------------------------------------------------------------------------


def test_a_callable_factory_receives_the_url_and_the_settings() -> None:
    plugin = MemoryAlias()
    registry = empty_registry()
    registry.register(plugin, name="alias")
    settings = Settings(namespace="ns1")
    with registry.create_node("ALIAS://somewhere", settings) as node:
        assert node.namespace == "ns1"
    assert plugin.calls == [("ALIAS://somewhere", settings)]
    assert registry.schemes()["alias"].origin == "(registered in code)"


def test_a_lazy_reference_is_imported_only_when_its_scheme_is_used(site: Path) -> None:
    module = unique_module("lazy_backend")
    (site / f"{module}.py").write_text(
        "from arbiter_local.memory import MemoryEventNode\n"
        "def create(url, settings):\n"
        "    return MemoryEventNode('memory://lazy', namespace=settings.namespace)\n"
    )

    class Lazy:
        @hookimpl
        def arbiter_node_schemes(self) -> dict[str, str]:
            return {"lazy": f"{module}:create"}

    registry = empty_registry()
    registry.register(Lazy(), name="lazy")
    assert registry.schemes()["lazy"].factory_ref == f"{module}:create"
    assert module not in sys.modules
    with registry.create_node("lazy://", Settings()) as node:
        assert isinstance(node, MemoryEventNode)
    assert module in sys.modules


def test_an_unknown_scheme_lists_the_installed_ones_and_suggests_the_closest() -> None:
    registry = empty_registry()
    registry.register(MemoryAlias("memory"), name="mem")
    with pytest.raises(ConfigurationError) as caught:
        registry.create_node("memroy://x", Settings())
    message = str(caught.value)
    assert "memroy://" in message
    assert "did you mean memory://?" in message
    assert "Installed schemes: memory://" in message


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("redis://localhost:6379/0", "pip install 'arbiter-tasks[redis]'"),
        ("rediss://h", "pip install 'arbiter-tasks[redis]'"),
        ("unix:///tmp/redis.sock", "pip install 'arbiter-tasks[redis]'"),
        ("amqp://guest:guest@localhost//", "pip install arbiter-kombu"),
        ("amqps://h", "pip install arbiter-kombu"),
        ("pyamqp://h", "pip install arbiter-kombu"),
    ],
)
def test_a_well_known_scheme_that_is_not_installed_names_the_install_line(
    url: str, hint: str
) -> None:
    with pytest.raises(ConfigurationError, match=r"install its backend with") as caught:
        empty_registry().create_node(url, Settings())
    assert hint in str(caught.value)
    assert "guest:guest" not in str(caught.value)  # a URL's password is never echoed


@pytest.mark.parametrize("url", ["localhost:6379", "", "://x", "redis:/x"])
def test_a_string_that_is_not_a_url_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="not a broker URL"):
        url_scheme(url)


def test_a_factory_module_that_cannot_be_imported_names_the_plugin_and_the_module() -> None:
    class Missing:
        @hookimpl
        def arbiter_node_schemes(self) -> dict[str, str]:
            return {"gone": "arbiter_no_such_module.node:create_node"}

    registry = empty_registry()
    registry.register(Missing(), name="missing-plugin", distribution="missing-dist", version="2.0")
    with pytest.raises(ConfigurationError) as caught:
        registry.create_node("gone://", Settings())
    message = str(caught.value)
    assert "'missing-plugin' (missing-dist 2.0)" in message
    assert "arbiter_no_such_module" in message
    assert isinstance(caught.value.__cause__, ImportError)


@pytest.mark.parametrize(
    ("module", "hint"),
    [("redis", "pip install 'arbiter-tasks[redis]'"), ("kombu", "pip install arbiter-kombu")],
)
def test_a_missing_broker_client_names_the_extra_that_brings_it(module: str, hint: str) -> None:
    def factory(url: str, settings: Settings) -> EventNode:
        raise ModuleNotFoundError(f"No module named {module!r}", name=module)

    class NeedsClient:
        @hookimpl
        def arbiter_node_schemes(self) -> dict[str, Any]:
            return {"needs": factory}

    registry = empty_registry()
    registry.register(NeedsClient(), name="needs")
    with pytest.raises(ConfigurationError, match=r"install it with") as caught:
        registry.create_node("needs://", Settings())
    assert hint in str(caught.value)


def test_a_factory_that_returns_something_else_than_a_node_is_reported() -> None:
    class Wrong:
        @hookimpl
        def arbiter_node_schemes(self) -> dict[str, Any]:
            return {"wrong": lambda url, settings: object()}

    registry = empty_registry()
    registry.register(Wrong(), name="wrong")
    with pytest.raises(ConfigurationError, match="not an EventNode"):
        registry.create_node("wrong://", Settings())


def test_a_missing_attribute_in_a_lazy_reference_is_reported() -> None:
    class Typo:
        @hookimpl
        def arbiter_node_schemes(self) -> dict[str, str]:
            return {"typo": "arbiter_local.memory.node:create_nod"}

    registry = empty_registry()
    registry.register(Typo(), name="typo")
    with pytest.raises(ConfigurationError, match="has no attribute 'create_nod'"):
        registry.create_node("typo://", Settings())


def test_two_plugins_claiming_one_scheme_keep_the_first_and_report_the_second() -> None:
    registry = empty_registry()
    registry.register(MemoryAlias(), name="first")
    registry.register(MemoryAlias(), name="second")
    assert registry.schemes()["alias"].plugin_name == "first"
    [problem] = registry.broken()
    assert problem.name == "second"
    assert "already provided by plugin 'first'" in problem.error


def test_a_hook_that_raises_or_returns_garbage_is_reported_and_the_others_still_work() -> None:
    class Raises:
        @hookimpl
        def arbiter_node_schemes(self) -> dict[str, str]:
            raise RuntimeError("boom")

    class Garbage:
        @hookimpl
        def arbiter_node_schemes(self) -> Any:
            return ["not", "a", "dict"]

    class BadEntries:
        @hookimpl
        def arbiter_node_schemes(self) -> dict[Any, Any]:
            return {"x://": "m:f", "ok": 42, "nocolon": "module.only"}

    registry = empty_registry()
    for name, plugin in [("raises", Raises()), ("garbage", Garbage()), ("bad", BadEntries())]:
        registry.register(plugin, name=name)
    registry.register(MemoryAlias(), name="good")
    assert set(registry.schemes()) == {"alias"}
    assert {p.name for p in registry.broken()} == {"raises", "garbage", "bad"}
    errors = " | ".join(p.error for p in registry.broken())
    assert "RuntimeError: boom" in errors
    assert "returned list, not a dict" in errors
    assert "'x://' is not a valid name" in errors
    assert "neither callable nor" in errors
    assert "'module.only' is not a 'package.module:attribute' reference" in errors


# --- entry points -----------------------------------------------------------------------------


def test_a_plugin_that_fails_to_import_is_reported_by_name_and_the_others_load(
    site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good, bad = unique_module("good_plugin"), unique_module("bad_plugin")
    make_distribution(
        site,
        "arbiter-good",
        "1.2.3",
        {"good": good},
        {
            good: """
            from arbiter_core.plugins import hookimpl

            @hookimpl
            def arbiter_node_schemes():
                return {"good": "arbiter_local.memory.node:create_node"}
            """
        },
    )
    make_distribution(
        site,
        "arbiter-bad",
        "0.1",
        {"bad": bad},
        {bad: "raise ImportError('this plugin needs libfoo')\n"},
    )
    registry = PluginRegistry(arbiter_entry_points(site))
    with caplog.at_level(logging.WARNING, logger="arbiter.plugins"):
        schemes = registry.schemes()
    assert schemes["good"].distribution == "arbiter-good"
    assert schemes["good"].version == "1.2.3"
    [broken] = registry.broken()
    assert broken.name == "bad"
    assert broken.distribution == "arbiter-bad"
    assert "ImportError: this plugin needs libfoo" in broken.error
    assert "'bad'" in caplog.text
    assert [p.name for p in registry.plugins()] == ["good"]


def test_an_entry_point_whose_hooks_fail_validation_is_reported_and_the_others_load(
    site: Path,
) -> None:
    misspelt, bad_args = unique_module("misspelt"), unique_module("bad_args")
    make_distribution(
        site,
        "arbiter-misspelt",
        "1.0",
        {"misspelt": misspelt},
        {
            misspelt: """
            from arbiter_core.plugins import hookimpl

            @hookimpl
            def arbiter_node_scheme():
                return {}
            """
        },
    )
    make_distribution(
        site,
        "arbiter-wrong-args",
        "1.0",
        {"wrong-args": bad_args},
        {
            bad_args: """
            from arbiter_core.plugins import hookimpl

            @hookimpl
            def arbiter_task_started(task_idd):
                pass
            """
        },
    )
    registry = PluginRegistry(arbiter_entry_points(site))
    registry.register(MemoryAlias(), name="alias")
    errors = {p.name: p.error for p in registry.broken()}
    assert "unknown hook 'arbiter_node_scheme'" in errors["misspelt"]
    assert "did you mean 'arbiter_node_schemes'" in errors["misspelt"]
    assert "task_idd" in errors["wrong-args"]
    assert set(registry.schemes()) == {"alias"}
    assert not registry.plugin_manager.has_plugin("misspelt")
    assert not registry.plugin_manager.has_plugin("wrong-args")


def test_two_distributions_using_one_plugin_name_keep_the_first(site: Path) -> None:
    first, second = unique_module("first"), unique_module("second")
    source = "from arbiter_core.plugins import hookimpl\n"
    make_distribution(site, "arbiter-a", "1", {"same": first}, {first: source})
    make_distribution(site, "arbiter-b", "1", {"same": second}, {second: source})
    registry = PluginRegistry(arbiter_entry_points(site))
    [problem] = registry.broken()
    assert problem.distribution == "arbiter-b"
    assert "already used by arbiter-a 1" in problem.error


def test_registering_a_bad_plugin_in_code_raises_where_the_mistake_is() -> None:
    class Misspelt:
        @hookimpl
        def arbiter_task_sucseeded(self) -> None:
            pass

    registry = empty_registry()
    with pytest.raises(pluggy.PluginValidationError, match="arbiter_task_succeeded"):
        registry.register(Misspelt(), name="misspelt")
    assert registry.plugins() == []


# --- pools ------------------------------------------------------------------------------------


def test_an_unknown_pool_lists_the_installed_ones() -> None:
    with pytest.raises(ConfigurationError) as caught:
        PluginRegistry().create_pool("thred", 1)
    assert "did you mean thread?" in str(caught.value)
    assert "process, thread" in str(caught.value)


def test_a_pool_class_that_is_not_a_worker_pool_is_reported() -> None:
    class NotAPool:
        def __init__(self, slots: int) -> None:
            self.slots = slots

    class Pools:
        @hookimpl
        def arbiter_worker_pools(self) -> dict[str, Any]:
            return {"fake": NotAPool}

    registry = empty_registry()
    registry.register(Pools(), name="pools")
    assert registry.pools()["fake"].factory_ref is NotAPool
    with pytest.raises(ConfigurationError, match="not a WorkerPool"):
        registry.create_pool("fake", 1)


# --- lifecycle observers ----------------------------------------------------------------------


def test_observers_get_the_arguments_they_ask_for_and_a_failing_one_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[tuple[str, object]] = []

    class Metrics:
        @hookimpl
        def arbiter_task_succeeded(self, name: str, duration: float) -> None:
            seen.append((name, duration))

    class Crashes:
        @hookimpl
        def arbiter_task_succeeded(self, task_id: str) -> None:
            raise RuntimeError("exporter down")

    registry = empty_registry()
    registry.register(Metrics(), name="metrics")
    registry.register(Crashes(), name="crashes")
    with caplog.at_level(logging.ERROR, logger="arbiter.plugins"):
        registry.hook.arbiter_task_succeeded(
            task_id="t1", name="add", queue="default", attempt=1, value=3, duration=0.5
        )
    assert seen == [("add", 0.5)]
    assert "'crashes'" in caplog.text
    assert "exporter down" in caplog.text


def test_every_lifecycle_hook_reaches_its_observer() -> None:
    calls: list[str] = []

    class All:
        @hookimpl
        def arbiter_task_submitted(self, task_id: str, eta: float | None) -> None:
            calls.append(f"submitted {task_id} {eta}")

        @hookimpl
        def arbiter_task_started(self, worker_id: str, attempt: int) -> None:
            calls.append(f"started {worker_id} {attempt}")

        @hookimpl
        def arbiter_task_retried(self, error: BaseException, delay: float) -> None:
            calls.append(f"retried {error} {delay}")

        @hookimpl
        def arbiter_task_succeeded(self, value: object) -> None:
            calls.append(f"succeeded {value}")

        @hookimpl
        def arbiter_task_failed(self, error: BaseException, duration: float) -> None:
            calls.append(f"failed {error} {duration}")

        @hookimpl
        def arbiter_task_cancelled(self, reason: str, queue: str) -> None:
            calls.append(f"cancelled {reason} {queue}")

    registry = empty_registry()
    registry.register(All(), name="all")
    hook = registry.hook
    common: dict[str, Any] = {"task_id": "t", "name": "n", "queue": "q"}
    hook.arbiter_task_submitted(**common, eta=None)
    hook.arbiter_task_started(**common, attempt=1, worker_id="w1")
    hook.arbiter_task_retried(**common, attempt=1, error=ValueError("x"), delay=2.0)
    hook.arbiter_task_succeeded(**common, attempt=2, value=42, duration=0.1)
    hook.arbiter_task_failed(**common, attempt=3, error=KeyError("k"), duration=0.2)
    hook.arbiter_task_cancelled(**common, reason="killed")
    assert calls == [
        "submitted t None",
        "started w1 1",
        "retried x 2.0",
        "succeeded 42",
        "failed 'k' 0.2",
        "cancelled killed q",
    ]


def test_an_observer_cannot_be_a_wrapper() -> None:
    class Wrapper:
        @hookimpl(wrapper=True)
        def arbiter_task_started(self) -> Any:
            return (yield)

    with pytest.raises(pluggy.PluginValidationError, match="cannot be a wrapper"):
        empty_registry().register(Wrapper(), name="wrapper")
