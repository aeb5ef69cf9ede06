"""The plugin registry: the one object that answers what the installed plugins provide.

A :class:`PluginRegistry` is an ordinary object that callers create and pass
around (``connect(registry=...)``); :func:`default_registry` keeps one for the
process so the entry points are read once, and tests build their own instead of
resetting a global. Loading is lazy (on first use) and thread-safe; what plugins
declare is cached until a plugin is registered or unregistered.
"""

from __future__ import annotations

import functools
import importlib.metadata
import threading
from collections.abc import Iterable
from typing import Any

import pluggy

from arbiter_core.errors import ConfigurationError
from arbiter_core.node import EventNode
from arbiter_core.plugins.declarations import (
    Declarations,
    PoolInfo,
    PublicNameInfo,
    SchemeInfo,
    collect,
)
from arbiter_core.plugins.hookspecs import NodeFactory, PoolFactory
from arbiter_core.plugins.loading import ENTRY_POINT_GROUP, BrokenPlugin, PluginInfo, PluginLoader
from arbiter_core.plugins.observers import Observers
from arbiter_core.plugins.references import import_failure, resolve
from arbiter_core.plugins.schemes import unknown_scheme, url_scheme
from arbiter_core.plugins.suggestions import did_you_mean, listing
from arbiter_core.pool import WorkerPool
from arbiter_core.settings import Settings


class PluginRegistry:
    """The loaded plugins and what they provide: URL schemes, worker pools, observers.

    ``entry_points`` None (the default) means the ``arbiter`` entry points of
    every installed distribution; pass a list (possibly empty) to load only
    those, and add plugin objects with :meth:`register`. Entry points are
    loaded once, on first use, so creating a registry is cheap. Thread-safe.
    """

    def __init__(self, entry_points: Iterable[importlib.metadata.EntryPoint] | None = None) -> None:
        self._entry_points = None if entry_points is None else list(entry_points)
        self._lock = threading.RLock()
        self._loader = PluginLoader()
        self._observers = Observers(self._loader.manager)
        self._loaded = False
        self._declared: Declarations | None = None  # None: to be collected again

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
            self._loader.load(entry_points)
            self._observers.refresh()
            self._loaded = True

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
            self._loader.register(plugin, name, distribution, version)
            self._changed()

    def unregister(self, name: str) -> None:
        """Remove the plugin registered as ``name``; ValueError if there is none."""
        self._ensure_loaded()
        with self._lock:
            self._loader.unregister(name)
            self._changed()

    def _changed(self) -> None:
        self._declared = None
        self._observers.refresh()

    # --- what the plugins provide ----------------------------------------------------------

    def _declarations(self) -> Declarations:
        self._ensure_loaded()
        with self._lock:
            if self._declared is None:
                self._declared = collect(self._loader)
            return self._declared

    def plugins(self) -> list[PluginInfo]:
        """Every plugin that loaded, with the hooks it implements."""
        self._ensure_loaded()
        with self._lock:
            return self._loader.plugins()

    def schemes(self) -> dict[str, SchemeInfo]:
        """``{scheme: SchemeInfo}`` for every URL scheme some plugin serves."""
        return dict(self._declarations().schemes)

    def pools(self) -> dict[str, PoolInfo]:
        """``{name: PoolInfo}`` for every worker pool some plugin provides."""
        return dict(self._declarations().pools)

    def broken(self) -> list[BrokenPlugin]:
        """Plugins that failed to load, or provided something unusable, with the error."""
        declared = self._declarations().problems
        with self._lock:
            return [*self._loader.problems, *declared]

    def public_names(self) -> dict[str, PublicNameInfo]:
        """``{name: PublicNameInfo}`` for every name plugins add to ``from arbiter import``."""
        return dict(self._declarations().names)

    def resolve_public_name(self, name: str) -> Any:
        """Import and return what the plugin-declared ``name`` stands for.

        Raises AttributeError (listing the declared names) if no plugin declares
        ``name``, and :class:`ConfigurationError` if its module cannot be imported.
        """
        names = self._declarations().names
        info = names.get(name)
        if info is None:
            raise AttributeError(
                f"module 'arbiter' has no attribute {name!r}"
                f"{did_you_mean(name, names)}; names added by plugins: {listing(names)}"
            )
        what = f"{name!r} of plugin {info.plugin_name!r} ({info.origin})"
        return resolve(info.factory_ref, what)

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The underlying pluggy manager, for tooling; prefer the methods above.

        A plugin registered straight on it is not seen by :meth:`observed`,
        :meth:`notify` or the cached declarations: use :meth:`register`.
        """
        self._ensure_loaded()
        return self._loader.manager

    # --- task-lifecycle observers ----------------------------------------------------------

    def observed(self, hook_name: str) -> bool:
        """Whether some plugin implements the observer hook ``hook_name``.

        One dict lookup, so a hot path can skip building an event nobody
        listens to: ``if registry.observed(hook): registry.notify(hook, ...)``.
        """
        self._ensure_loaded()
        return self._observers.observed(hook_name)

    def notify(self, hook_name: str, /, **kwargs: object) -> None:
        """Tell every plugin observing ``hook_name`` (an ``arbiter_task_*``/``_minion_*`` hook).

        ``kwargs`` are exactly the hookspec's arguments; the first call of each
        hook checks that and raises ValueError (unknown hook) or TypeError (wrong
        arguments), a bug in the caller. With no observer, returns at once. An
        observer that raises is logged with its plugin's name and skipped.
        """
        self._ensure_loaded()
        self._observers.notify(hook_name, **kwargs)

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
            raise ConfigurationError(unknown_scheme(scheme, self.schemes(), self.broken()))
        what = f"the {scheme}:// backend of plugin {info.plugin_name!r} ({info.origin})"
        factory: NodeFactory = resolve(info.factory_ref, what)
        if settings is None:
            settings = Settings(broker_url=url)
        try:
            node = factory(url, settings)
        except ImportError as exc:
            raise ConfigurationError(import_failure(what, exc)) from exc
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
                f"{did_you_mean(name, pools)}; installed pools: {listing(pools)}"
            )
        what = f"the {name!r} pool of plugin {info.plugin_name!r} ({info.origin})"
        factory: PoolFactory = resolve(info.factory_ref, what)
        pool = factory(slots)
        if not isinstance(pool, WorkerPool):
            raise ConfigurationError(
                f"{what} built {type(pool).__name__}, which is not a WorkerPool "
                "(it needs slots, submit, kill and shutdown)"
            )
        return pool


@functools.cache
def default_registry() -> PluginRegistry:
    """The process's registry of installed plugins (entry points read once, on first use).

    Code that needs other plugins, or tests, build their own
    :class:`PluginRegistry` and pass it explicitly instead of changing this one.
    """
    return PluginRegistry()
