"""Settings resolution: argument, then environment, then the TOML file, then the default."""

from __future__ import annotations

import dataclasses
import logging
import math
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_masking import MASKED

from arbiter_core import masking
from arbiter_core.cli import cli
from arbiter_core.config import (
    SETTING_NAMES,
    env_var,
    load_settings,
    masked,
    resolve_settings,
)
from arbiter_core.errors import ConfigurationError
from arbiter_core.masking import mask_url
from arbiter_core.settings import DEFAULT_LEASE, Settings

NO_ENV: dict[str, str] = {}


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


def test_with_nothing_configured_every_setting_is_its_default(tmp_path: Path) -> None:
    resolved = resolve_settings(cwd=tmp_path, environ=NO_ENV)
    assert resolved.settings == Settings()
    assert resolved.settings.broker_url == "memory://"
    assert set(resolved.sources.values()) == {"default"}


def test_every_setting_has_an_environment_variable_and_a_parser(tmp_path: Path) -> None:
    """Adding a field to Settings without teaching config about it fails here."""
    environ = {
        "ARBITER_BROKER_URL": "redis://h:1/0",
        "ARBITER_STATE_URL": "redis://h:2/0",
        "ARBITER_NAMESPACE": "shop",
        "ARBITER_RESULT_TTL": "60",
        "ARBITER_LEASE": "12.5",
        "ARBITER_MAX_DELIVERIES": "7",
        "ARBITER_BROKER_TIMEOUT": "1.5",
        "ARBITER_SERIALIZER": "pickle",
        "ARBITER_SIGNING_SECRET": "s3cret",
        "ARBITER_MAX_MESSAGE_SIZE": "1000",
        "ARBITER_MAX_RESULT_SIZE": "2000",
        "ARBITER_MAX_NESTING_DEPTH": "8",
        "ARBITER_MAX_TASK_NAME_LENGTH": "50",
    }
    rotation = {"ARBITER_SIGNING_SECRETS": "new,old"}  # instead of ARBITER_SIGNING_SECRET
    assert sorted({**environ, **rotation}) == sorted(
        env_var(f.name) for f in dataclasses.fields(Settings)
    )
    rolled = {k: v for k, v in environ.items() if k != "ARBITER_SIGNING_SECRET"} | rotation
    assert resolve_settings(cwd=tmp_path, environ=rolled).settings.signing_keys == ("new", "old")
    resolved = resolve_settings(cwd=tmp_path, environ=environ)
    assert resolved.settings == Settings(
        broker_url="redis://h:1/0",
        state_url="redis://h:2/0",
        namespace="shop",
        result_ttl=60.0,
        lease=12.5,
        max_deliveries=7,
        broker_timeout=1.5,
        serializer="pickle",
        signing_secret="s3cret",
        max_message_size=1000,
        max_result_size=2000,
        max_nesting_depth=8,
        max_task_name_length=50,
    )
    assert resolved.sources["lease"] == "environment ARBITER_LEASE"


def test_an_argument_beats_the_environment_which_beats_the_file(tmp_path: Path) -> None:
    write(tmp_path, "arbiter.toml", 'broker_url = "file://"\nnamespace = "from-file"\nlease = 9\n')
    environ = {"ARBITER_BROKER_URL": "env://", "ARBITER_NAMESPACE": "from-env"}
    resolved = resolve_settings(cwd=tmp_path, environ=environ, broker_url="arg://")
    assert resolved.settings.broker_url == "arg://"
    assert resolved.settings.namespace == "from-env"
    assert resolved.settings.lease == 9.0
    assert resolved.settings.max_deliveries == Settings().max_deliveries
    assert resolved.sources == {
        "broker_url": "argument",
        "state_url": "default",
        "namespace": "environment ARBITER_NAMESPACE",
        "result_ttl": "default",
        "lease": "arbiter.toml",
        "max_deliveries": "default",
        "broker_timeout": "default",
        "serializer": "default",
        "signing_secret": "default",
        "signing_secrets": "default",
        "max_message_size": "default",
        "max_result_size": "default",
        "max_nesting_depth": "default",
        "max_task_name_length": "default",
    }


def test_an_argument_of_none_and_an_empty_variable_count_as_unset(tmp_path: Path) -> None:
    settings = load_settings(
        broker_url=None, cwd=tmp_path, environ={"ARBITER_BROKER_URL": "", "ARBITER_LEASE": ""}
    )
    assert settings.broker_url == "memory://"
    assert settings.lease == DEFAULT_LEASE


