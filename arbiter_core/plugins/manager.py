"""The plugin registry: finds plugins through entry points, resolves URL schemes and pools.

A :class:`PluginRegistry` is an ordinary object that callers create and pass
around (``connect(registry=...)``); :func:`default_registry` keeps one for the
process so the entry points are read once, and tests build their own instead of
resetting a global.

Entry points are loaded one by one rather than with pluggy's
``load_setuptools_entrypoints``, which stops at the first plugin that fails to
import: here a plugin that cannot be imported, or whose hooks do not match the
specs, is recorded by name with its error (see :meth:`PluginRegistry.broken`) and
every other plugin still works.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import importlib.metadata
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import pluggy

from arbiter_core.errors import ConfigurationError
from arbiter_core.node import EventNode
from arbiter_core.plugins import hookspecs
from arbiter_core.plugins.hookspecs import NodeFactory, PoolFactory
from arbiter_core.pool import WorkerPool
from arbiter_core.settings import Settings

logger = logging.getLogger("arbiter.plugins")

ENTRY_POINT_GROUP = hookspecs.PROJECT
"""Plugins register under ``[project.entry-points.arbiter]``."""

_REDIS_HINT = "pip install 'arbiter-tasks[redis]'"
_KOMBU_HINT = "pip install arbiter-kombu"
SCHEME_INSTALL_HINTS: Mapping[str, str] = {
    "redis": _REDIS_HINT,
    "rediss": _REDIS_HINT,
    "unix": _REDIS_HINT,
    "amqp": _KOMBU_HINT,
    "amqps": _KOMBU_HINT,
    "pyamqp": _KOMBU_HINT,
}
"""Well-known schemes whose plugin is not installed by default, and how to get it."""
MODULE_INSTALL_HINTS: Mapping[str, str] = {
    "redis": _REDIS_HINT,
    "arbiter_redis": _REDIS_HINT,
    "kombu": _KOMBU_HINT,
    "amqp": _KOMBU_HINT,
    "arbiter_kombu": _KOMBU_HINT,
}
"""Top-level modules a lazy factory may miss, and the install line that brings them."""

OBSERVER_HOOKS = (
    "arbiter_task_submitted",
    "arbiter_task_started",
    "arbiter_task_retried",
    "arbiter_task_succeeded",
    "arbiter_task_failed",
    "arbiter_task_cancelled",
)

_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True)
class Provided:
    """Something a plugin provides — a URL scheme, a worker pool or a public name — the
    factory (or lazy ``"module:attr"`` reference) behind it, and where it came from."""

    name: str
    factory_ref: Any
    plugin_name: str
    distribution: str | None
    version: str | None

    @property
    def origin(self) -> str:
        """``"dist-name 1.2"``, or a note that the plugin was registered in code."""
        return _origin(self.distribution, self.version)


SchemeInfo = Provided
"""A URL scheme (``name``, without ``://``) and the node factory that serves it."""
PoolInfo = Provided
"""A worker pool name and the class (or factory) behind it."""
PublicNameInfo = Provided
"""A name ``from arbiter import NAME`` finds through a plugin."""


class PluginInfo(NamedTuple):
    """A loaded plugin: its entry-point (or registration) name and distribution."""

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]


class BrokenPlugin(NamedTuple):
    """A plugin that could not be loaded or returned something unusable, and why."""

    name: str
    distribution: str | None
    error: str


class _Provided(NamedTuple):
    """Everything the plugins' declaring hooks returned, checked, and what was wrong."""

    schemes: dict[str, SchemeInfo]
    pools: dict[str, PoolInfo]
    names: dict[str, PublicNameInfo]
    problems: list[BrokenPlugin]


def _origin(distribution: str | None, version: str | None) -> str:
    if distribution is None:
        return "(registered in code)"
    return f"{distribution} {version}" if version else distribution


def url_scheme(url: str) -> str:
    """The lower-cased scheme of ``url``; ConfigurationError if it has none."""
    match = _URL_SCHEME.match(url) if isinstance(url, str) else None
    if match is None:
        raise ConfigurationError(
            f"{url!r} is not a broker URL: expected scheme://..., "
            "e.g. memory:// or redis://localhost:6379/0"
        )
    return match.group(1).lower()


