"""Task declarations: an immutable description of one unit of work and its dependencies.

``create_task`` and ``Task`` keep the original arbiter's shape (invenia/Arbiter,
2014): the positional order ``create_task(name, function, dependencies, args,
kwargs, retries, delay)`` and the five-field tuple ``(name, function,
dependencies, args, kwargs)``. What arbiter added since (``timeout``, ``retry``)
is keyword-only.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import FrozenInstanceError, dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

from arbiter_core.errors import TaskDefinitionError
from arbiter_core.retry import NO_RETRY, RetryPolicy, retry_policy
from arbiter_core.seconds import Seconds, to_seconds

__all__ = [
    "ResultOf",
    "Seconds",
    "Task",
    "check_name",
    "create_task",
    "result_of",
    "to_seconds",
]


_NO_KWARGS: Mapping[str, Any] = MappingProxyType({})


def check_name(name: object, what: str) -> None:
    """Refuse a task name the local runner cannot use: any hashable will do, as originally.

    ``what`` starts the message (``"a task name"``, ``"task 'x': a dependency name"``).
    The distributed face names tasks with strings and checks that itself.
    """
    try:
        hash(name)
    except TypeError:
        raise TaskDefinitionError(
            f"{what} must be hashable (a string, a number, a tuple...), got {name!r}"
        ) from None


@dataclass(frozen=True, slots=True)
class ResultOf:
    """Placeholder for the value a dependency returned; see :func:`result_of`."""

    task: Hashable

    def __repr__(self) -> str:
        return f"result_of({self.task!r})"


def result_of(task: Hashable) -> ResultOf:
    """Stand for the return value of task ``task`` in another task's ``args`` or ``kwargs``.

    The named task becomes a dependency automatically, and when the dependent task
    runs the placeholder is replaced by that value::

        create_task("total", add, args=(result_of("a"), result_of("b")))

    Placeholders are replaced at the top level of ``args`` and ``kwargs`` only
    (not inside nested lists or dicts), which keeps the substitution explicit.
    """
    check_name(task, "result_of() takes a task name, which")
    return ResultOf(task)


class _TaskFields(NamedTuple):
    name: Hashable
    function: Callable[..., Any] | str
    dependencies: frozenset[Hashable] = frozenset()
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = _NO_KWARGS


class Task(_TaskFields):
    """One named unit of work: the original arbiter's five-field namedtuple, and more.

    The tuple is ``(name, function, dependencies, args, kwargs)``, in the
    original's order, so ``Task("foo", f, frozenset(), (), {})`` builds one and a
    task from :func:`create_task` equals that form. ``dependencies`` holds the names
    of the tasks that must succeed first, including the ones implied by
    :func:`result_of` placeholders.

    The rest is keyword-only and not part of the tuple: ``retries`` and ``delay``
    (seconds; ``None``: retry at once), ``timeout`` (seconds; ``None``: no limit) and
    ``retry``, the whole :class:`~arbiter_core.retry.RetryPolicy`. Two Tasks are
    equal when their tuples and these settings are; against a plain tuple (the
    original's namedtuple) only the five fields count.

    Immutable: build a variant with ``task._replace(retries=5)`` (a namedtuple's
    method, taking settings too). ``retries`` and ``delay`` always agree with
    ``retry``. In a variant the two win over a constant policy, which is rebuilt
    from them; a policy with backoff, a cap or jitter that disagrees with them is a
    :class:`~arbiter_core.errors.TaskDefinitionError` rather than a silent choice,
    so change it with them: ``task._replace(retry=p, retries=p.retries, delay=p.delay)``.

    Build tasks with :func:`create_task`, which checks every setting; this
    constructor stores what it is given.
    """

    # No __slots__: a tuple subclass keeps its settings in its instance dict. The
    # class-level values serve a Task built by the namedtuple's own _make().
    retries: int = 0
    delay: float | None = None
    timeout: float | None = None
    retry: RetryPolicy = NO_RETRY

    def __new__(
        cls,
        name: Hashable,
        function: Callable[..., Any] | str,
        dependencies: frozenset[Hashable] = frozenset(),
        args: tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        retries: int = 0,
        delay: float | None = None,
        timeout: float | None = None,
        retry: RetryPolicy = NO_RETRY,
    ) -> Task:
        self = super().__new__(
            cls, name, function, dependencies, args, _NO_KWARGS if kwargs is None else kwargs
        )
        if (retry.retries, retry.delay) != (retries, delay or 0.0):
            if not retry.is_constant:
                raise TaskDefinitionError(
                    f"task {name!r}: retries={retries!r} and delay={delay!r} "
                    f"disagree with retry={retry!r}; change them together, or only the policy "
                    f"through create_task(retry=...)"
                )
            # A constant policy says nothing that retries and delay do not: they win.
            retry = retry_policy(f"task {name!r}", retries, delay)
        self.__dict__.update(retries=retries, delay=delay, timeout=timeout, retry=retry)
        return self

    def settings(self) -> dict[str, Any]:
        """The keyword-only part: ``retries``, ``delay``, ``timeout`` and ``retry``."""
        return {
            "retries": self.retries,
            "delay": self.delay,
            "timeout": self.timeout,
            "retry": self.retry,
        }

    def _replace(self, **changes: Any) -> Task:
        """A variant with some fields or settings changed."""
        fields = {**self._asdict(), **self.settings()}
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(f"Task has no field(s) {', '.join(sorted(unknown))}")
        fields.update(changes)
        return Task(**fields)

    __replace__ = _replace  # copy.replace() on Python 3.13+

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Task):
            return tuple.__eq__(self, other) and self.settings() == other.settings()
        return tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        # Like the original's namedtuple: unhashable when kwargs is (a dict, a mapping proxy).
        return hash((tuple(self), self.retries, self.delay, self.timeout, self.retry))

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}: a Task is immutable")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}: a Task is immutable")

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self._asdict().items())
        defaults = {"retries": 0, "delay": None, "timeout": None}
        extra = "".join(
            f", {k}={v!r}" for k, v in self.settings().items() if k in defaults and v != defaults[k]
        )
        if not self.retry.is_constant:
            extra += f", retry={self.retry!r}"
        return f"Task({fields}{extra})"

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

    def bind_results(
        self, values: Mapping[Hashable, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Return ``args`` and ``kwargs`` with each placeholder replaced by its task's value."""
        args = tuple(values[a.task] if isinstance(a, ResultOf) else a for a in self.args)
        kwargs = {
            k: values[v.task] if isinstance(v, ResultOf) else v for k, v in self.kwargs.items()
        }
        return args, kwargs


_CREATE_TASK_OPTIONS = ("dependencies", "args", "kwargs", "retries", "delay", "timeout", "retry")


def create_task(
    name: Hashable,
    function: Callable[..., Any] | str,
    dependencies: Iterable[Hashable] | None = None,
    args: Iterable[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    retries: int = 0,
    delay: Seconds | None = None,
    *,
    timeout: Seconds | None = None,
    retry: RetryPolicy | None = None,
    **unknown: Any,
) -> Task:
    """Declare a task, checking every setting now rather than when it runs.

    The positional order is the original arbiter's: ``create_task(name, function,
    dependencies, args, kwargs, retries, delay)``; ``timeout`` and ``retry`` are
    keyword-only.

    ``name`` is any hashable, unique within a run. ``function`` succeeds if it
    returns without raising; for ``Arbiter.run_tasks`` it may be the name of a task
    registered on the minions (or the ``@app.task`` function itself). ``dependencies``
    names the tasks that must succeed first. A failed attempt is retried up to
    ``retries`` times, each after ``delay`` (a ``timedelta`` or seconds; immediately
    if not given); for a growing delay, a cap or jitter pass ``retry=RetryPolicy(...)``
    instead of those two.
    ``timeout`` bounds each attempt. Use :func:`result_of` in ``args``/``kwargs`` to
    receive a dependency's return value.

    A misspelt keyword is a ``TypeError`` that names the keyword it resembles.
    """
    if unknown:
        problems = []
        for key in unknown:
            close = difflib.get_close_matches(key, _CREATE_TASK_OPTIONS, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"unexpected keyword argument {key!r}{hint}")
        raise TypeError(f"create_task() got {', '.join(problems)}")
    check_name(name, "a task name")
    if not callable(function) and not (isinstance(function, str) and function):
        raise TaskDefinitionError(
            f"task {name!r}: function must be callable, or the name of a task registered "
            f"on minions (for Arbiter.run_tasks), got {function!r}"
        )
    if isinstance(dependencies, (str, bytes)):
        raise TaskDefinitionError(
            f"task {name!r}: dependencies must be a list of names, not the string "
            f"{dependencies!r} (did you mean [{dependencies!r}]?)"
        )
    if isinstance(args, (str, bytes)):
        raise TaskDefinitionError(
            f"task {name!r}: args must be a sequence of arguments, not the string {args!r} "
            f"(did you mean ({args!r},)?)"
        )
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise TaskDefinitionError(
            f"task {name!r}: kwargs must be a mapping of keyword arguments, got {kwargs!r}"
        )
    policy = retry_policy(f"task {name!r}", retries, delay, retry)
    args = tuple(args)
    kwargs = dict(kwargs or {})
    deps = set()
    for dep in dependencies or ():
        check_name(dep, f"task {name!r}: a dependency name")
        deps.add(dep)
    deps.update(a.task for a in args if isinstance(a, ResultOf))
    deps.update(v.task for v in kwargs.values() if isinstance(v, ResultOf))
    return Task(
        name,
        function,
        frozenset(deps),
        args,
        MappingProxyType(kwargs),
        retries=policy.retries,
        delay=policy.delay if retry is not None or delay is not None else None,
        timeout=to_seconds(timeout, f"task {name!r}: timeout"),
        retry=policy,
    )
