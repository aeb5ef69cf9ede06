"""The plugin registry: entry-point loading, broken plugins, schemes, pools and observers."""

from __future__ import annotations

import importlib.metadata
import logging
import sys
from concurrent.futures import Future
from pathlib import Path
from typing import Any
from unittest import mock

import pluggy
import pytest
from plugin_support import arbiter_entry_points, make_distribution, unique_module

from arbiter_core.client import Arbiter
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
        ("redis://user:guest@localhost:6379/0", "pip install 'arbiter-tasks[redis]'"),
    ],
)
def test_a_well_known_scheme_that_is_not_installed_names_the_install_line(
    url: str, hint: str
) -> None:
    with pytest.raises(ConfigurationError, match=r"install its backend with") as caught:
        empty_registry().create_node(url, Settings())
    assert hint in str(caught.value)
    assert "guest" not in str(caught.value)  # a URL's password is never echoed


@pytest.mark.parametrize(
    "url", ["amqp://guest:guest@localhost//", "amqps://h", "kombu+memory://", "kombu+sqs://h"]
)
def test_the_kombu_schemes_name_the_plugin_that_serves_them(url: str) -> None:
    registry = empty_registry()
    registry.register(MemoryAlias("memory"), name="mem")
    with pytest.raises(ConfigurationError) as caught:
        registry.create_node(url, Settings())
    message = str(caught.value)
    scheme = url.partition(":")[0]
    assert f"no installed plugin serves {scheme}:// URLs" in message
    assert "install its backend with: pip install ./plugins/arbiter_kombu" in message
    assert "not on PyPI yet" in message
    assert "guest:guest" not in message  # a URL's password is never echoed


def test_a_scheme_with_no_known_backend_promises_no_install_line() -> None:
    registry = empty_registry()
    registry.register(MemoryAlias("memory"), name="mem")
    with pytest.raises(ConfigurationError) as caught:
        registry.create_node("pyamqp://h", Settings())
    message = str(caught.value)
    assert "no installed plugin serves pyamqp:// URLs" in message
    assert "Installed schemes: memory://" in message
    assert "pip install" not in message


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


def registry_needing(module: str) -> PluginRegistry:
    """A registry whose ``needs://`` factory fails to import ``module``."""

    def factory(url: str, settings: Settings) -> EventNode:
        raise ModuleNotFoundError(f"No module named {module!r}", name=module)

    class NeedsClient:
        @hookimpl
        def arbiter_node_schemes(self) -> dict[str, Any]:
            return {"needs": factory}

    registry = empty_registry()
    registry.register(NeedsClient(), name="needs")
    return registry


@pytest.mark.parametrize("module", ["redis", "arbiter_redis"])
def test_a_missing_broker_client_names_the_extra_that_brings_it(module: str) -> None:
    with pytest.raises(ConfigurationError, match=r"install it with") as caught:
        registry_needing(module).create_node("needs://", Settings())
    assert "pip install 'arbiter-tasks[redis]'" in str(caught.value)