def test_pyproject_tool_arbiter_is_read(tmp_path: Path) -> None:
    write(
        tmp_path,
        "pyproject.toml",
        '[project]\nname = "app"\n\n[tool.arbiter]\nbroker_url = "redis://localhost"\n'
        "max_deliveries = 2\n",
    )
    resolved = resolve_settings(cwd=tmp_path, environ=NO_ENV)
    assert resolved.settings.broker_url == "redis://localhost"
    assert resolved.settings.max_deliveries == 2
    assert resolved.sources["broker_url"] == "pyproject.toml [tool.arbiter]"


def test_a_pyproject_without_a_tool_arbiter_table_changes_nothing(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", '[project]\nname = "app"\n[tool.ruff]\nline-length = 99\n')
    assert load_settings(cwd=tmp_path, environ=NO_ENV) == Settings()


def test_arbiter_toml_wins_over_pyproject_whole_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, "pyproject.toml", '[tool.arbiter]\nnamespace = "py"\nlease = 5\n')
    write(tmp_path, "arbiter.toml", 'namespace = "own"\n')
    with caplog.at_level(logging.WARNING, logger="arbiter.config"):
        settings = load_settings(cwd=tmp_path, environ=NO_ENV)
    assert settings.namespace == "own"
    assert settings.lease == DEFAULT_LEASE  # not merged with pyproject's
    assert "ignoring [tool.arbiter]" in caplog.text


def test_the_working_directory_is_the_default_place_to_look(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "arbiter.toml", 'namespace = "here"\n')
    monkeypatch.chdir(tmp_path)
    assert load_settings(environ=NO_ENV).namespace == "here"


def test_an_unknown_key_in_the_file_lists_the_valid_ones_and_suggests_one(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", '[tool.arbiter]\nbroker = "redis://x"\nleese = 3\n')
    with pytest.raises(ConfigurationError) as caught:
        load_settings(cwd=tmp_path, environ=NO_ENV)
    message = str(caught.value)
    assert "'leese' (did you mean 'lease'?)" in message
    assert "'broker' (did you mean 'broker_url'?)" in message
    assert "pyproject.toml [tool.arbiter]" in message
    assert "valid settings: " + ", ".join(SETTING_NAMES) in message


def test_an_unknown_keyword_argument_is_a_type_error(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="did you mean 'namespace'"):
        resolve_settings(cwd=tmp_path, environ=NO_ENV, namespce="x")


def test_a_file_that_is_not_toml_is_named(tmp_path: Path) -> None:
    write(tmp_path, "arbiter.toml", "lease = = 3\n")
    with pytest.raises(ConfigurationError, match=r"cannot read .*arbiter\.toml"):
        load_settings(cwd=tmp_path, environ=NO_ENV)


def test_tool_arbiter_must_be_a_table(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", '[tool]\narbiter = "memory://"\n')
    with pytest.raises(ConfigurationError, match=r"\[tool.arbiter\] .* must be a table"):
        load_settings(cwd=tmp_path, environ=NO_ENV)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ARBITER_LEASE", "abc", "ARBITER_LEASE='abc' is not a number"),
        ("ARBITER_RESULT_TTL", "1h", "ARBITER_RESULT_TTL='1h' is not a number"),
        ("ARBITER_LEASE", "0", "ARBITER_LEASE='0' must be a number of seconds greater than 0"),
        ("ARBITER_LEASE", "-5", "greater than 0"),
        ("ARBITER_RESULT_TTL", "nan", "greater than 0"),
        ("ARBITER_RESULT_TTL", "inf", "greater than 0"),
        ("ARBITER_MAX_DELIVERIES", "2.5", "ARBITER_MAX_DELIVERIES='2.5' is not a whole number"),
        ("ARBITER_MAX_DELIVERIES", "0", "ARBITER_MAX_DELIVERIES='0' must be at least 1"),
        ("ARBITER_SERIALIZER", "yaml", "ARBITER_SERIALIZER='yaml' is not a serializer"),
        ("ARBITER_BROKER_URL", "localhost:6379", "ARBITER_BROKER_URL='localhost:6379' is not a"),
        ("ARBITER_NAMESPACE", "  ", "must not be empty"),
    ],
)
def test_a_bad_environment_value_names_the_variable(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(cwd=tmp_path, environ={variable: value})
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('lease = "30"', "lease = '30' in arbiter.toml is not a number of seconds"),
        ("lease = true", "is not a number of seconds"),
        ("result_ttl = 0", "result_ttl = 0 in arbiter.toml must be a number of seconds greater"),
        ("max_deliveries = 1.5", "max_deliveries = 1.5 in arbiter.toml is not a whole number"),
        ("max_deliveries = 0", "must be at least 1"),
        ("namespace = 3", "namespace = 3 in arbiter.toml is not a string"),
        ('serializer = "msgpack"', "is not a serializer; use one of 'json', 'pickle'"),
    ],
)
def test_a_bad_file_value_names_the_setting_and_the_file(
    tmp_path: Path, line: str, message: str
) -> None:
    write(tmp_path, "arbiter.toml", line + "\n")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(cwd=tmp_path, environ=NO_ENV)
    assert message in str(caught.value)


