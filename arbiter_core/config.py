"""Where settings come from: explicit arguments, the environment, a TOML file, defaults.

For each setting the first source that sets it wins:

1. an explicit argument that is not None (``connect("redis://…")``,
   ``load_settings(lease=60)``);
2. the environment: ``ARBITER_BROKER_URL``, ``ARBITER_STATE_URL``,
   ``ARBITER_NAMESPACE``, ``ARBITER_RESULT_TTL``, ``ARBITER_LEASE``,
   ``ARBITER_MAX_DELIVERIES``, ``ARBITER_BROKER_TIMEOUT``, ``ARBITER_SERIALIZER``,
   ``ARBITER_SIGNING_SECRET``, ``ARBITER_SIGNING_SECRETS`` (comma-separated, the
   signing key first), ``ARBITER_MAX_MESSAGE_SIZE``, ``ARBITER_MAX_RESULT_SIZE``,
   ``ARBITER_MAX_NESTING_DEPTH``, ``ARBITER_MAX_TASK_NAME_LENGTH``
   (an empty variable counts as unset);
3. the working directory's ``arbiter.toml`` (top-level keys) or, if there is
   none, the ``[tool.arbiter]`` table of its ``pyproject.toml``. When both
   exist, ``arbiter.toml`` wins whole and ``[tool.arbiter]`` is ignored (with a
   logged warning), as a tool's own file beats pyproject.toml for ruff or mypy;
   the two are never merged, so one file tells the whole story;
4. the defaults of :class:`~arbiter_core.settings.Settings`.

Every value is checked here, with the setting and its source in the message,
so a typo fails at start-up rather than deep inside a worker.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from arbiter_core.errors import ConfigurationError
from arbiter_core.masking import mask_url
from arbiter_core.settings import Settings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

logger = logging.getLogger("arbiter.config")

ENV_PREFIX = "ARBITER_"
SERIALIZERS = ("json", "pickle")
ARBITER_TOML = "arbiter.toml"
PYPROJECT_TOML = "pyproject.toml"

ARGUMENT = "argument"
DEFAULT = "default"

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


class _Invalid(Exception):
    """A value's problem, completed with the setting and its source by the caller."""


def env_var(name: str) -> str:
    """The environment variable for setting ``name``: ``lease`` → ``ARBITER_LEASE``."""
    return ENV_PREFIX + name.upper()


def _text(value: object, *, from_env: bool) -> str:
    if not isinstance(value, str):
        raise _Invalid("is not a string")
    if not value.strip():
        raise _Invalid("must not be empty")
    return value


def _url(value: object, *, from_env: bool) -> str:
    url = _text(value, from_env=from_env)
    if not _URL.match(url):
        raise _Invalid("is not a URL; expected scheme://..., e.g. redis://localhost:6379/0")
    return url


def _seconds(value: object, *, from_env: bool) -> float:
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, str) and from_env:
        try:
            seconds = float(value)
        except ValueError:
            raise _Invalid("is not a number") from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise _Invalid("is not a number of seconds")
    if not math.isfinite(seconds) or seconds <= 0:
        raise _Invalid("must be a number of seconds greater than 0")
    return seconds


def _count(value: object, *, from_env: bool) -> int:
    if isinstance(value, str) and from_env:
        try:
            count = int(value)
        except ValueError:
            raise _Invalid("is not a whole number") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        count = value
    else:
        raise _Invalid("is not a whole number")
    if count < 1:
        raise _Invalid("must be at least 1")
    return count


SECRETS_SEPARATOR = ","
"""Between the secrets of ``ARBITER_SIGNING_SECRETS``; no secret in a list may hold one."""


