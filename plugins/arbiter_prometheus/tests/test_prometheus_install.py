"""Installed as a user installs it: found through the entry point, listed by ``arbiter plugins``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from arbiter_core.plugins import PluginRegistry


def test_the_registry_loads_it_from_its_distribution() -> None:
    registry = PluginRegistry()
    [info] = [p for p in registry.plugins() if p.name == "prometheus"]
    assert info.distribution == "arbiter-prometheus"
    assert {
        "arbiter_minion_started",
        "arbiter_minion_stopped",
        "arbiter_task_succeeded",
        "arbiter_task_failed",
        "arbiter_task_retried",
    } <= set(info.hooks)
    assert [p for p in registry.broken() if p.name == "prometheus"] == []


def test_arbiter_plugins_lists_it() -> None:
    script = Path(sys.executable).with_name("arbiter")
    done = subprocess.run(
        [str(script), "plugins"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.split()[:1] == ["prometheus"]]
    assert line.split()[1] == "arbiter-prometheus"
    assert "arbiter_minion_started" in line
