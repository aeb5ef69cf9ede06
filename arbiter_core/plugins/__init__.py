"""Plugins: how backends, worker pools and observers join arbiter (see ``docs/plugins.md``).

A plugin author needs only :data:`hookimpl` and the hooks documented in
:mod:`arbiter_core.plugins.hookspecs`; the rest is for code that looks plugins up.
"""

from arbiter_core.plugins.hookspecs import PROJECT, NodeFactory, PoolFactory, hookimpl, hookspec
from arbiter_core.plugins.manager import (
    ENTRY_POINT_GROUP,
    BrokenPlugin,
    LifecycleHooks,
    PluginInfo,
    PluginRegistry,
    PoolInfo,
    Provided,
    PublicNameInfo,
    SchemeInfo,
    default_registry,
    url_scheme,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "PROJECT",
    "BrokenPlugin",
    "LifecycleHooks",
    "NodeFactory",
    "PluginInfo",
    "PluginRegistry",
    "PoolFactory",
    "PoolInfo",
    "Provided",
    "PublicNameInfo",
    "SchemeInfo",
    "default_registry",
    "hookimpl",
    "hookspec",
    "url_scheme",
]
