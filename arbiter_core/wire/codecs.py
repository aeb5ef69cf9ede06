"""Serializers for envelopes and results: JSON always, pickle only by explicit opt-in.

An encoding failure names the value at fault (``args[1]['when']: datetime``), so a
bad argument is reported at ``apply`` time by the caller, not later in a worker.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from typing import Any, Protocol

from arbiter_core.errors import ConfigurationError, SerializationError


class Codec(Protocol):
    """Turns plain values into bytes and back."""

    content_type: str

    def dumps(self, value: Any, name: str = "value") -> bytes:
        """Encode ``value``; a failure names the culprit as a path from ``name``."""
        ...

    def loads(self, data: bytes) -> Any: ...


class JsonCodec:
    """Compact JSON; tuples arrive as lists, and NaN/Infinity are refused."""

    content_type = "json"

    def dumps(self, value: Any, name: str = "value") -> bytes:
        try:
            return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise SerializationError(_explain(value, name, _json_ok, "JSON", exc)) from exc

    def loads(self, data: bytes) -> Any:
        return json.loads(data)


class PickleCodec:
    """Pickle, for Python objects JSON cannot carry. Only ever used with signing."""

    content_type = "pickle"

    def dumps(self, value: Any, name: str = "value") -> bytes:
        try:
            return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # pickling raises many types
            raise SerializationError(_explain(value, name, _pickle_ok, "pickle", exc)) from exc

    def loads(self, data: bytes) -> Any:
        return pickle.loads(data)  # only after the frame HMAC was verified


CODECS: dict[str, Codec] = {"json": JsonCodec(), "pickle": PickleCodec()}


def codec_for(serializer: str) -> Codec:
    """The codec named by the ``serializer`` setting."""
    try:
        return CODECS[serializer]
    except KeyError:
        raise ConfigurationError(
            f"unknown serializer {serializer!r}; choose one of {', '.join(sorted(CODECS))}"
        ) from None


def _json_ok(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def _pickle_ok(value: Any) -> bool:
    try:
        pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - any failure means "not picklable"
        return False
    return True


def _explain(value: Any, name: str, ok: Callable[[Any], bool], what: str, exc: Exception) -> str:
    path, culprit = _find_culprit(value, ok, name)
    kind = type(culprit).__name__
    return f"{path}: {kind} value {_short(culprit)} cannot be encoded as {what} ({exc})"


def _find_culprit(value: Any, ok: Callable[[Any], bool], path: str) -> tuple[str, Any]:
    """Descend into containers to the innermost value that does not encode."""
    children: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path}[{key!r}] (key)", key
            children.append((f"{path}[{key!r}]", item))
    elif isinstance(value, (list, tuple)):
        children = [(f"{path}[{i}]", item) for i, item in enumerate(value)]
    for child_path, item in children:
        if not ok(item):
            return _find_culprit(item, ok, child_path)
    return path, value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
