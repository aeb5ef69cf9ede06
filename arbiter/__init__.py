"""arbiter: run tasks with dependencies locally, or across workers through any broker.

This package is the public face: ``from arbiter import create_task, run_tasks``.
"""

from arbiter import exceptions
from arbiter_core.result import Result
from arbiter_core.task import Task, create_task, result_of
from arbiter_local.dag_runner import run_tasks

__all__ = ["Result", "Task", "create_task", "exceptions", "result_of", "run_tasks"]
