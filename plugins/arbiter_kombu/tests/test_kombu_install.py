"""Installed as a user installs it: found through the entry point, listed by ``arbiter plugins``."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

from arbiter_core.plugins import PluginRegistry


def test_the_registry_loads_it_from_its_distribution() -> None:
    registry = PluginRegistry()
    schemes = registry.schemes()
    for scheme in ("amqp", "amqps", "kombu+memory"):
        info = schemes[scheme]
        assert (info.plugin_name, info.distribution) == ("kombu", "arbiter-kombu")
        assert info.factory_ref == "arbiter_kombu.node:create_node"
    assert [p for p in registry.broken() if p.name == "kombu"] == []


def test_arbiter_plugins_lists_it_with_distribution_and_version() -> None:
    script = Path(sys.executable).with_name("arbiter")
    done = subprocess.run(
        [str(script), "plugins"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    version = importlib.metadata.version("arbiter-kombu")
    [line] = [line for line in done.stdout.splitlines() if line.split()[:1] == ["amqp://"]]
    assert line.split()[1:4] == ["kombu", "arbiter-kombu", version]
    assert "arbiter_kombu.node:create_node" in line


def test_listing_the_plugins_does_not_import_kombu() -> None:
    code = (
        "import sys; from arbiter_core.plugins import PluginRegistry; "
        "r = PluginRegistry(); r.schemes(); r.public_names(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('kombu', 'amqp')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_the_node_is_a_public_name() -> None:
    from arbiter_kombu.node import KombuEventNode

    import arbiter

    assert arbiter.KombuEventNode is KombuEventNode