def test_bad_arguments_are_refused_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"lease=-1 \(argument\) must be"):
        load_settings(lease=-1, cwd=tmp_path, environ=NO_ENV)
    with pytest.raises(ConfigurationError, match=r"max_deliveries=True \(argument\) is not"):
        load_settings(max_deliveries=True, cwd=tmp_path, environ=NO_ENV)


def test_durations_may_be_timedeltas(tmp_path: Path) -> None:
    settings = load_settings(
        lease=timedelta(minutes=2), result_ttl=timedelta(days=1), cwd=tmp_path, environ=NO_ENV
    )
    assert (settings.lease, settings.result_ttl) == (120.0, 86400.0)
    assert math.isclose(load_settings(lease=0.25, cwd=tmp_path, environ=NO_ENV).lease, 0.25)


def test_pickle_without_a_signing_secret_is_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(cwd=tmp_path, environ={"ARBITER_SERIALIZER": "pickle"})
    message = str(caught.value)
    assert "from environment ARBITER_SERIALIZER" in message
    assert "needs a signing secret" in message
    assert "run code on your workers" in message
    assert "ARBITER_SIGNING_SECRET" in message
    settings = load_settings(serializer="pickle", signing_secret="k", cwd=tmp_path, environ=NO_ENV)
    assert settings.serializer == "pickle"


def test_the_secret_is_never_echoed(tmp_path: Path) -> None:
    write(tmp_path, "arbiter.toml", "signing_secret = 12345\n")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(cwd=tmp_path, environ=NO_ENV)
    assert "12345" not in str(caught.value)
    assert "signing_secret = '***' in arbiter.toml is not a string" in str(caught.value)
    settings = load_settings(signing_secret="hunter2", cwd=tmp_path, environ=NO_ENV)
    assert "hunter2" not in repr(settings)


@pytest.mark.parametrize(("url", "shown"), MASKED)
def test_urls_are_shown_with_the_password_masked(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    assert masked("broker_url", url) == shown
    assert masked("state_url", url) == shown


def test_config_masks_urls_with_the_one_shared_function() -> None:
    """No second copy that could miss a case: ``config.mask_url`` *is* ``masking.mask_url``."""
    from arbiter_core import config

    assert config.mask_url is masking.mask_url


def test_the_config_command_masks_a_password_query_parameter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in SETTING_NAMES:
        monkeypatch.delenv(env_var(name), raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "arbiter.toml").write_text(
        'state_url = "redis://store:6379/1?password=tomlsecret"\n'
    )
    result = CliRunner().invoke(
        cli,
        ["config"],
        env={"ARBITER_BROKER_URL": "redis://cache:6379/0?db=2&password=envsecret"},
    )
    assert result.exit_code == 0, result.output
    assert "envsecret" not in result.output and "tomlsecret" not in result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines()[1:]}
    assert rows["broker_url"][1] == "redis://cache:6379/0?db=2&password=***"
    assert rows["state_url"][1:3] == ["redis://store:6379/1?password=***", "arbiter.toml"]


def test_masked_hides_secrets_and_marks_unset_values() -> None:
    assert masked("signing_secret", "k") == "*** (set)"
    assert masked("state_url", None) == "(not set)"
    assert masked("lease", 30.0) == "30.0"
