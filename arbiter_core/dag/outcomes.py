"""The ends of DAG tasks, both ways: the records of tasks that never ran, and the
``{name: Result}`` a run returns, rebuilt from the records by any process.

A task that never ran keeps what its :class:`~arbiter_core.errors.DependencyError`
was built from under ``dependency_error`` in its record (``kind`` ``failed`` or
``unsatisfied`` and the error's fields), so the error rebuilt from the record has
the same attributes and ``args`` as the local runner's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from arbiter_core import records
from arbiter_core.errors import (
    DependencyError,
    FailedDependencyError,
    TaskCancelledError,
    TaskFailedError,
    TaskTimeoutError,
    UnsatisfiedDependencyError,
)
from arbiter_core.node import Record
from arbiter_core.result import Result
from arbiter_core.wire import Envelope

if TYPE_CHECKING:
    from arbiter_core.endpoint import Endpoint


def failed_dependency_record(
    endpoint: Endpoint, envelope: Envelope, name: str, dependency: str, via: str, at: float
) -> Record:
    error = FailedDependencyError(name, dependency=dependency, via=via)
    detail = {"kind": "failed", "dependency": dependency, "via": via}
    return _never_ran(endpoint, envelope, error, detail, at)


def unsatisfied_record(
    endpoint: Endpoint, envelope: Envelope, error: UnsatisfiedDependencyError, at: float
) -> Record:
    detail = {
        "kind": "unsatisfied",
        "missing": list(error.missing),
        "cycle": list(error.cycle),
        "via": error.via,
        "unsatisfied": sorted(str(name) for name in error.unsatisfied),
    }
    return _never_ran(endpoint, envelope, error, detail, at)


def _never_ran(
    endpoint: Endpoint,
    envelope: Envelope,
    error: DependencyError,
    detail: dict[str, Any],
    at: float,
) -> Record:
    status = records.task_status(envelope, records.FAILED, error=error, finished_at=at)
    status["dependency_error"] = detail
    return Record(records.FAILED, endpoint.wire.pack(status, "record"))


def result_of_status(name: str, status: Mapping[str, Any], timeout: float | None) -> Result:
    """The :class:`Result` of DAG task ``name`` from its final status, as the local
    runner would have given it. ``timeout``: the task's per-attempt limit, if any."""
    started, finished = status.get("started_at"), status.get("finished_at")
    ran = started is not None
    attempts = int(status.get("attempt") or 1) if ran else 0
    duration = max(0.0, finished - started) if ran and finished is not None else 0.0
    if status["state"] == records.SUCCEEDED:
        return Result(True, status.get("result"), name=name, attempts=attempts, duration=duration)
    error = _error(name, status, timeout)
    return Result(False, error, name=name, attempts=attempts, duration=duration)


def _error(name: str, status: Mapping[str, Any], timeout: float | None) -> BaseException:
    detail = status.get("dependency_error")
    if isinstance(detail, dict) and detail.get("kind") == "failed":
        return FailedDependencyError(name, dependency=detail["dependency"], via=detail["via"])
    if isinstance(detail, dict) and detail.get("kind") == "unsatisfied":
        return UnsatisfiedDependencyError(
            name,
            missing=tuple(detail["missing"]),
            cycle=tuple(detail["cycle"]),
            via=detail["via"],
            unsatisfied=set(detail["unsatisfied"]),
        )
    info = status.get("error") or {}
    type_name, message = str(info.get("type", "")), str(info.get("message", ""))
    if type_name == "TaskTimeoutError":
        return TaskTimeoutError(name, timeout or 0.0)
    if status["state"] == records.CANCELLED:
        return TaskCancelledError(name, message or "cancelled")
    return TaskFailedError(
        str(status.get("id", "")),
        str(status.get("name", name)),
        str(status["state"]),
        type_name or "UnknownError",
        message,
        str(info.get("traceback", "")),
    )


def whole_run_timeout(names: Iterable[str], seconds: float) -> dict[str, Result]:
    """The Results of tasks the run's ``timeout`` cut short, as the local runner gives them."""
    return {
        name: Result(False, TaskTimeoutError(name, seconds, whole_run=True), name=name)
        for name in names
    }
