"""The embedded backend's plugin: ``memory://`` and the thread and process pools.

Registered through ``[project.entry-points.arbiter]`` in pyproject.toml, exactly as
a third-party plugin is, so the core never imports this package. References are
lazy strings: nothing is imported until a ``memory://`` URL or a pool is used.
"""

from __future__ import annotations

from arbiter_core.plugins import hookimpl


@hookimpl
def arbiter_node_schemes() -> dict[str, str]:
    return {"memory": "arbiter_local.memory.node:create_node"}


@hookimpl
def arbiter_worker_pools() -> dict[str, str]:
    return {
        "thread": "arbiter_local.thread_pool:ThreadPool",
        "process": "arbiter_local.process_pool:ProcessPool",
    }
