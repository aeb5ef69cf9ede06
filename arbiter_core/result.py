"""The outcome of one task: exactly one per task in a run, whatever happened to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Result:
    """What became of a task.

    ``success`` is true when the function returned without raising; ``value`` is
    then its return value, otherwise the exception that ended the task (the
    task's own, or a :class:`~arbiter_core.errors.DependencyError`,
    :class:`~arbiter_core.errors.TaskTimeoutError`, … when it could not run).
    ``attempts`` counts calls of the function (0 if it never ran) and
    ``duration`` the seconds from the first start to the end (0.0 if it never ran).
    """

    name: str
    success: bool
    value: Any
    attempts: int = 0
    duration: float = 0.0

    @property
    def error(self) -> BaseException | None:
        """The exception that ended a failed task, or ``None`` for a success."""
        return None if self.success else self.value

    def __repr__(self) -> str:
        state = "ok" if self.success else "failed"
        return f"<Result {self.name!r} {state}: {self.value!r}>"