class LifecycleHooks:
    """Calls every plugin's task-lifecycle observers, in pluggy's order.

    Unlike a plain pluggy hook call, an observer that raises is logged with its
    plugin's name and skipped: a metrics plugin must never fail a task or hide
    the event from the other observers. Each method mirrors its hookspec in
    :mod:`arbiter_core.plugins.hookspecs`.
    """

    def __init__(self, plugin_manager: pluggy.PluginManager) -> None:
        self._pm = plugin_manager

    def arbiter_task_submitted(
        self, *, task_id: str, name: str, queue: str, eta: float | None
    ) -> None:
        self._notify("arbiter_task_submitted", task_id=task_id, name=name, queue=queue, eta=eta)

    def arbiter_task_started(
        self, *, task_id: str, name: str, queue: str, attempt: int, worker_id: str
    ) -> None:
        self._notify(
            "arbiter_task_started",
            task_id=task_id,
            name=name,
            queue=queue,
            attempt=attempt,
            worker_id=worker_id,
        )

    def arbiter_task_retried(
        self,
        *,
        task_id: str,
        name: str,
        queue: str,
        attempt: int,
        error: BaseException,
        delay: float,
    ) -> None:
        self._notify(
            "arbiter_task_retried",
            task_id=task_id,
            name=name,
            queue=queue,
            attempt=attempt,
            error=error,
            delay=delay,
        )

    def arbiter_task_succeeded(
        self,
        *,
        task_id: str,
        name: str,
        queue: str,
        attempt: int,
        value: object,
        duration: float,
    ) -> None:
        self._notify(
            "arbiter_task_succeeded",
            task_id=task_id,
            name=name,
            queue=queue,
            attempt=attempt,
            value=value,
            duration=duration,
        )

    def arbiter_task_failed(
        self,
        *,
        task_id: str,
        name: str,
        queue: str,
        attempt: int,
        error: BaseException,
        duration: float,
    ) -> None:
        self._notify(
            "arbiter_task_failed",
            task_id=task_id,
            name=name,
            queue=queue,
            attempt=attempt,
            error=error,
            duration=duration,
        )

    def arbiter_task_cancelled(self, *, task_id: str, name: str, queue: str, reason: str) -> None:
        self._notify(
            "arbiter_task_cancelled", task_id=task_id, name=name, queue=queue, reason=reason
        )

    def _notify(self, hook_name: str, **kwargs: object) -> None:
        caller: pluggy.HookCaller = getattr(self._pm.hook, hook_name)
        # pluggy calls the last registered (and tryfirst) implementations first
        for impl in reversed(caller.get_hookimpls()):
            try:
                impl.function(*[kwargs[arg] for arg in impl.argnames])
            except Exception:  # logged: an observer must not break the task or the others
                logger.exception(
                    "observer %s of plugin %r raised; ignored", hook_name, impl.plugin_name
                )


