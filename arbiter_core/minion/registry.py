"""The tasks a Minion can run, by name, with their execution options."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from arbiter_core.errors import TaskDefinitionError, UnknownTaskError
from arbiter_core.task import Seconds, to_seconds

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class TaskDefinition:
    """A registered function: ``retries`` more attempts after a failure, each ``delay`` later."""

    name: str
    function: Callable[..., Any]
    retries: int = 0
    delay: float = 0.0
    timeout: float | None = None

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.function)


def default_task_name(function: Callable[..., Any]) -> str:
    """A stable name for an unnamed task: ``module.qualname`` (as Celery does)."""
    module = getattr(function, "__module__", None) or "__main__"
    return f"{module}.{getattr(function, '__qualname__', repr(function))}"


class TaskRegistry:
    """Name → definition; registering one name twice is refused, not silently replaced."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self._tasks: dict[str, TaskDefinition] = {}

    def register(
        self,
        function: Callable[..., Any],
        name: str | None = None,
        *,
        retries: int = 0,
        delay: Seconds | None = None,
        timeout: Seconds | None = None,
    ) -> TaskDefinition:
        if not callable(function):
            raise TaskDefinitionError(f"a task must be callable, got {function!r}")
        name = name or default_task_name(function)
        if not isinstance(name, str) or not name:
            raise TaskDefinitionError(f"a task name must be a non-empty string, got {name!r}")
        if name in self._tasks and self._tasks[name].function is not function:
            raise TaskDefinitionError(f"a task named {name!r} is already registered")
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise TaskDefinitionError(
                f"task {name!r}: retries must be an int >= 0, got {retries!r}"
            )
        definition = TaskDefinition(
            name=name,
            function=function,
            retries=retries,
            delay=to_seconds(delay, f"task {name!r}: delay") or 0.0,
            timeout=to_seconds(timeout, f"task {name!r}: timeout"),
        )
        self._tasks[name] = definition
        return definition

    def decorator(
        self,
        name: str | None = None,
        *,
        retries: int = 0,
        delay: Seconds | None = None,
        timeout: Seconds | None = None,
    ) -> Callable[[F], F]:
        def register(function: F) -> F:
            self.register(function, name, retries=retries, delay=delay, timeout=timeout)
            return function

        return register

    def get(self, name: str) -> TaskDefinition:
        try:
            return self._tasks[name]
        except KeyError:
            raise UnknownTaskError(name, self.queue, self._tasks) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._tasks)

    def __len__(self) -> int:
        return len(self._tasks)
