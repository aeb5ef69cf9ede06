"""The outcome of one task: exactly one per task in a run, whatever happened to it.

A :class:`Result` is the original arbiter's ``namedtuple('Result', ['success',
'value'])``, with what became of the task on top: ``Result(True, 42)`` builds one,
``success, value = result`` unpacks one, and a result from ``run_tasks`` equals
``Result(True, value)``. The metadata (``name``, ``attempts``, ``duration``) is
keyword-only and left out of equality, hashing, ``len`` and unpacking, so code
written for the two-field tuple keeps working.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import FrozenInstanceError
from typing import Any, NamedTuple


class _ResultFields(NamedTuple):
    success: bool
    value: Any


class Result(_ResultFields):
    """What became of a task.

    ``success`` is true when the function returned without raising; ``value`` is
    then its return value, otherwise the exception that ended the task (the
    task's own, or a :class:`~arbiter_core.errors.DependencyError`,
    :class:`~arbiter_core.errors.TaskTimeoutError`, … when it could not run).

    Keyword-only metadata, not part of the tuple: ``name`` is the task's name
    (``None`` for a Result built by hand), ``attempts`` counts calls of the function
    (0 if it never ran) and ``duration`` the seconds from the first start to the
    end (0.0 if it never ran). Immutable, like the tuple it is.
    """

    # No __slots__: a tuple subclass keeps extra attributes in its instance dict. The
    # class-level values serve a Result built by the namedtuple's own _make().
    name: Hashable | None = None
    attempts: int = 0
    duration: float = 0.0

    def __new__(
        cls,
        success: bool,
        value: Any,
        *,
        name: Hashable | None = None,
        attempts: int = 0,
        duration: float = 0.0,
    ) -> Result:
        self = super().__new__(cls, success, value)
        self.__dict__.update(name=name, attempts=attempts, duration=duration)
        return self

    @property
    def error(self) -> BaseException | None:
        """The exception that ended a failed task, or ``None`` for a success."""
        return None if self.success else self.value

    def metadata(self) -> dict[str, Any]:
        """The keyword-only part: ``name``, ``attempts`` and ``duration``."""
        return {"name": self.name, "attempts": self.attempts, "duration": self.duration}

    def _replace(self, **changes: Any) -> Result:
        """A copy with some fields or metadata changed (the metadata is kept otherwise)."""
        fields = {"success": self.success, "value": self.value, **self.metadata()}
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(f"Result has no field(s) {', '.join(sorted(unknown))}")
        fields.update(changes)
        return Result(**fields)

    __replace__ = _replace  # copy.replace() on Python 3.13+

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}: a Result is immutable")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}: a Result is immutable")

    def __repr__(self) -> str:
        extra = "" if self.name is None else f", name={self.name!r}, attempts={self.attempts}"
        return f"Result(success={self.success!r}, value={self.value!r}{extra})"
