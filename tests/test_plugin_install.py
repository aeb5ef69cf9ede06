"""The example plugin of docs/plugins.md, built and pip-installed for real, then used by URL.

The package's files are taken from the page itself (its ``file=PATH`` code blocks),
so the documentation and this test cannot drift apart. pip installs the package
with ``--target`` into a temporary folder that only the subprocesses of this test
put on their path: a real install (a wheel built by hatchling, a ``.dist-info``
with the entry point) that never touches the running venv, so nothing needs
uninstalling and a crashed run leaves nothing behind.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from plugin_support import make_distribution

from arbiter_core.config import SETTING_NAMES, env_var

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "plugins.md"
FILE_BLOCK = re.compile(
    r"^```(?P<lang>\w+)[ \t][^\n]*?\bfile=(?P<path>\S+)[^\n]*\n(?P<code>.*?)^```", re.M | re.S
)
BROKEN_MODULE = "arbiter_broken_plugin"


def documented_files() -> dict[str, str]:
    """``{relative path: content}`` of every ``file=PATH`` block in docs/plugins.md."""
    files = {m.group("path"): m.group("code") for m in FILE_BLOCK.finditer(DOC.read_text())}
    assert set(files) == {
        "pyproject.toml",
        "arbiter_demo/__init__.py",
        "arbiter_demo/plugin.py",
        "tests/test_conformance.py",
        "app.py",
    }, "docs/plugins.md lost (or gained) a file of the example package"
    return files


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("arbiter-demo")
    for relative, content in documented_files().items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def site(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the example is pip-installed, next to a hand-made broken plugin."""
    target = tmp_path_factory.mktemp("site")
    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",  # hatchling comes from the [test] extra
            "--target",
            str(target),
            str(project),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert list(target.glob("arbiter_demo-0.1.0.dist-info"))
    make_distribution(
        target,
        "arbiter-broken",
        "0.1",
        {"broken": BROKEN_MODULE},
        {BROKEN_MODULE: "raise ImportError('arbiter-broken needs libfoo')\n"},
    )
    return target


def run(args: list[str], site: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in a fresh process that sees the installed plugins and no ARBITER_* setting."""
    environ = {k: v for k, v in os.environ.items() if k not in map(env_var, SETTING_NAMES)}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), environ.get("PYTHONPATH")]))
    environ.update(env)
    return subprocess.run(
        args, cwd=cwd, env=environ, capture_output=True, text=True, timeout=120, check=False
    )


def arbiter_command() -> list[str]:
    script = Path(sys.executable).with_name("arbiter")
    return [str(script)] if script.exists() else [sys.executable, "-m", "arbiter.cli"]


def test_arbiter_plugins_lists_the_installed_scheme_with_its_distribution(
    site: Path, project: Path
) -> None:
    done = run([*arbiter_command(), "plugins"], site, cwd=project)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines() if line.strip()}
    assert rows["demo://"][1:] == ["demo", "arbiter-demo", "0.1.0", "arbiter_demo:create_node"]
    assert rows["memory://"][1:3] == ["local", "arbiter-tasks"]


def test_a_broken_plugin_is_reported_by_name_and_the_others_still_work(
    site: Path, project: Path
) -> None:
    done = run([*arbiter_command(), "plugins"], site, cwd=project)
    assert done.returncode == 0, done.stderr
    assert "warning: 1 plugin problem(s)" in done.stdout
    [report] = [line for line in done.stdout.splitlines() if "arbiter-broken" in line]
    assert report.split()[:2] == ["broken", "(arbiter-broken):"]
    assert "ImportError: arbiter-broken needs libfoo" in report
    assert "demo://" in done.stdout
    assert "memory://" in done.stdout


def test_the_environment_selects_the_plugin_with_no_code_change(site: Path, project: Path) -> None:
    chosen = run([sys.executable, "app.py"], site, cwd=project, ARBITER_BROKER_URL="demo://")
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout.strip() == "DemoEventNode demo://"
    default = run([sys.executable, "app.py"], site, cwd=project)
    assert default.returncode == 0, default.stderr
    assert default.stdout.strip() == "MemoryEventNode memory://"


def test_the_documented_conformance_suite_passes_against_the_installed_plugin(
    site: Path, project: Path
) -> None:
    done = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        site,
        cwd=project,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert re.search(r"\b\d{2,} passed\b", done.stdout), done.stdout[-500:]
