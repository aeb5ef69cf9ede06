"""A minion's periodic tasks: what ``@app.periodic`` registered, by name.

Each entry is a registered task (the minion's :class:`~arbiter_core.minion.registry.TaskRegistry`
runs it like any other) plus when it is due and what it is given. A minion serving
the queue fires the due ticks (:mod:`~arbiter_core.periodic.ticker`); the table is
published in its heartbeat so ``arbiter periodic`` lists it from anywhere.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from arbiter_core.errors import TaskDefinitionError
from arbiter_core.periodic.schedule import Schedule

Missed = Literal["skip", "run_once"]
SKIP: Missed = "skip"
"""A tick that passed while no minion ran is not fired: only ticks from now on."""
RUN_ONCE: Missed = "run_once"
"""The latest tick that passed while no minion ran is fired once, when one starts."""
MISSED_POLICIES: tuple[Missed, ...] = (SKIP, RUN_ONCE)

TICK_KEYWORD = "tick"
"""A periodic function with a parameter of this name gets its tick (epoch seconds) there."""


@dataclass(frozen=True)
class PeriodicTask:
    """One periodic task: the registered task ``name``, its schedule and its arguments.

    ``queue`` None means the queue the firing minion serves.
    """

    name: str
    schedule: Schedule
    missed: Missed = SKIP
    queue: str | None = None
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    passes_tick: bool = False
    """Whether the function takes ``tick=`` (see :data:`TICK_KEYWORD`)."""

    def call_kwargs(self, tick: float) -> dict[str, Any]:
        """The keyword arguments of the run for ``tick``."""
        if self.passes_tick:
            return {**self.kwargs, TICK_KEYWORD: tick}
        return dict(self.kwargs)

    def as_dict(self, queue: str) -> dict[str, Any]:
        """What a minion serving ``queue`` publishes of it (see ``listing``)."""
        return {
            "name": self.name,
            "schedule": self.schedule.describe(),
            **self.schedule.as_dict(),
            "missed": self.missed,
            "queue": self.queue or queue,
        }


def takes_tick(function: Callable[..., Any]) -> bool:
    """Whether ``function`` has a parameter named ``tick`` it can be given by keyword."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False
    found = parameters.get(TICK_KEYWORD)
    return found is not None and found.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )


def check_missed(missed: object, what: str) -> Missed:
    for policy in MISSED_POLICIES:
        if missed == policy:
            return policy
    raise TaskDefinitionError(
        f"{what}: missed= must be one of {', '.join(map(repr, MISSED_POLICIES))}, got {missed!r}"
    )


class PeriodicTable:
    """Name → :class:`PeriodicTask`; one name is scheduled once (a second one is refused)."""

    def __init__(self) -> None:
        self._tasks: dict[str, PeriodicTask] = {}

    def check(self, task: PeriodicTask) -> None:
        """Refuse ``task`` if its name is scheduled otherwise already (the same is fine)."""
        if task.name in self._tasks and self._tasks[task.name] != task:
            raise TaskDefinitionError(
                f"periodic task {task.name!r} is already scheduled "
                f"({self._tasks[task.name].schedule.describe()})"
            )

    def add(self, task: PeriodicTask) -> None:
        self.check(task)
        self._tasks[task.name] = task

    def get(self, name: str) -> PeriodicTask:
        return self._tasks[name]

    def published(self, queue: str) -> list[dict[str, Any]]:
        """Every entry as a minion serving ``queue`` publishes it, by name."""
        return [self._tasks[name].as_dict(queue) for name in sorted(self._tasks)]

    def __iter__(self) -> Iterator[PeriodicTask]:
        return iter(list(self._tasks.values()))

    def __len__(self) -> int:
        return len(self._tasks)

    def __contains__(self, name: object) -> bool:
        return name in self._tasks
