"""What plugins declare: URL schemes, worker pools and public names, checked one by one.

:func:`collect` calls each declaring hook of every plugin, in registration order.
Whatever is wrong (the hook raised or returned something other than a dict, a bad
name or reference, a key another plugin declared first) becomes a
:class:`~arbiter_core.plugins.BrokenPlugin` naming the plugin, and everything else
is kept: the first plugin to declare a key keeps it. References are only checked
for their shape here; they are imported when used.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import pluggy

from arbiter_core.plugins.loading import BrokenPlugin, PluginLoader, origin
from arbiter_core.plugins.references import describe, is_reference

logger = logging.getLogger("arbiter.plugins")

_KEY = re.compile(r"[a-z][a-z0-9+.-]*")


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
        return origin(self.distribution, self.version)


SchemeInfo = Provided
"""A URL scheme (``name``, without ``://``) and the node factory that serves it."""
PoolInfo = Provided
"""A worker pool name and the class (or factory) behind it."""
PublicNameInfo = Provided
"""A name ``from arbiter import NAME`` finds through a plugin."""


class Declarations(NamedTuple):
    """Everything the plugins' declaring hooks returned, checked, and what was wrong."""

    schemes: dict[str, SchemeInfo]
    pools: dict[str, PoolInfo]
    names: dict[str, PublicNameInfo]
    problems: list[BrokenPlugin]


def collect(loader: PluginLoader) -> Declarations:
    """Ask every plugin on ``loader`` what it declares; problems are logged and kept."""
    problems: list[BrokenPlugin] = []
    declarations = Declarations(
        _gather(loader, "arbiter_node_schemes", "URL scheme", problems),
        _gather(loader, "arbiter_worker_pools", "worker pool", problems),
        _gather(loader, "arbiter_public_names", "public name", problems),
        problems,
    )
    for problem in problems:
        logger.warning("arbiter plugin %r: %s", problem.name, problem.error)
    return declarations


def _gather(
    loader: PluginLoader, hook_name: str, what: str, problems: list[BrokenPlugin]
) -> dict[str, Provided]:
    found: dict[str, Provided] = {}
    for key, ref, impl in _answers(loader, hook_name, problems):
        distribution, version = loader.origin_of(impl.plugin_name)
        kept = found.get(key)
        if kept is not None:
            problems.append(
                BrokenPlugin(
                    impl.plugin_name,
                    distribution,
                    f"{what} {key!r} is already provided by plugin {kept.plugin_name!r} "
                    f"({kept.origin}); this plugin's {key!r} is ignored",
                )
            )
            continue
        found[key] = Provided(key, ref, impl.plugin_name, distribution, version)
    return found


def _answers(
    loader: PluginLoader, hook_name: str, problems: list[BrokenPlugin]
) -> Iterator[tuple[str, Any, pluggy.HookImpl]]:
    """Each plugin's ``{key: reference}`` answers, in registration order, checked.

    Keys are lower-cased URL schemes or pool names, or for public names Python
    identifiers kept as they are, whose references must be lazy strings.
    """
    names = hook_name == "arbiter_public_names"
    caller: pluggy.HookCaller = getattr(loader.manager.hook, hook_name)
    for impl in caller.get_hookimpls():
        distribution = loader.origin_of(impl.plugin_name)[0]
        try:
            answer = impl.function()
        except Exception as exc:  # noqa: BLE001 - reported, the other plugins go on
            problems.append(
                BrokenPlugin(impl.plugin_name, distribution, f"{hook_name}(): {describe(exc)}")
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


def _check_entry(key: object, ref: object) -> str | None:
    """Why ``key: ref`` cannot be a scheme or pool, or None."""
    if not isinstance(key, str) or not _KEY.fullmatch(key.lower()):
        return f"{key!r} is not a valid name (letters, digits, '+', '-', '.'; no '://')"
    if isinstance(ref, str):
        if not is_reference(ref):
            return f"{key!r}: {ref!r} is not a 'package.module:attribute' reference"
    elif not callable(ref):
        return f"{key!r}: {ref!r} is neither callable nor a 'module:attribute' string"
    return None


def _check_name(key: object, ref: object) -> str | None:
    """Why ``key: ref`` cannot be a public name, or None."""
    if not isinstance(key, str) or not key.isidentifier() or key.startswith("_"):
        return f"{key!r} is not a public Python name"
    if not is_reference(ref):
        return f"{key!r}: {ref!r} is not a 'package.module:attribute' reference"
    return None
