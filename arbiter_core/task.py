"""Task declarations: an immutable description of one unit of work and its dependencies."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from arbiter_core.errors import TaskDefinitionError
from arbiter_core.retry import NO_RETRY, RetryPolicy, retry_policy
from arbiter_core.seconds import Seconds, to_seconds

__all__ = [
    "ResultOf",
    "Seconds",
    "Task",
    "create_task",
    "result_of",
    "to_seconds",
]


@dataclass(frozen=True, slots=True)
class ResultOf:
    """Placeholder for the value a dependency returned; see :func:`result_of`."""

    task: str

    def __repr__(self) -> str:
        return f"result_of({self.task!r})"


def result_of(task: str) -> ResultOf:
    """Stand for the return value of task ``task`` in another task's ``args`` or ``kwargs``.

    The named task becomes a dependency automatically, and when the dependent task
    runs the placeholder is replaced by that value::

        create_task("total", add, args=(result_of("a"), result_of("b")))

    Placeholders are replaced at the top level of ``args`` and ``kwargs`` only
    (not inside nested lists or dicts), which keeps the substitution explicit.
    """
    if not isinstance(task, str) or not task:
        raise TaskDefinitionError(f"result_of() takes a task name, got {task!r}")
    return ResultOf(task)


@dataclass(frozen=True, slots=True)
class Task:
    """One named unit of work. Immutable: build variants with :func:`dataclasses.replace`.

    ``dependencies`` holds the names of the tasks that must succeed first,
    including the ones implied by :func:`result_of` placeholders. ``delay`` and
    ``timeout`` are in seconds (``None``: retry at once / no limit).

    ``retry`` is the whole :class:`~arbiter_core.retry.RetryPolicy`; ``retries``
    and ``delay`` always agree with it. In a variant such as
    ``replace(task, retries=5)`` the two fields win over a constant policy, which
    is rebuilt from them; a policy with backoff, a cap or jitter that disagrees
    with them is a :class:`~arbiter_core.errors.TaskDefinitionError` rather than
    a silent choice, so change it with them:
    ``replace(task, retry=p, retries=p.retries, delay=p.delay)``.
    """

    name: str
    function: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    dependencies: frozenset[str] = frozenset()
    retries: int = 0
    delay: float | None = None
    timeout: float | None = None
    retry: RetryPolicy = NO_RETRY

    def __post_init__(self) -> None:
        policy = self.retry
        if (policy.retries, policy.delay) == (self.retries, self.delay or 0.0):
            return
        if not policy.is_constant:
            raise TaskDefinitionError(
                f"task {self.name!r}: retries={self.retries!r} and delay={self.delay!r} "
                f"disagree with retry={policy!r}; change them together, or only the policy "
                f"through create_task(retry=...)"
            )
        # A constant policy says nothing that retries and delay do not: they win.
        policy = retry_policy(f"task {self.name!r}", self.retries, self.delay)
        object.__setattr__(self, "retry", policy)

    @property
    def attempts_allowed(self) -> int:
        """How many times the function may be called: the first try plus the retries."""
        return 1 + self.retries

    @property
    def uses_results(self) -> bool:
        """Whether any argument is a :func:`result_of` placeholder to fill in before running."""
        return any(isinstance(a, ResultOf) for a in self.args) or any(
            isinstance(v, ResultOf) for v in self.kwargs.values()
        )

    def bind_results(self, values: Mapping[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Return ``args`` and ``kwargs`` with each placeholder replaced by its task's value."""
        args = tuple(values[a.task] if isinstance(a, ResultOf) else a for a in self.args)
        kwargs = {
            k: values[v.task] if isinstance(v, ResultOf) else v for k, v in self.kwargs.items()
        }
        return args, kwargs


_CREATE_TASK_OPTIONS = ("args", "kwargs", "dependencies", "retries", "delay", "timeout", "retry")


def create_task(
    name: str,
    function: Callable[..., Any],
    args: Iterable[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    dependencies: Iterable[str] = (),
    retries: int = 0,
    delay: Seconds | None = None,
    timeout: Seconds | None = None,
    *,
    retry: RetryPolicy | None = None,
    **unknown: Any,
) -> Task:
    """Declare a task, checking every setting now rather than when it runs.

    ``name`` must be unique within a run. ``function`` succeeds if it returns
    without raising. A failed attempt is retried up to ``retries`` times, each
    after ``delay`` (a ``timedelta`` or seconds; immediately if not given); for
    a growing delay, a cap or jitter pass ``retry=RetryPolicy(...)`` instead of
    those two. ``timeout`` bounds each attempt. Use :func:`result_of` in
    ``args``/``kwargs`` to receive a dependency's return value.

    A misspelt keyword is a ``TypeError`` that names the keyword it resembles.
    """
    if unknown:
        problems = []
        for key in unknown:
            close = difflib.get_close_matches(key, _CREATE_TASK_OPTIONS, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"unexpected keyword argument {key!r}{hint}")
        raise TypeError(f"create_task() got {', '.join(problems)}")
    if not isinstance(name, str) or not name:
        raise TaskDefinitionError(f"a task name must be a non-empty string, got {name!r}")
    if not callable(function):
        raise TaskDefinitionError(f"task {name!r}: function must be callable, got {function!r}")
    if isinstance(dependencies, str):
        raise TaskDefinitionError(
            f"task {name!r}: dependencies must be a list of names, not the string "
            f"{dependencies!r} (did you mean [{dependencies!r}]?)"
        )
    if isinstance(args, (str, bytes)):
        raise TaskDefinitionError(
            f"task {name!r}: args must be a sequence of arguments, not the string {args!r} "
            f"(did you mean ({args!r},)?)"
        )
    policy = retry_policy(f"task {name!r}", retries, delay, retry)
    args = tuple(args)
    kwargs = dict(kwargs or {})
    deps = set()
    for dep in dependencies:
        if not isinstance(dep, str) or not dep:
            raise TaskDefinitionError(
                f"task {name!r}: dependency names must be strings, got {dep!r}"
            )
        deps.add(dep)
    deps.update(a.task for a in args if isinstance(a, ResultOf))
    deps.update(v.task for v in kwargs.values() if isinstance(v, ResultOf))
    return Task(
        name=name,
        function=function,
        args=args,
        kwargs=MappingProxyType(kwargs),
        dependencies=frozenset(deps),
        retries=policy.retries,
        delay=policy.delay if retry is not None or delay is not None else None,
        timeout=to_seconds(timeout, f"task {name!r}: timeout"),
        retry=policy,
    )
