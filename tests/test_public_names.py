"""``from arbiter import NAME`` for names plugins declare (the ``arbiter_public_names`` hook)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from arbiter_core.errors import ConfigurationError
from arbiter_core.plugins import PluginRegistry, hookimpl


class Declares:
    def __init__(self, names: dict[str, object]) -> None:
        self.names = names

    @hookimpl
    def arbiter_public_names(self) -> dict[str, object]:
        return self.names


def registry_with(*plugins: Declares) -> PluginRegistry:
    registry = PluginRegistry(entry_points=[])
    for index, plugin in enumerate(plugins):
        registry.register(plugin, name=f"plugin{index}")
    return registry


def test_a_declared_name_is_imported_only_when_resolved() -> None:
    registry = registry_with(Declares({"Thing": "json.decoder:JSONDecoder"}))
    assert registry.public_names()["Thing"].plugin_name == "plugin0"
    import json.decoder

    assert registry.resolve_public_name("Thing") is json.decoder.JSONDecoder


def test_an_undeclared_name_is_an_attribute_error_listing_the_declared_ones() -> None:
    registry = registry_with(Declares({"Thing": "json:loads"}))
    with pytest.raises(AttributeError, match=r"'Thingy'.*did you mean Thing\?.*: Thing"):
        registry.resolve_public_name("Thingy")


def test_bad_declarations_are_reported_and_the_first_of_two_wins() -> None:
    registry = registry_with(
        Declares({"Thing": "json:loads", "not a name": "json:dumps", "_private": "json:dumps"}),
        Declares({"Thing": "json:dumps", "Other": 42}),
    )
    assert set(registry.public_names()) == {"Thing"}
    assert registry.public_names()["Thing"].factory_ref == "json:loads"
    problems = " | ".join(p.error for p in registry.broken())
    assert "'not a name' is not a public Python name" in problems
    assert "'_private' is not a public Python name" in problems
    assert "public name 'Thing' is already provided by plugin 'plugin0'" in problems
    assert "'Other': 42 is not a 'package.module:attribute' reference" in problems


def test_a_name_whose_module_is_missing_is_a_configuration_error() -> None:
    registry = registry_with(Declares({"Gone": "arbiter_no_such_module:Gone"}))
    with pytest.raises(ConfigurationError, match="arbiter_no_such_module"):
        registry.resolve_public_name("Gone")


def test_importing_arbiter_imports_no_backend_until_a_name_is_used() -> None:
    script = """
import sys
import arbiter
assert "arbiter_redis" not in sys.modules and "redis" not in sys.modules
assert "RedisEventNode" in dir(arbiter)
from arbiter import RedisEventNode
assert RedisEventNode.__module__ == "arbiter_redis.node"
try:
    arbiter.NoSuchThing
except AttributeError as exc:
    print(exc)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "no attribute 'NoSuchThing'" in done.stdout
    assert "RedisEventNode" in done.stdout
