"""RPC: call a function on a minion and wait for its answer, at most once.

``@app.rpc(name=...)`` registers a function on a :class:`~arbiter_core.minion.Minion`;
``arbiter.rpc(name, *args, queue=..., timeout=..., **kwargs)`` calls it and returns its
result. Built on the EventNode's faces only, the same on every backend:

* the request is **broadcast** on the queue's request event (:mod:`.request`), so it
  reaches the minions serving the queue now; nothing is queued durably;
* exactly one of them runs it: each creates the call's **claim** record by
  compare-and-set in the state store, and one write wins (:mod:`.claim`);
* the answer (value, remote error, or "unknown function") is **broadcast** back on
  the caller's own reply event (:mod:`.reply`), and the caller stops waiting after
  its timeout (:mod:`.client`).

A minion serves calls on a small thread pool of its own, apart from its task slots
(:mod:`.server`). Frames are signed and verified like every other message. Names on
the broker and time limits: :mod:`.channels`.
"""

from arbiter_core.rpc.channels import DEFAULT_TIMEOUT
from arbiter_core.rpc.client import RpcClient
from arbiter_core.rpc.functions import RpcFunctions
from arbiter_core.rpc.server import DEFAULT_RPC_WORKERS, RpcServer

__all__ = ["DEFAULT_RPC_WORKERS", "DEFAULT_TIMEOUT", "RpcClient", "RpcFunctions", "RpcServer"]
