"""Explaining pickling failures: say *which* value could not cross to a process."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from typing import Any

from arbiter_core.errors import SerializationError


def dumps_call(label: str, fn: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bytes:
    """Pickle a call for a worker process, or raise an error naming the culprit.

    The fast path pickles everything at once; only on failure is each part
    pickled alone to find the function or argument at fault.
    """
    try:
        return pickle.dumps((fn, args, dict(kwargs)), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # pickling raises many types (PicklingError, TypeError, …)
        raise SerializationError(
            f"task {label!r} cannot run in a process: {_culprit(fn, args, kwargs)} "
            f"cannot be pickled ({type(exc).__name__}: {exc}); use module-level "
            "functions and picklable arguments, or run it on threads"
        ) from exc


def _culprit(fn: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
    parts: list[tuple[str, Any]] = [(f"the function {_name(fn)}", fn)]
    parts += [(f"argument {i} ({_short(a)})", a) for i, a in enumerate(args)]
    parts += [(f"keyword argument {k!r} ({_short(v)})", v) for k, v in kwargs.items()]
    for description, value in parts:
        try:
            pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - any failure marks the culprit
            return description
    return "the call"


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
