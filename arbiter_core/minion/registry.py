"""The tasks a Minion can run, by name, with their execution options."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from arbiter_core.errors import TaskDefinitionError, UnknownTaskError
from arbiter_core.minion.task_function import plain_function
from arbiter_core.rate_limit import RateLimit, parse_rate_limit
from arbiter_core.retry import NO_RETRY, RetryPolicy, retry_policy
from arbiter_core.seconds import Seconds, to_seconds
from arbiter_core.wire.limits import Limits

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class TaskDefinition:
    """A registered function, how it is retried after a failure, how long an attempt may
    run, and how often it may start across every minion (``rate_limit``, None: no limit)."""

    name: str
    function: Callable[..., Any]
    retry: RetryPolicy = NO_RETRY
    timeout: float | None = None
    rate_limit: RateLimit | None = None

    @property
    def retries(self) -> int:
        """How many more attempts a failure may get: ``retry.retries``."""
        return self.retry.retries

    @property
    def delay(self) -> float:
        """Seconds before the first retry: ``retry.delay`` (later ones may wait longer)."""
        return self.retry.delay

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(plain_function(self.function))  # @app.task's wraps


def default_task_name(function: Callable[..., Any]) -> str:
    """A stable name for an unnamed task: ``module.qualname`` (as Celery does)."""
    module = getattr(function, "__module__", None) or "__main__"
    return f"{module}.{getattr(function, '__qualname__', repr(function))}"


class TaskRegistry:
    """Name → definition; registering one name twice is refused, not silently replaced.

    ``limits``: the minion's own; a name longer than its ``max_task_name_length`` is
    refused here, where the mistake is made, rather than by every ``apply`` of it.
    """

    def __init__(self, queue: str, limits: Limits | None = None) -> None:
        self.queue = queue
        self.limits = Limits() if limits is None else limits
        self._tasks: dict[str, TaskDefinition] = {}

    def check_name(self, name: object) -> str:
        """``name`` if it can name a task here; else a TaskDefinitionError saying why."""
        if not isinstance(name, str) or not name:
            raise TaskDefinitionError(f"a task name must be a non-empty string, got {name!r}")
        too_long = self.limits.name_too_long(name)
        if too_long:
            raise TaskDefinitionError(
                f"task {name[:40]!r}...: {too_long}; give it a shorter name= or raise the limit"
            )
        return name

    def register(
        self,
        function: Callable[..., Any],
        name: str | None = None,
        *,
        retries: int = 0,
        delay: Seconds | None = None,
        timeout: Seconds | None = None,
        retry: RetryPolicy | None = None,
        rate_limit: str | float | None = None,
    ) -> TaskDefinition:
        """Register ``function`` as ``name``; retried per ``retry``, or ``retries``/``delay``;
        started at most at ``rate_limit`` (see :mod:`arbiter_core.rate_limit`)."""
        if not callable(function):
            raise TaskDefinitionError(f"a task must be callable, got {function!r}")
        name = self.check_name(name or default_task_name(function))
        if name in self._tasks and self._tasks[name].function is not function:
            raise TaskDefinitionError(f"a task named {name!r} is already registered")
        definition = TaskDefinition(
            name=name,
            function=function,
            retry=retry_policy(f"task {name!r}", retries, delay, retry),
            timeout=to_seconds(timeout, f"task {name!r}: timeout"),
            rate_limit=parse_rate_limit(rate_limit, f"task {name!r}"),
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
        retry: RetryPolicy | None = None,
        rate_limit: str | float | None = None,
    ) -> Callable[[F], F]:
        """``@registry.decorator(...)``: :meth:`register` the decorated function, unchanged."""

        def register(function: F) -> F:
            self.register(
                function, name, retries=retries, delay=delay, timeout=timeout, retry=retry,
                rate_limit=rate_limit,
            )  # fmt: skip
            return function

        return register

    def get(self, name: str) -> TaskDefinition:
        try:
            return self._tasks[name]
        except KeyError:
            raise UnknownTaskError(name, self.queue, self._tasks) from None

    def rate_limits(self) -> dict[str, str]:
        """The rate-limited tasks, by name, with their limits as given (for the banner)."""
        return {
            name: task.rate_limit.text
            for name, task in sorted(self._tasks.items())
            if task.rate_limit is not None
        }

    def __iter__(self) -> Iterator[str]:
        return iter(self._tasks)

    def __len__(self) -> int:
        return len(self._tasks)
