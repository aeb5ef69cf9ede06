"""The Redis backend: an EventNode for ``redis://``, ``rediss://`` and ``unix://`` URLs.

Needs the ``[redis]`` extra (``pip install 'arbiter-tasks[redis]'``); this package
imports without it, and creating a node then says what to install. The key layout
is in :mod:`arbiter_redis.keys`, the Lua scripts in :mod:`arbiter_redis.scripts`,
connecting (URL, pool, retries) in :mod:`arbiter_redis.connection`.
"""

from arbiter_redis.node import RedisEventNode, create_node

__all__ = ["RedisEventNode", "create_node"]
