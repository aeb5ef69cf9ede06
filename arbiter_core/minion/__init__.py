"""The Minion role: a worker that registers tasks and serves a queue on any EventNode."""

from arbiter_core.minion.cancellation import task_cancelled
from arbiter_core.minion.minion import Minion
from arbiter_core.minion.registry import TaskDefinition, TaskRegistry

__all__ = ["Minion", "TaskDefinition", "TaskRegistry", "task_cancelled"]
