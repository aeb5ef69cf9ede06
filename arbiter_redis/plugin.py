"""The Redis backend's plugin: ``redis://``, ``rediss://`` (TLS) and ``unix://`` URLs.

Registered through ``[project.entry-points.arbiter]`` like any third-party plugin.
References are lazy strings, so the schemes are listed even without the ``[redis]``
extra; using one without it fails with the ``pip install`` line to run.
"""

from __future__ import annotations

from arbiter_core.plugins import hookimpl

_FACTORY = "arbiter_redis.node:create_node"


@hookimpl
def arbiter_node_schemes() -> dict[str, str]:
    return {"redis": _FACTORY, "rediss": _FACTORY, "unix": _FACTORY}


@hookimpl
def arbiter_public_names() -> dict[str, str]:
    return {"RedisEventNode": "arbiter_redis.node:RedisEventNode"}
