"""Lifecycle observers: one generic call for every ``arbiter_task_*``/``arbiter_minion_*`` hook.

:class:`Observers` guarantees, for :meth:`PluginRegistry.notify
<arbiter_core.plugins.PluginRegistry.notify>` and ``observed``:

* the first call of a hook checks its name and keyword names against the hookspec,
  observed or not, and raises on a mismatch: that is a bug in the caller;
* a hook nobody observes costs a dict lookup: no argument check, no pluggy call;
* an observer that raises is logged with its plugin's name and skipped, and the
  others still see the event, in pluggy's order (``tryfirst`` ones, then the last
  registered, first).

Observers are called one by one, as pluggy's ``_multicall`` calls implementations,
rather than through pluggy's hook caller, because that stops at the first one that
raises. Which plugins observe what is read again on :meth:`Observers.refresh`, which
the registry calls whenever a plugin is registered or unregistered.
"""

from __future__ import annotations

import inspect
import logging
import types
from collections.abc import Callable, Mapping
from typing import NamedTuple

import pluggy

from arbiter_core.plugins import hookspecs
from arbiter_core.plugins.suggestions import did_you_mean

logger = logging.getLogger("arbiter.plugins")

OBSERVER_HOOKS: Mapping[str, frozenset[str]] = types.MappingProxyType(
    {
        name: frozenset(inspect.signature(spec).parameters)
        for name, spec in vars(hookspecs).items()
        if name.startswith(hookspecs.OBSERVER_PREFIXES) and inspect.isfunction(spec)
    }
)
"""``{hook name: its argument names}`` for every observer hookspec."""


class _Observer(NamedTuple):
    """One plugin's implementation of an observer hook, ready to call."""

    plugin_name: str
    function: Callable[..., object]
    argnames: tuple[str, ...]
    kwargnames: tuple[str, ...]


class Observers:
    """The observer implementations on one pluggy manager, indexed by hook name.

    Thread-safe for :meth:`notify` and :meth:`observed`; :meth:`refresh` swaps the
    index in one assignment, so a call during a registration sees the old or the
    new observers, never a mix.
    """

    def __init__(self, plugin_manager: pluggy.PluginManager) -> None:
        self._pm = plugin_manager
        self._by_hook: dict[str, tuple[_Observer, ...]] = {}
        self._checked: set[str] = set()

    def refresh(self) -> None:
        """Read again which plugins implement which observer hook."""
        by_hook: dict[str, tuple[_Observer, ...]] = {}
        for name in OBSERVER_HOOKS:
            impls = getattr(self._pm.hook, name).get_hookimpls()
            if impls:
                by_hook[name] = tuple(
                    _Observer(impl.plugin_name, impl.function, impl.argnames, impl.kwargnames)
                    for impl in reversed(impls)  # pluggy calls the last registered first
                )
        self._by_hook = by_hook

    def observed(self, hook_name: str) -> bool:
        """Whether some plugin implements ``hook_name``: one dict lookup."""
        return hook_name in self._by_hook

    def notify(self, hook_name: str, /, **kwargs: object) -> None:
        """Call every observer of ``hook_name`` with the arguments it asks for."""
        if hook_name not in self._checked:
            _check(hook_name, kwargs)
            self._checked.add(hook_name)
        for observer in self._by_hook.get(hook_name, ()):
            try:
                args = [kwargs[name] for name in observer.argnames]
            except KeyError:  # a later call left out an argument the first one gave
                raise TypeError(_mismatch(hook_name, kwargs)) from None
            extra = {name: kwargs[name] for name in observer.kwargnames if name in kwargs}
            try:
                observer.function(*args, **extra)
            except Exception:  # logged: an observer must not break the task or the others
                logger.exception(
                    "observer %s of plugin %r raised; ignored", hook_name, observer.plugin_name
                )


def _check(hook_name: str, kwargs: Mapping[str, object]) -> None:
    """Raise if ``hook_name`` is no observer hook, or ``kwargs`` are not its arguments."""
    expected = OBSERVER_HOOKS.get(hook_name)
    if expected is None:
        raise ValueError(
            f"{hook_name!r} is not an observer hook{did_you_mean(hook_name, OBSERVER_HOOKS)}; "
            f"observer hooks: {', '.join(OBSERVER_HOOKS)}"
        )
    if kwargs.keys() != expected:
        raise TypeError(_mismatch(hook_name, kwargs))


def _mismatch(hook_name: str, kwargs: Mapping[str, object]) -> str:
    spec = getattr(hookspecs, hook_name)
    expected = list(inspect.signature(spec).parameters)
    missing = [name for name in expected if name not in kwargs]
    unexpected = sorted(set(kwargs) - set(expected))
    problems = [f"missing {', '.join(missing)}"] if missing else []
    problems += [f"unexpected {', '.join(unexpected)}"] if unexpected else []
    return (
        f"notify({hook_name!r}) takes exactly the hookspec's arguments "
        f"{', '.join(expected)} ({'; '.join(problems)}); this is a bug in the caller"
    )
