"""A handle on one applied task: what ``Arbiter.delay`` and ``task.delay()`` return.

A handle is the task's id and the Arbiter that follows it, nothing more: it holds no
connection of its own and no state beyond those two, so it can be rebuilt from an id
(``TaskHandle(arbiter, task_id)``) in any process. Waiting (``get``, ``wait``) is the
Arbiter's ``wait_for_tasks``: woken by the completion event, never by polling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arbiter_core import records
from arbiter_core.errors import TaskFailedError

if TYPE_CHECKING:
    from arbiter_core.client import Arbiter


class TaskHandle:
    """One task by ``id``, followed through ``arbiter`` (as Celery's ``AsyncResult``)."""

    __slots__ = ("arbiter", "id")

    def __init__(self, arbiter: Arbiter, task_id: str) -> None:
        if not isinstance(task_id, str) or not task_id:
            raise TypeError(f"a task id is a non-empty string, got {task_id!r}")
        self.arbiter = arbiter
        self.id = task_id

    def status(self) -> dict[str, Any]:
        """The task's status now, as ``Arbiter.status(id)`` returns it."""
        return self.arbiter.status(self.id)

    @property
    def state(self) -> str:
        """The task's state now (``queued``, ``running``, ``succeeded``...)."""
        return str(self.status()["state"])

    def ready(self) -> bool:
        """Whether the task is final (succeeded, failed, cancelled, expired or dead)."""
        return self.state in records.FINAL

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        """Block until the task is final and return its status (whatever the outcome).

        Raises :class:`~arbiter_core.errors.WaitTimeoutError` (a ``TimeoutError``)
        naming the id if ``timeout`` seconds pass first; the task goes on.
        """
        [final] = self.arbiter.wait_for_tasks([self.id], timeout=timeout)
        return final

    def get(self, timeout: float | None = None) -> Any:
        """Block until the task is final and return its result.

        A task that did not succeed raises :class:`~arbiter_core.errors.TaskFailedError`
        with the remote error's type name, message and traceback text; a ``timeout``
        that runs out raises :class:`~arbiter_core.errors.WaitTimeoutError`.
        """
        return value_of(self.wait(timeout))

    def kill(self, *, wait: bool = False, timeout: float | None = None) -> bool:
        """``Arbiter.kill(id, wait=..., timeout=...)``: stop the task."""
        return self.arbiter.kill(self.id, wait=wait, timeout=timeout)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TaskHandle) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<TaskHandle {self.id}>"


def value_of(status: dict[str, Any]) -> Any:
    """The result of a final status; :class:`TaskFailedError` if it did not succeed."""
    if status["state"] == records.SUCCEEDED:
        return status.get("result")
    error = status.get("error") or {}
    raise TaskFailedError(
        str(status.get("id")),
        str(status.get("name", "?")),
        str(status["state"]),
        str(error.get("type", "UnknownError")),
        str(error.get("message", "the task did not succeed")),
        str(error.get("traceback") or ""),
    )
