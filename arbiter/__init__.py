"""arbiter: run tasks with dependencies locally, or across workers through any broker.

This package is the public face: ``from arbiter import create_task, run_tasks`` for
the local DAG runner, ``from arbiter import Minion, Arbiter`` for the distributed queue.
"""

from arbiter import exceptions
from arbiter_core.client import Arbiter
from arbiter_core.composition import GroupPlan, TaskCall
from arbiter_core.config import load_settings
from arbiter_core.connect import connect
from arbiter_core.minion import Minion
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
]
