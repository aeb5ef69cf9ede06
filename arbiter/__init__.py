"""arbiter: run tasks with dependencies locally, or across workers through any broker.

This package is the public face: ``from arbiter import create_task, run_tasks`` for
the local DAG runner, ``from arbiter import Minion, Arbiter`` for the distributed queue.
The original arbiter's module paths work too: ``arbiter.task`` (``create_task``,
``Task``, ``retry``) and ``arbiter.runner`` (``run_tasks``, ``Result``).
Backend classes such as ``RedisEventNode`` are not imported here: plugins declare
them (the ``arbiter_public_names`` hook) and :func:`__getattr__` imports one the
first time it is looked up, so ``import arbiter`` loads no backend. The embedded
backend's names (:data:`EMBEDDED`) are imported on first use the same way, so an
application that only submits to a broker never loads the local pools or tqdm.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from arbiter import exceptions
from arbiter_core.client import Arbiter
from arbiter_core.composition import GroupPlan, PipePlan, TaskCall
from arbiter_core.config import load_settings
from arbiter_core.connect import connect
from arbiter_core.minion import Minion, task_cancelled
from arbiter_core.minion.task_function import TaskFunction
from arbiter_core.plugins import default_registry
from arbiter_core.result import Result
from arbiter_core.retry import RetryPolicy
from arbiter_core.task import Task, create_task, result_of
from arbiter_core.task_handle import TaskHandle
from arbiter_core.wire.tagged_json import register_type

if TYPE_CHECKING:
    from arbiter_local.dag_runner import run_tasks
    from arbiter_local.memory import MemoryEventNode

EMBEDDED = {
    "MemoryEventNode": "arbiter_local.memory",
    "run_tasks": "arbiter_local.dag_runner",
}
"""Names of the embedded backend (``arbiter_local``) and their modules, imported on first use."""

__all__ = [
    "Arbiter",
    "GroupPlan",
    "MemoryEventNode",
    "Minion",
    "PipePlan",
    "Result",
    "RetryPolicy",
    "Task",
    "TaskCall",
    "TaskFunction",
    "TaskHandle",
    "connect",
    "create_task",
    "exceptions",
    "load_settings",
    "register_type",
    "result_of",
    "run_tasks",
    "task_cancelled",
]


def __getattr__(name: str) -> Any:
    """Resolve an embedded name (:data:`EMBEDDED`) or one an installed plugin declared, once.

    Only those names are resolved; anything else is an AttributeError that lists
    the declared ones, as for any module.
    """
    if name.startswith("__"):  # import machinery probes (__path__, __wrapped__...)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name in EMBEDDED:
        value = getattr(import_module(EMBEDDED[name]), name)
    else:
        value = default_registry().resolve_public_name(name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *EMBEDDED, *default_registry().public_names()})