@pytest.mark.parametrize("module", ["kombu", "amqp"])
def test_a_missing_module_with_no_published_extra_names_the_module_only(module: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        registry_needing(module).create_node("needs://", Settings())
    message = str(caught.value)
    assert f"install the package that provides {module!r}, or reinstall the plugin" in message
    assert "pip install" not in message


def test_a_missing_kombu_plugin_module_names_its_install_line() -> None:
    with pytest.raises(ConfigurationError, match=r"install it with") as caught:
        registry_needing("arbiter_kombu").create_node("needs://", Settings())
    assert "pip install ./plugins/arbiter_kombu" in str(caught.value)


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
        registry.notify(
            "arbiter_task_succeeded",
            task_id="t1",
            name="add",
            queue="default",
            attempt=1,
            value=3,
            duration=0.5,
        )
    assert seen == [("add", 0.5)]  # called after the crash: pluggy calls the last one first
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
    common: dict[str, Any] = {"task_id": "t", "name": "n", "queue": "q"}
    registry.notify("arbiter_task_submitted", **common, eta=None)
    registry.notify("arbiter_task_started", **common, attempt=1, worker_id="w1")
    registry.notify("arbiter_task_retried", **common, attempt=1, error=ValueError("x"), delay=2.0)
    registry.notify("arbiter_task_succeeded", **common, attempt=2, value=42, duration=0.1)
    registry.notify("arbiter_task_failed", **common, attempt=3, error=KeyError("k"), duration=0.2)
    registry.notify("arbiter_task_cancelled", **common, reason="killed")
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


SUCCEEDED: dict[str, Any] = {
    "task_id": "t1",
    "name": "add",
    "queue": "default",
    "attempt": 1,
    "value": 3,
    "duration": 0.5,
}


class Succeeded:
    """Observes only ``arbiter_task_succeeded``."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def arbiter_task_succeeded(self, task_id: str) -> None:
        self.seen.append(task_id)


@pytest.mark.parametrize("hook_name", ["arbiter_task_sucseeded", "arbiter_node_schemes"])
def test_notify_refuses_a_name_that_is_not_an_observer_hook(hook_name: str) -> None:
    registry = empty_registry()
    registry.register(Succeeded(), name="succeeded")
    with pytest.raises(ValueError, match=rf"'{hook_name}' is not an observer hook") as caught:
        registry.notify(hook_name, **SUCCEEDED)
    assert "arbiter_task_succeeded, arbiter_task_failed" in str(caught.value)
    if hook_name == "arbiter_task_sucseeded":
        assert "did you mean arbiter_task_succeeded?" in str(caught.value)


@pytest.mark.parametrize("observed", [False, True])
@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({k: v for k, v in SUCCEEDED.items() if k != "duration"}, "missing duration"),
        ({**SUCCEEDED, "worker_id": "w1"}, "unexpected worker_id"),
        ({}, "missing task_id, name, queue, attempt, value, duration"),
    ],
)
def test_notify_refuses_arguments_that_are_not_exactly_the_specs(
    kwargs: dict[str, Any], problem: str, observed: bool
) -> None:
    registry = empty_registry()
    if observed:
        registry.register(Succeeded(), name="succeeded")
    with pytest.raises(TypeError) as caught:  # checked on the first call, observed or not
        registry.notify("arbiter_task_succeeded", **kwargs)
    message = str(caught.value)
    assert "'arbiter_task_succeeded'" in message
    assert "task_id, name, queue, attempt, value, duration" in message
    assert problem in message


def test_a_later_call_missing_an_argument_an_observer_needs_is_still_refused() -> None:
    registry = empty_registry()
    plugin = Succeeded()
    registry.register(plugin, name="succeeded")
    registry.notify("arbiter_task_succeeded", **SUCCEEDED)
    with pytest.raises(TypeError, match="missing task_id"):
        registry.notify("arbiter_task_succeeded", name="add")
    assert plugin.seen == ["t1"]


def test_a_raising_observer_is_skipped_and_the_ones_before_and_after_still_see_the_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, last = Succeeded(), Succeeded()

    class Crashes:
        @hookimpl
        def arbiter_task_succeeded(self) -> None:
            raise RuntimeError("exporter down")

    registry = empty_registry()
    registry.register(first, name="first")
    registry.register(Crashes(), name="crashes")
    registry.register(last, name="last")
    with caplog.at_level(logging.ERROR, logger="arbiter.plugins"):
        registry.notify("arbiter_task_succeeded", **SUCCEEDED)
        registry.notify("arbiter_task_succeeded", **{**SUCCEEDED, "task_id": "t2"})
    assert first.seen == last.seen == ["t1", "t2"]
    [record, _] = caplog.records
    assert "arbiter_task_succeeded of plugin 'crashes' raised" in record.getMessage()
    assert record.exc_info is not None
    assert "exporter down" in str(record.exc_info[1])


def test_an_observer_argument_with_a_default_gets_the_value_like_pluggy_passes_it() -> None:
    seen: list[object] = []

    class Defaults:
        @hookimpl
        def arbiter_task_succeeded(self, name: str, value: object = None) -> None:
            seen.append((name, value))

    registry = empty_registry()
    registry.register(Defaults(), name="defaults")
    registry.notify("arbiter_task_succeeded", **SUCCEEDED)
    assert seen == [("add", 3)]


def test_observed_follows_registration_and_unregistration() -> None:
    registry = empty_registry()
    assert not registry.observed("arbiter_task_succeeded")
    registry.register(MemoryAlias(), name="alias")  # a plugin that observes nothing
    assert not registry.observed("arbiter_task_succeeded")
    plugin = Succeeded()
    registry.register(plugin, name="succeeded")
    assert registry.observed("arbiter_task_succeeded")
    assert not registry.observed("arbiter_task_started")
    assert not registry.observed("no_such_hook")
    registry.notify("arbiter_task_succeeded", **SUCCEEDED)
    registry.unregister("succeeded")
    assert not registry.observed("arbiter_task_succeeded")
    registry.notify("arbiter_task_succeeded", **{**SUCCEEDED, "task_id": "t2"})
    assert plugin.seen == ["t1"]
    assert [p.name for p in registry.plugins()] == ["alias"]
    with pytest.raises(ValueError, match="no plugin named 'succeeded'"):
        registry.unregister("succeeded")


def test_arbiters_own_plugins_observe_nothing() -> None:
    """The embedded and Redis backends add no observer, so by themselves they cost nothing
    per task; an installed metrics plugin (arbiter-prometheus) may add some."""
    own = [
        entry_point
        for entry_point in importlib.metadata.entry_points(group="arbiter")
        if entry_point.dist is not None and entry_point.dist.metadata["Name"] == "arbiter-tasks"
    ]
    assert own, "arbiter-tasks registers its own plugins through the entry-point group"
    registry = PluginRegistry(entry_points=own)
    hooks = ("submitted", "started", "succeeded", "failed", "retried", "cancelled")
    assert not any(registry.observed(f"arbiter_task_{hook}") for hook in hooks)


class Tripwire:
    """Stands in for pluggy's hook relay: any use of it fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"notify reached pluggy (hook.{name})")


def test_notify_with_no_observer_does_not_call_into_pluggy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = empty_registry()
    registry.register(MemoryAlias(), name="alias")
    registry.register(Succeeded(), name="succeeded")  # observes another hook
    manager = registry.plugin_manager
    started = manager.hook.arbiter_task_started
    tripped = mock.Mock(side_effect=AssertionError("notify called into pluggy"))
    monkeypatch.setattr(manager, "hook", Tripwire())
    # every call of this manager's hook callers goes through _inner_hookexec
    for attribute in ("_inner_hookexec", "get_hookcallers", "subset_hook_caller"):
        monkeypatch.setattr(manager, attribute, tripped)
    common: dict[str, Any] = {"task_id": "t", "name": "n", "queue": "q"}
    for _ in range(2):  # the first call (which checks the arguments) and the later ones
        assert not registry.observed("arbiter_task_started")
        registry.notify("arbiter_task_started", **common, attempt=1, worker_id="w1")
        registry.notify("arbiter_task_cancelled", **common, reason="killed")
    tripped.assert_not_called()
    with pytest.raises(AssertionError, match="called into pluggy"):  # the tripwire works
        started(**common, attempt=1, worker_id="w1")


def test_applying_a_task_notifies_its_submission_observers() -> None:
    seen: list[tuple[str, str, str, float | None]] = []

    class Submitted:
        @hookimpl
        def arbiter_task_submitted(
            self, task_id: str, name: str, queue: str, eta: float | None
        ) -> None:
            seen.append((task_id, name, queue, eta))

    registry = PluginRegistry()
    registry.register(Submitted(), name="submitted")
    with Arbiter(f"memory://{unique_module('submitted')}", registry=registry) as arbiter:
        ids = arbiter.apply("add", 2, task_args=[1, 2], queue="maths")
    assert seen == [(task_id, "add", "maths", None) for task_id in ids]