def _secrets(value: object, *, from_env: bool) -> tuple[str, ...]:
    if isinstance(value, str) and from_env:
        items: list[object] = [item.strip() for item in value.split(SECRETS_SEPARATOR)]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise _Invalid("is not a list of secrets (the signing one first)")
    if not items:
        raise _Invalid("must hold at least one secret")
    for position, item in enumerate(items, 1):
        if not isinstance(item, str) or not item.strip():
            raise _Invalid(f"secret {position} is empty or not a string")
        if SECRETS_SEPARATOR in item or item != item.strip():
            raise _Invalid(
                f"secret {position} holds a comma or starts or ends with whitespace, which "
                "ARBITER_SIGNING_SECRETS could not carry; choose another secret"
            )
    return tuple(str(item) for item in items)


def _serializer(value: object, *, from_env: bool) -> str:
    if value not in SERIALIZERS:
        raise _Invalid(f"is not a serializer; use one of {', '.join(map(repr, SERIALIZERS))}")
    return str(value)


_PARSERS: Mapping[str, Callable[..., Any]] = {
    "broker_url": _url,
    "state_url": _url,
    "namespace": _text,
    "result_ttl": _seconds,
    "lease": _seconds,
    "max_deliveries": _count,
    "broker_timeout": _seconds,
    "serializer": _serializer,
    "signing_secret": _text,
    "signing_secrets": _secrets,
    "max_message_size": _count,
    "max_result_size": _count,
    "max_nesting_depth": _count,
    "max_task_name_length": _count,
}
SETTING_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Settings))
SECRET_SETTINGS = frozenset({"signing_secret", "signing_secrets"})


@dataclass(frozen=True)
class ResolvedSettings:
    """The settings and, per setting, where its value came from (for ``arbiter config``).

    A source is ``"argument"``, ``"environment ARBITER_…"``, ``"arbiter.toml"``,
    ``"pyproject.toml [tool.arbiter]"`` or ``"default"``.
    """

    settings: Settings
    sources: Mapping[str, str]


