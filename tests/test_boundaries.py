"""The layering DESIGN §2 promises: the core knows no backend; a backend uses only public core API.

Checked twice: statically (every import statement, wherever it is, even inside a
function) and dynamically (what importing the whole core really loads).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from arbiter_core.public_api import PLUGIN_API

ROOT = Path(__file__).resolve().parent.parent

BACKENDS = {"arbiter_local", "arbiter_redis", "arbiter_kombu"}
BROKER_CLIENTS = {"redis", "kombu", "amqp", "pika"}
CORE_FORBIDDEN = BACKENDS | BROKER_CLIENTS | {"arbiter"}
"""``arbiter`` is the public face, built on the core: the core must not import it back."""

PUBLIC_CORE = frozenset(PLUGIN_API)
"""The core modules a backend may import: the same API a third-party plugin gets."""


def test_the_plugin_api_names_modules_that_exist() -> None:
    """A module dropped or renamed in the core must leave the documented list too."""
    assert len(set(PLUGIN_API)) == len(PLUGIN_API)
    missing = [name for name in PLUGIN_API if importlib.util.find_spec(name) is None]
    assert missing == []


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """``(line, module)`` for every absolute import, and every import_module("literal")."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Attribute, ast.Name))
            and (getattr(node.func, "attr", None) or getattr(node.func, "id", None))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value


def top(module: str) -> str:
    return module.partition(".")[0]


def test_the_scan_sees_imports_inside_functions_and_import_module_calls(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\nfrom a.b import c\nfrom . import sibling\n"
        "def f():\n    import redis\n    importlib.import_module('kombu.transport')\n"
    )
    assert [m for _, m in imported_modules(sample)] == ["os", "a.b", "redis", "kombu.transport"]


@pytest.mark.parametrize(
    "path", python_files("arbiter_core"), ids=lambda p: p.relative_to(ROOT).as_posix()
)
def test_the_core_imports_no_backend_and_no_broker_client(path: Path) -> None:
    bad = [
        f"line {line}: {module}"
        for line, module in imported_modules(path)
        if top(module) in CORE_FORBIDDEN
    ]
    assert not bad, f"{path.relative_to(ROOT)} imports what the core must not: {bad}"


def test_importing_every_core_module_loads_no_backend_and_no_broker_client() -> None:
    script = """
import importlib, json, pkgutil, sys
import arbiter_core
for info in pkgutil.walk_packages(arbiter_core.__path__, "arbiter_core."):
    importlib.import_module(info.name)
print(json.dumps(sorted(sys.modules)))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert "arbiter_core.public_api" in loaded  # the walk reached a module nothing imports
    assert sorted(m for m in loaded if top(m) in CORE_FORBIDDEN) == []


@pytest.mark.parametrize(
    "path",
    python_files("arbiter_local") + python_files("arbiter_redis"),
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_a_backend_uses_only_the_public_core_api(path: Path) -> None:
    backend = path.relative_to(ROOT).parts[0]
    bad = []
    for line, module in imported_modules(path):
        if top(module) == "arbiter_core" and module not in PUBLIC_CORE:
            bad.append(f"line {line}: {module} (not public core API)")
        elif top(module) in (BACKENDS - {backend}) | {"arbiter"}:
            bad.append(f"line {line}: {module} (another backend or the public face)")
    assert not bad, f"{path.relative_to(ROOT)}: {bad}"


PLUGIN_PACKAGES = [
    "plugins/arbiter_prometheus/arbiter_prometheus",
    "plugins/arbiter_kombu/arbiter_kombu",
]
"""Plugins kept in this repository but distributed apart: held to the same public API."""


@pytest.mark.parametrize(
    "path",
    [path for package in PLUGIN_PACKAGES for path in python_files(package)],
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_a_separately_installed_plugin_uses_only_the_public_core_api(path: Path) -> None:
    own = path.relative_to(ROOT).parts[2]  # plugins/<dist dir>/<package>/...: itself is fine
    bad = [
        f"line {line}: {module}"
        for line, module in imported_modules(path)
        if (top(module) == "arbiter_core" and module not in PUBLIC_CORE)
        or top(module) in (BACKENDS - {own}) | {"arbiter"}
    ]
    assert not bad, f"{path.relative_to(ROOT)} imports what a plugin may not: {bad}"


def test_the_plugin_scan_finds_the_plugins() -> None:
    for package in PLUGIN_PACKAGES:
        assert python_files(package), f"{package} has no Python files: moved?"


def test_the_redis_backend_imports_redis_only_inside_functions() -> None:
    """So ``import arbiter_redis`` works without the [redis] extra (DESIGN §2)."""
    for path in python_files("arbiter_redis"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top_level = [
            node
            for node in tree.body
            if isinstance(node, (ast.Import, ast.ImportFrom))
            and any(top(m) == "redis" for m in _names(node))
        ]
        assert not top_level, f"{path.relative_to(ROOT)} imports redis at module level"


def _names(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    return [node.module or ""]
