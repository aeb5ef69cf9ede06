"""Lazy ``"package.module:attribute"`` references: checked when declared, imported on first use.

A plugin names its factories as strings, like kombu's ``TRANSPORT_ALIASES``, so
listing what it provides imports nothing and a backend whose client is an optional
extra can still be listed. When a reference is used and its import fails, the
:class:`~arbiter_core.errors.ConfigurationError` names what needed it, the missing
module, and, for a module a known extra brings, the ``pip install`` line.
"""

from __future__ import annotations

import importlib
from typing import Any

from arbiter_core.errors import ConfigurationError
from arbiter_core.plugins.install_hints import MODULE_INSTALL_HINTS


def is_reference(ref: object) -> bool:
    """Whether ``ref`` is a ``"package.module:attribute"`` string (not whether it imports)."""
    if not isinstance(ref, str):
        return False
    module, sep, attr = ref.partition(":")
    return bool(sep and module and attr)


def resolve(ref: Any, what: str) -> Any:
    """Import what a lazy reference names; anything else (a callable) is returned as is.

    ``what`` says who needs it (``"the redis:// backend of plugin 'redis' (...)"``)
    and starts every error message.
    """
    if not isinstance(ref, str):
        return ref
    module_name, _, attr_path = ref.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(import_failure(what, exc)) from exc
    try:
        for attr in attr_path.split("."):
            target = getattr(target, attr)
    except AttributeError as exc:
        raise ConfigurationError(
            f"{what} names {ref!r}, but {module_name} has no attribute {attr_path!r}; "
            "this is a bug in the plugin"
        ) from exc
    return target


def import_failure(what: str, exc: ImportError) -> str:
    """Why ``what`` cannot be imported, and what to install (only a line that exists)."""
    missing = exc.name or ""
    hint = MODULE_INSTALL_HINTS.get(missing.partition(".")[0])
    if hint:
        action = f"install it with: {hint}"
    elif missing:
        action = f"install the package that provides {missing!r}, or reinstall the plugin"
    else:
        action = "reinstall the plugin"
    return f"{what} cannot be imported ({describe(exc)}); {action}"


def describe(exc: BaseException) -> str:
    """``"ImportError: needs libfoo"``: an error as a plugin report shows it."""
    return f"{type(exc).__name__}: {exc}"
