"""Plugins: how backends, worker pools and observers join arbiter (see ``docs/plugins.md``).

A plugin author needs only :data:`hookimpl` and the hooks documented in
:mod:`arbiter_core.plugins.hookspecs`; the rest is for code that looks plugins up,
and :func:`did_you_mean` / :func:`listing` for a plugin's own refusals of a name.
"""

from arbiter_core.plugins.declarations import PoolInfo, Provided, PublicNameInfo, SchemeInfo
from arbiter_core.plugins.hookspecs import PROJECT, NodeFactory, PoolFactory, hookimpl, hookspec
from arbiter_core.plugins.loading import ENTRY_POINT_GROUP, BrokenPlugin, PluginInfo
from arbiter_core.plugins.registry import PluginRegistry, default_registry
from arbiter_core.plugins.schemes import url_scheme
from arbiter_core.plugins.suggestions import did_you_mean, listing

__all__ = [
    "ENTRY_POINT_GROUP",
    "PROJECT",
    "BrokenPlugin",
    "NodeFactory",
    "PluginInfo",
    "PluginRegistry",
    "PoolFactory",
    "PoolInfo",
    "Provided",
    "PublicNameInfo",
    "SchemeInfo",
    "default_registry",
    "did_you_mean",
    "hookimpl",
    "hookspec",
    "listing",
    "url_scheme",
]
