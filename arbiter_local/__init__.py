"""The embedded default backend: local thread and process pools and the DAG runner.

Names are imported on first use: the plugin registry imports this package to read
``arbiter_local.plugin``, and that must not load the DAG runner (and tqdm) or the
pools of a program that uses neither.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arbiter_local.dag_runner import run_tasks
    from arbiter_local.process_pool import ProcessPool
    from arbiter_local.thread_pool import ThreadPool

_HOMES = {
    "ProcessPool": "arbiter_local.process_pool",
    "ThreadPool": "arbiter_local.thread_pool",
    "run_tasks": "arbiter_local.dag_runner",
}

__all__ = ["ProcessPool", "ThreadPool", "run_tasks"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
