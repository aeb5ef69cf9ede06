"""The embedded default backend: local thread and process pools and the DAG runner."""

from arbiter_local.dag_runner import run_tasks
from arbiter_local.process_pool import ProcessPool
from arbiter_local.thread_pool import ThreadPool

__all__ = ["ProcessPool", "ThreadPool", "run_tasks"]
