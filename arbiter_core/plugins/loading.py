"""Loading plugins: entry points one by one, hooks checked against the specs, failures kept.

Entry points are loaded one by one rather than with pluggy's
``load_setuptools_entrypoints``, which stops at the first plugin that fails to
import: here a plugin that cannot be imported, or whose hooks do not match the
specs, becomes a :class:`BrokenPlugin` (its name, distribution and error) and every
other plugin still loads. A plugin registered in code is checked the same way, but
raises where the mistake was made.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import logging
from collections.abc import Iterable
from typing import NamedTuple

import pluggy

from arbiter_core.plugins import hookspecs
from arbiter_core.plugins.observers import OBSERVER_HOOKS
from arbiter_core.plugins.references import describe

logger = logging.getLogger("arbiter.plugins")

ENTRY_POINT_GROUP = hookspecs.PROJECT
"""Plugins register under ``[project.entry-points.arbiter]``."""


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


def origin(distribution: str | None, version: str | None) -> str:
    """``"dist-name 1.2"``, or a note that the plugin was registered in code."""
    if distribution is None:
        return "(registered in code)"
    return f"{distribution} {version}" if version else distribution


class PluginLoader:
    """A pluggy manager with the arbiter hookspecs, its plugins, and where each came from.

    Not thread-safe on its own: :class:`~arbiter_core.plugins.PluginRegistry`
    serialises every call.
    """

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        self._origins: dict[str, tuple[str | None, str | None]] = {}
        self.problems: list[BrokenPlugin] = []  # entry points that failed, in load order

    def load(self, entry_points: Iterable[importlib.metadata.EntryPoint]) -> None:
        """Load and register each entry point; a failure is kept in :attr:`problems`."""
        for entry_point in entry_points:
            self._load(entry_point)

    def _load(self, entry_point: importlib.metadata.EntryPoint) -> None:
        dist = entry_point.dist
        distribution = dist.metadata["Name"] if dist is not None else None
        version = dist.version if dist is not None else None
        name = entry_point.name
        if name in self._origins:
            other = origin(*self._origins[name])
            self._broken(name, distribution, f"plugin name already used by {other}; ignored")
            return
        try:
            plugin = entry_point.load()
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not take the others down
            self._broken(
                name, distribution, f"cannot import {entry_point.value!r}: {describe(exc)}"
            )
            return
        try:
            self.register(plugin, name, distribution, version)
        except (pluggy.PluginValidationError, ValueError) as exc:
            self._broken(name, distribution, str(exc))

    def _broken(self, name: str, distribution: str | None, error: str) -> None:
        logger.warning("arbiter plugin %r (%s) is broken: %s", name, distribution, error)
        self.problems.append(BrokenPlugin(name, distribution, error))

    def register(
        self, plugin: object, name: str, distribution: str | None, version: str | None
    ) -> None:
        """Add ``plugin``; raise (leaving nothing behind) if its hooks do not fit the specs."""
        try:
            self.manager.register(plugin, name=name)
            self._check_hooks(plugin, name)
        except BaseException:
            if self.manager.has_plugin(name) and self.manager.get_plugin(name) is plugin:
                self.manager.unregister(plugin=plugin, name=name)
            raise
        self._origins[name] = (distribution, version)

    def unregister(self, name: str) -> None:
        """Remove the plugin called ``name``; ValueError if there is none."""
        if self.manager.unregister(name=name) is None:
            raise ValueError(f"no plugin named {name!r} is registered")
        self._origins.pop(name, None)

    def _check_hooks(self, plugin: object, name: str) -> None:
        """Refuse what pluggy accepts but would never (or wrongly) call."""
        for caller in self.manager.get_hookcallers(plugin) or ():
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

    def origin_of(self, name: str) -> tuple[str | None, str | None]:
        """``(distribution, version)``; unknown for a plugin put straight on the manager."""
        return self._origins.get(name, (None, None))

    def plugins(self) -> list[PluginInfo]:
        """Every plugin on the manager, sorted, with the hooks it implements."""
        found = []
        for name, plugin in self.manager.list_name_plugin():
            if plugin is None:
                continue
            hooks = tuple(sorted(c.name for c in self.manager.get_hookcallers(plugin) or ()))
            found.append(PluginInfo(name, *self.origin_of(name), hooks))
        return sorted(found)