class PluginRegistry:
    """The loaded plugins and what they provide: URL schemes, worker pools, observers.

    ``entry_points`` None (the default) means the ``arbiter`` entry points of
    every installed distribution; pass a list (possibly empty) to load only
    those, and add plugin objects with :meth:`register`. Entry points are
    loaded once, on first use, so creating a registry is cheap. Thread-safe.
    """

    def __init__(self, entry_points: Iterable[importlib.metadata.EntryPoint] | None = None) -> None:
        self._entry_points = None if entry_points is None else list(entry_points)
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._lock = threading.RLock()
        self._loaded = False
        self._origins: dict[str, tuple[str | None, str | None]] = {}
        self._load_problems: list[BrokenPlugin] = []
        self._collected = _Provided({}, {}, {}, [])
        self._stale = True
        self._hooks = LifecycleHooks(self._pm)

    # --- loading --------------------------------------------------------------------------

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            entry_points = self._entry_points
            if entry_points is None:
                entry_points = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
            for entry_point in entry_points:
                self._load_entry_point(entry_point)
            self._loaded = True

    def _load_entry_point(self, entry_point: importlib.metadata.EntryPoint) -> None:
        dist = entry_point.dist
        distribution = dist.metadata["Name"] if dist is not None else None
        version = dist.version if dist is not None else None
        name = entry_point.name
        if name in self._origins:
            other = _origin(*self._origins[name])
            self._broken(name, distribution, f"plugin name already used by {other}; ignored")
            return
        try:
            plugin = entry_point.load()
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not take the others down
            self._broken(
                name, distribution, f"cannot import {entry_point.value!r}: {_describe(exc)}"
            )
            return
        try:
            self._register(plugin, name, distribution, version)
        except (pluggy.PluginValidationError, ValueError) as exc:
            self._broken(name, distribution, str(exc))

    def _origin_of(self, name: str) -> tuple[str | None, str | None]:
        """``(distribution, version)``; unknown for a plugin put straight on the pluggy manager."""
        return self._origins.get(name, (None, None))

    def _broken(self, name: str, distribution: str | None, error: str) -> None:
        logger.warning("arbiter plugin %r (%s) is broken: %s", name, distribution, error)
        self._load_problems.append(BrokenPlugin(name, distribution, error))

    def _register(
        self, plugin: object, name: str, distribution: str | None, version: str | None
    ) -> None:
        try:
            self._pm.register(plugin, name=name)
            self._check_hooks(plugin, name)
        except BaseException:
            if self._pm.has_plugin(name) and self._pm.get_plugin(name) is plugin:
                self._pm.unregister(plugin=plugin, name=name)
            raise
        self._origins[name] = (distribution, version)
        self._stale = True

    def _check_hooks(self, plugin: object, name: str) -> None:
        """Refuse what pluggy accepts but would never (or wrongly) call."""
        for caller in self._pm.get_hookcallers(plugin) or ():
            impls = [impl for impl in caller.get_hookimpls() if impl.plugin is plugin]
            if not caller.has_spec() and not all(impl.optionalhook for impl in impls):
                known = [h for h in dir(hookspecs) if h.startswith("arbiter_")]
                close = difflib.get_close_matches(caller.name, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise pluggy.PluginValidationError(
                    plugin, f"plugin {name!r} implements unknown hook {caller.name!r}{hint}"
                )
            if caller.name in OBSERVER_HOOKS and any(i.wrapper or i.hookwrapper for i in impls):
                raise pluggy.PluginValidationError(
                    plugin,
                    f"plugin {name!r}: observer hook {caller.name!r} cannot be a wrapper; "
                    "observers are plain calls",
                )

    def register(
        self,
        plugin: object,
        name: str,
        *,
        distribution: str | None = None,
        version: str | None = None,
    ) -> None:
        """Add a plugin object (a module, class or instance with ``@hookimpl`` functions).

        Unlike an entry point, a plugin registered in code that does not match
        the hookspecs raises :class:`pluggy.PluginValidationError` here, where
        the mistake was made. ``distribution`` and ``version`` are only shown.
        """
        self._ensure_loaded()
        with self._lock:
            self._register(plugin, name, distribution, version)

    # --- what the plugins provide ----------------------------------------------------------

    def _collect(self) -> _Provided:
        self._ensure_loaded()
        with self._lock:
            if not self._stale:
                return self._collected
            problems: list[BrokenPlugin] = []
            schemes: dict[str, SchemeInfo] = {}
            pools: dict[str, PoolInfo] = {}
            for key, ref, impl in self._provided("arbiter_node_schemes", problems):
                distribution, version = self._origin_of(impl.plugin_name)
                if key in schemes:
                    problems.append(self._conflict(impl, "URL scheme", key, schemes[key]))
                    continue
                schemes[key] = SchemeInfo(key, ref, impl.plugin_name, distribution, version)
            for key, ref, impl in self._provided("arbiter_worker_pools", problems):
                distribution, version = self._origin_of(impl.plugin_name)
                if key in pools:
                    problems.append(self._conflict(impl, "worker pool", key, pools[key]))
                    continue
                pools[key] = PoolInfo(key, ref, impl.plugin_name, distribution, version)
            names: dict[str, PublicNameInfo] = {}
            for key, ref, impl in self._provided("arbiter_public_names", problems, names=True):
                distribution, version = self._origin_of(impl.plugin_name)
                if key in names:
                    problems.append(self._conflict(impl, "public name", key, names[key]))
                    continue
                names[key] = PublicNameInfo(key, ref, impl.plugin_name, distribution, version)
            for problem in problems:
                logger.warning("arbiter plugin %r: %s", problem.name, problem.error)
            self._collected = _Provided(schemes, pools, names, problems)
            self._stale = False
            return self._collected

    def _provided(
        self, hook_name: str, problems: list[BrokenPlugin], *, names: bool = False
    ) -> Iterable[tuple[str, Any, pluggy.HookImpl]]:
        """Each plugin's ``{key: reference}`` answers, in registration order, checked.

        Keys are lower-cased URL schemes or pool names, or with ``names`` Python
        identifiers kept as they are, whose references must be lazy strings.
        """
        caller: pluggy.HookCaller = getattr(self._pm.hook, hook_name)
        for impl in caller.get_hookimpls():
            distribution = self._origin_of(impl.plugin_name)[0]
            try:
                answer = impl.function()
            except Exception as exc:  # noqa: BLE001 - reported, the other plugins go on
                problems.append(
                    BrokenPlugin(impl.plugin_name, distribution, f"{hook_name}(): {_describe(exc)}")
                )
                continue
            if not isinstance(answer, Mapping):
                problems.append(
                    BrokenPlugin(
                        impl.plugin_name,
                        distribution,
                        f"{hook_name}() returned {type(answer).__name__}, not a dict",
                    )
                )
                continue
            for key, ref in answer.items():
                error = _check_name(key, ref) if names else _check_entry(key, ref)
                if error:
                    problems.append(
                        BrokenPlugin(impl.plugin_name, distribution, f"{hook_name}(): {error}")
                    )
                    continue
                yield (key if names else key.lower()), ref, impl

    def _conflict(
        self,
        impl: pluggy.HookImpl,
        what: str,
        key: str,
        kept: Provided,
    ) -> BrokenPlugin:
        distribution = self._origin_of(impl.plugin_name)[0]
        return BrokenPlugin(
            impl.plugin_name,
            distribution,
            f"{what} {key!r} is already provided by plugin {kept.plugin_name!r} "
            f"({kept.origin}); this plugin's {key!r} is ignored",
        )

    def plugins(self) -> list[PluginInfo]:
        """Every plugin that loaded, with the hooks it implements."""
        self._ensure_loaded()
        with self._lock:
            found = []
            for name, plugin in self._pm.list_name_plugin():
                if plugin is None:
                    continue
                hooks = tuple(sorted(c.name for c in self._pm.get_hookcallers(plugin) or ()))
                found.append(PluginInfo(name, *self._origin_of(name), hooks))
            return sorted(found)

    def schemes(self) -> dict[str, SchemeInfo]:
        """``{scheme: SchemeInfo}`` for every URL scheme some plugin serves."""
        return dict(self._collect().schemes)

    def pools(self) -> dict[str, PoolInfo]:
        """``{name: PoolInfo}`` for every worker pool some plugin provides."""
        return dict(self._collect().pools)

    def broken(self) -> list[BrokenPlugin]:
        """Plugins that failed to load, or provided something unusable, with the error."""
        collected = self._collect().problems
        with self._lock:
            return [*self._load_problems, *collected]

    def public_names(self) -> dict[str, PublicNameInfo]:
        """``{name: PublicNameInfo}`` for every name plugins add to ``from arbiter import``."""
        return dict(self._collect().names)

    def resolve_public_name(self, name: str) -> Any:
        """Import and return what the plugin-declared ``name`` stands for.

        Raises AttributeError (listing the declared names) if no plugin declares
        ``name``, and :class:`ConfigurationError` if its module cannot be imported.
        """
        names = self._collect().names
        info = names.get(name)
        if info is None:
            raise AttributeError(
                f"module 'arbiter' has no attribute {name!r}"
                f"{_did_you_mean(name, names)}; names added by plugins: {_listing(names)}"
            )
        what = f"{name!r} of plugin {info.plugin_name!r} ({info.origin})"
        return _resolve(info.factory_ref, what)

    @property
    def hook(self) -> LifecycleHooks:
        """The task-lifecycle observers of every plugin; exceptions in them are logged."""
        self._ensure_loaded()
        return self._hooks

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The underlying pluggy manager, for tooling; prefer the methods above."""
        self._ensure_loaded()
        return self._pm

    # --- building nodes and pools ----------------------------------------------------------

    def create_node(self, url: str, settings: Settings | None = None) -> EventNode:
        """Build the EventNode for ``url`` with the plugin serving its scheme.

        Raises :class:`ConfigurationError` for an unknown scheme (listing the
        installed ones and how to install a well-known one) and for a plugin
        whose factory cannot be imported (naming the plugin and what is missing).
        """
        scheme = url_scheme(url)
        info = self.schemes().get(scheme)
        if info is None:
            raise ConfigurationError(self._unknown_scheme(scheme))
        what = f"the {scheme}:// backend of plugin {info.plugin_name!r} ({info.origin})"
        factory: NodeFactory = _resolve(info.factory_ref, what)
        if settings is None:
            settings = Settings(broker_url=url)
        try:
            node = factory(url, settings)
        except ImportError as exc:
            raise ConfigurationError(_import_failure(what, exc)) from exc
        if not isinstance(node, EventNode):
            raise ConfigurationError(
                f"{what} returned {type(node).__name__}, not an EventNode; "
                "this is a bug in the plugin"
            )
        return node

    def create_pool(self, name: str, slots: int) -> WorkerPool:
        """Build the worker pool called ``name`` (``"thread"``, ``"process"``...) of ``slots``."""
        pools = self.pools()
        info = pools.get(name)
        if info is None:
            raise ConfigurationError(
                f"no plugin provides a worker pool named {name!r}"
                f"{_did_you_mean(name, pools)}; installed pools: {_listing(pools)}"
            )
        what = f"the {name!r} pool of plugin {info.plugin_name!r} ({info.origin})"
        factory: PoolFactory = _resolve(info.factory_ref, what)
        pool = factory(slots)
        if not isinstance(pool, WorkerPool):
            raise ConfigurationError(
                f"{what} built {type(pool).__name__}, which is not a WorkerPool "
                "(it needs slots, submit, kill and shutdown)"
            )
        return pool

    def _unknown_scheme(self, scheme: str) -> str:
        schemes = self.schemes()
        message = f"no installed plugin serves {scheme}:// URLs"
        hint = SCHEME_INSTALL_HINTS.get(scheme)
        if hint:
            message += f"; install its backend with: {hint}"
        else:
            message += _did_you_mean(scheme, schemes, suffix="://")
        message += f". Installed schemes: {_listing(schemes, suffix='://')}"
        broken = self.broken()
        if broken:
            names = ", ".join(f"{b.name!r} ({b.error})" for b in broken)
            message += f". Plugins that failed to load (one may serve it): {names}"
        return message


def _check_entry(key: object, ref: object) -> str | None:
    """Why ``key: ref`` cannot be used, or None."""
    if not isinstance(key, str) or not _SCHEME.fullmatch(key.lower()):
        return f"{key!r} is not a valid name (letters, digits, '+', '-', '.'; no '://')"
    if isinstance(ref, str):
        module, sep, attr = ref.partition(":")
        if not sep or not module or not attr:
            return f"{key!r}: {ref!r} is not a 'package.module:attribute' reference"
    elif not callable(ref):
        return f"{key!r}: {ref!r} is neither callable nor a 'module:attribute' string"
    return None


def _check_name(key: object, ref: object) -> str | None:
    """Why ``key: ref`` cannot be a public name, or None."""
    if not isinstance(key, str) or not key.isidentifier() or key.startswith("_"):
        return f"{key!r} is not a public Python name"
    if not isinstance(ref, str) or _check_entry("name", ref) is not None:
        return f"{key!r}: {ref!r} is not a 'package.module:attribute' reference"
    return None


def _resolve(ref: Any, what: str) -> Any:
    """Import a lazy ``"module:attr"`` reference; a callable is returned as is."""
    if not isinstance(ref, str):
        return ref
    module_name, _, attr_path = ref.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(_import_failure(what, exc)) from exc
    try:
        for attr in attr_path.split("."):
            target = getattr(target, attr)
    except AttributeError as exc:
        raise ConfigurationError(
            f"{what} names {ref!r}, but {module_name} has no attribute {attr_path!r}; "
            "this is a bug in the plugin"
        ) from exc
    return target


def _import_failure(what: str, exc: ImportError) -> str:
    missing = exc.name or ""
    hint = MODULE_INSTALL_HINTS.get(missing.partition(".")[0])
    if hint:
        action = f"install it with: {hint}"
    elif missing:
        action = f"install the package that provides {missing!r}, or reinstall the plugin"
    else:
        action = "reinstall the plugin"
    return f"{what} cannot be imported ({_describe(exc)}); {action}"


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _did_you_mean(name: str, known: Iterable[str], suffix: str = "") -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]}{suffix}?)" if close else ""


def _listing(known: Mapping[str, Any], suffix: str = "") -> str:
    return ", ".join(f"{k}{suffix}" for k in sorted(known)) or "(none)"


@functools.cache
def default_registry() -> PluginRegistry:
    """The process's registry of installed plugins (entry points read once, on first use).

    Code that needs other plugins, or tests, build their own
    :class:`PluginRegistry` and pass it explicitly instead of changing this one.
    """
    return PluginRegistry()


__all__ = [
    "ENTRY_POINT_GROUP",
    "BrokenPlugin",
    "LifecycleHooks",
    "PluginInfo",
    "PluginRegistry",
    "PoolInfo",
    "Provided",
    "PublicNameInfo",
    "SchemeInfo",
    "default_registry",
    "url_scheme",
]
