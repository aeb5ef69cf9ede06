"""The functions a Minion serves over RPC, by name (``@app.rpc``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from arbiter_core.errors import TaskDefinitionError


class RpcFunctions:
    """Name → function; registering one name twice (for another function) is refused.

    Kept apart from the minion's tasks: a task is queued durably and retried, a call
    is answered at most once, so a name means one or the other unless the same
    function is registered as both (``@app.task`` and ``@app.rpc`` stacked).
    """

    def __init__(self) -> None:
        self._functions: dict[str, Callable[..., Any]] = {}

    def register(self, function: Callable[..., Any], name: str) -> None:
        if not callable(function):
            raise TaskDefinitionError(f"an rpc function must be callable, got {function!r}")
        if not isinstance(name, str) or not name:
            raise TaskDefinitionError(f"an rpc name must be a non-empty string, got {name!r}")
        known = self._functions.get(name)
        if known is not None and known is not function:
            raise TaskDefinitionError(f"an rpc function named {name!r} is already registered")
        self._functions[name] = function

    def get(self, name: str) -> Callable[..., Any] | None:
        return self._functions.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._functions)

    def __len__(self) -> int:
        return len(self._functions)
