"""The ``arbiter`` command line: plugins, config and demo."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
from click.testing import CliRunner
from plugin_support import arbiter_entry_points, make_distribution, unique_module

from arbiter.cli import cli
from arbiter_core.config import SETTING_NAMES, env_var
from arbiter_core.plugins import PluginRegistry


@pytest.fixture(autouse=True)
def clean_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTING_NAMES:
        monkeypatch.delenv(env_var(name), raising=False)
    monkeypatch.chdir(tmp_path)


def test_the_console_script_is_arbiter_cli_main() -> None:
    [script] = importlib.metadata.entry_points(group="console_scripts", name="arbiter")
    assert script.value == "arbiter.cli:main"


def test_help_lists_the_commands_and_version_works() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("plugins", "config", "demo"):
        assert command in result.output
    version = runner.invoke(cli, ["--version"])
    assert version.exit_code == 0
    assert version.output.startswith("arbiter, version ")


def test_plugins_lists_schemes_and_pools_with_their_distribution() -> None:
    result = CliRunner().invoke(cli, ["plugins"], obj=PluginRegistry())
    assert result.exit_code == 0, result.output
    version = importlib.metadata.version("arbiter-tasks")
    lines = result.output.splitlines()
    [memory] = [line for line in lines if line.strip().startswith("memory://")]
    assert memory.split()[:4] == [
        "memory://",
        "local",
        "arbiter-tasks",
        version,
    ]
    assert memory.split()[4] == "arbiter_local.memory.node:create_node"
    pools = {line.split()[0]: line.split() for line in lines if line.startswith("  thread")}
    assert pools["thread"][1:4] == ["local", "arbiter-tasks", version]
    assert any(line.split()[:1] == ["process"] for line in lines)
    assert "warning" not in result.output


def test_plugins_reports_a_broken_plugin_with_exit_status_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    monkeypatch.syspath_prepend(str(site))
    broken = unique_module("broken_cli_plugin")
    make_distribution(
        site, "arbiter-broken", "0.3", {"broken": broken}, {broken: "import no_such_lib_xyz\n"}
    )
    assert [ep.name for ep in arbiter_entry_points(site)] == ["broken"]
    # a fresh registry reads every installed distribution, the fake one on sys.path included
    result = CliRunner().invoke(cli, ["plugins"], obj=PluginRegistry())
    assert result.exit_code == 0, result.output
    assert "memory://" in result.output  # the others still work
    assert "warning: 1 plugin problem(s)" in result.output
    assert "broken (arbiter-broken): cannot import" in result.output
    assert "No module named 'no_such_lib_xyz'" in result.output


def test_config_shows_each_value_and_where_it_came_from(tmp_path: Path) -> None:
    (tmp_path / "arbiter.toml").write_text('namespace = "shop"\n')
    result = CliRunner().invoke(
        cli,
        ["config"],
        env={
            "ARBITER_BROKER_URL": "redis://:pw@cache:6379/0",
            "ARBITER_SIGNING_SECRET": "hunter2",
        },
    )
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert set(rows) == set(SETTING_NAMES)
    assert rows["broker_url"].split() == [
        "broker_url",
        "redis://:***@cache:6379/0",
        "environment",
        "ARBITER_BROKER_URL",
    ]
    assert rows["namespace"].split() == ["namespace", "shop", "arbiter.toml"]
    assert rows["lease"].split() == ["lease", "30.0", "default"]
    assert "hunter2" not in result.output
    assert "pw@" not in result.output
    assert rows["signing_secret"].split()[1:3] == ["***", "(set)"]


def test_config_with_a_bad_value_fails_with_the_reason() -> None:
    result = CliRunner().invoke(cli, ["config"], env={"ARBITER_LEASE": "abc"})
    assert result.exit_code == 1
    assert "Error: ARBITER_LEASE='abc' is not a number" in result.output


def test_demo_prints_the_results_table() -> None:
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].split()[:2] == ["task", "outcome"]
    assert "tasks succeeded" in result.output
