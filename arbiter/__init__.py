"""arbiter: run tasks with dependencies locally, or across workers through any broker.

This package is the public face: ``from arbiter import create_task, run_tasks`` for
the local DAG runner, ``from arbiter import Minion, Arbiter`` for the distributed queue.
Backend classes such as ``RedisEventNode`` are not imported here: plugins declare
them (the ``arbiter_public_names`` hook) and :func:`__getattr__` imports one the
first time it is looked up, so ``import arbiter`` loads no backend.
"""

from typing import Any

from arbiter import exceptions
from arbiter_core.client import Arbiter
from arbiter_core.composition import GroupPlan, TaskCall
from arbiter_core.config import load_settings
from arbiter_core.connect import connect
from arbiter_core.minion import Minion, task_cancelled
from arbiter_core.plugins import default_registry
from arbiter_core.result import Result
from arbiter_core.task import Task, create_task, result_of
from arbiter_local.dag_runner import run_tasks
from arbiter_local.memory import MemoryEventNode

__all__ = [
    "Arbiter",
    "GroupPlan",
    "MemoryEventNode",
    "Minion",
    "Result",
    "Task",
    "TaskCall",
    "connect",
    "create_task",
    "exceptions",
    "load_settings",
    "result_of",
    "run_tasks",
    "task_cancelled",
]


def __getattr__(name: str) -> Any:
    """Resolve a name that an installed plugin declared (e.g. ``RedisEventNode``), once.

    Only declared names are resolved; anything else is an AttributeError that lists
    them, as for any module.
    """
    if name.startswith("__"):  # import machinery probes (__path__, __wrapped__...)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = default_registry().resolve_public_name(name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *default_registry().public_names()})