def load_settings(
    *,
    broker_url: str | None = None,
    state_url: str | None = None,
    namespace: str | None = None,
    result_ttl: float | timedelta | None = None,
    lease: float | timedelta | None = None,
    max_deliveries: int | None = None,
    broker_timeout: float | timedelta | None = None,
    serializer: str | None = None,
    signing_secret: str | None = None,
    signing_secrets: Sequence[str] | None = None,
    max_message_size: int | None = None,
    max_result_size: int | None = None,
    max_nesting_depth: int | None = None,
    max_task_name_length: int | None = None,
    cwd: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve every setting (argument → environment → TOML file → default) and check it.

    ``cwd`` (default: the working directory) is where ``arbiter.toml`` and
    ``pyproject.toml`` are looked for; ``environ`` defaults to ``os.environ``.
    Raises :class:`ConfigurationError` naming the setting and its source.
    """
    return resolve_settings(
        broker_url=broker_url,
        state_url=state_url,
        namespace=namespace,
        result_ttl=result_ttl,
        lease=lease,
        max_deliveries=max_deliveries,
        broker_timeout=broker_timeout,
        serializer=serializer,
        signing_secret=signing_secret,
        signing_secrets=signing_secrets,
        max_message_size=max_message_size,
        max_result_size=max_result_size,
        max_nesting_depth=max_nesting_depth,
        max_task_name_length=max_task_name_length,
        cwd=cwd,
        environ=environ,
    ).settings


def resolve_settings(
    *,
    cwd: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    **explicit: Any,
) -> ResolvedSettings:
    """Like :func:`load_settings`, also telling where each value came from."""
    unknown = sorted(set(explicit) - set(SETTING_NAMES))
    if unknown:
        raise TypeError(_unknown_keys_message(unknown, "argument"))
    environ = os.environ if environ is None else environ
    file_values, file_label = read_config_file(Path.cwd() if cwd is None else Path(cwd))

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name in SETTING_NAMES:
        parse = _PARSERS[name]
        candidates: list[tuple[object, str, bool]] = []
        if explicit.get(name) is not None:
            candidates.append((explicit[name], ARGUMENT, False))
        if environ.get(env_var(name)):
            candidates.append((environ[env_var(name)], f"environment {env_var(name)}", True))
        if name in file_values:
            candidates.append((file_values[name], file_label, False))
        if not candidates:
            sources[name] = DEFAULT
            continue
        raw, source, from_env = candidates[0]
        try:
            values[name] = parse(raw, from_env=from_env)
        except _Invalid as problem:
            raise ConfigurationError(f"{_described(name, raw, source)} {problem}") from None
        sources[name] = source

    if "signing_secret" in values and "signing_secrets" in values:
        raise ConfigurationError(
            f"both signing_secret (from {sources['signing_secret']}) and signing_secrets "
            f"(from {sources['signing_secrets']}) are set; set only signing_secrets, with "
            "the signing secret first and the ones still accepted after it"
        )
    settings = Settings(**values)
    if settings.serializer == "pickle" and not settings.signing_keys:
        raise ConfigurationError(
            f"serializer 'pickle' (from {sources['serializer']}) needs a signing secret: "
            "unpickling runs whatever code the message names, so without a signature "
            "anyone who can write to the broker could run code on your workers. Set "
            "ARBITER_SIGNING_SECRET (or signing_secret=...), or keep serializer 'json'"
        )
    return ResolvedSettings(settings, sources)


def read_config_file(cwd: Path) -> tuple[dict[str, Any], str]:
    """The settings table of ``cwd``'s arbiter.toml or pyproject.toml, and its label.

    Unknown keys are an error listing the valid ones; see the module docstring
    for which file wins.
    """
    arbiter_toml = cwd / ARBITER_TOML
    pyproject = cwd / PYPROJECT_TOML
    if arbiter_toml.is_file():
        table, label = _read_toml(arbiter_toml), ARBITER_TOML
        if pyproject.is_file() and _pyproject_table(pyproject, strict=False) is not None:
            logger.warning(
                "%s and [tool.arbiter] in %s both exist in %s; using %s, ignoring [tool.arbiter]",
                ARBITER_TOML,
                PYPROJECT_TOML,
                cwd,
                ARBITER_TOML,
            )
    elif pyproject.is_file():
        label = f"{PYPROJECT_TOML} [tool.arbiter]"
        table = _pyproject_table(pyproject, strict=True) or {}
    else:
        return {}, ""
    unknown = sorted(set(table) - set(SETTING_NAMES))
    if unknown:
        raise ConfigurationError(_unknown_keys_message(unknown, f"{label} in {cwd}"))
    return dict(table), label


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from exc


def _pyproject_table(path: Path, *, strict: bool) -> dict[str, Any] | None:
    try:
        data = _read_toml(path)
    except ConfigurationError:
        if strict:
            raise
        return None
    tool = data.get("tool")
    table = tool.get("arbiter") if isinstance(tool, dict) else None
    if table is not None and not isinstance(table, dict):
        if strict:
            raise ConfigurationError(f"[tool.arbiter] in {path} must be a table")
        return None
    return table


def _unknown_keys_message(unknown: list[str], where: str) -> str:
    parts = []
    for key in unknown:
        close = difflib.get_close_matches(key, SETTING_NAMES, n=1)
        parts.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return (
        f"unknown setting(s) {', '.join(parts)} in {where}; "
        f"valid settings: {', '.join(SETTING_NAMES)}"
    )


def _described(name: str, raw: object, source: str) -> str:
    shown = "'***'" if name in SECRET_SETTINGS else repr(raw)
    if source.startswith("environment "):
        return f"{env_var(name)}={shown}"
    if source == ARGUMENT:
        return f"{name}={shown} (argument)"
    return f"{name} = {shown} in {source}"


def masked(name: str, value: object) -> str:
    """``value`` as safe to print: secrets hidden, URL passwords replaced by ``***``.

    URLs go through :func:`arbiter_core.masking.mask_url`, the one masking every
    backend uses, so a ``?password=`` query parameter is hidden too.
    """
    if value is None:
        return "(not set)"
    if name in SECRET_SETTINGS:
        return f"*** ({len(value)} set)" if isinstance(value, tuple) else "*** (set)"
    if isinstance(value, str) and name.endswith("_url"):
        return mask_url(value)
    return str(value)
