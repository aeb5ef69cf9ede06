"""The lines a minion logs as it starts serving: what runs, where, and how.

Logged once, at INFO on ``arbiter.minion``, so it goes wherever the logs go (the
CLI's stderr, text or JSON) and a log shipper gets it with its fields. The
broker URL is the node's, whose password is always masked.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from arbiter_core.node import EventNode
from arbiter_core.settings import Settings

log = logging.getLogger("arbiter.minion")

DISTRIBUTION = "arbiter-tasks"


def arbiter_version() -> str:
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:  # run from a tree that is not installed
        return "unknown"


def log_banner(
    worker_id: str,
    node: EventNode,
    settings: Settings,
    *,
    queue: str,
    pool: str,
    slots: int,
    tasks: Iterable[str],
    periodic: Sequence[Mapping[str, Any]] = (),
    rpc: Iterable[str] = (),
    rpc_workers: int = 0,
) -> None:
    """Log the start banner: version, broker, namespace, queue, pool, signing, tasks, the
    periodic tasks with their schedules (as the minion publishes them), and the RPC
    functions with the threads that answer them."""
    if not log.isEnabledFor(logging.INFO):
        return
    names = sorted(tasks)
    scheduled = {str(entry["name"]): str(entry["schedule"]) for entry in periodic}
    rpc_names = sorted(rpc)
    fields = {
        "version": arbiter_version(),
        "worker": worker_id,
        "broker": node.url,
        "namespace": node.namespace,
        "queue": queue,
        "pool": pool,
        "slots": slots,
        "signing": settings.signing_secret is not None,
        "tasks": names,
        "periodic": scheduled,
        "rpc": rpc_names,
        "rpc_workers": rpc_workers,
    }
    lines = [
        f"arbiter {fields['version']} minion {worker_id} starting",
        f"  broker:    {node.url}",
        f"  namespace: {node.namespace}",
        f"  queue:     {queue}",
        f"  pool:      {pool}, {slots} slot(s)",
        f"  signing:   {'on' if fields['signing'] else 'off'}",
        f"  tasks:     {', '.join(names) or '(none registered)'}",
    ]
    if scheduled:
        shown = ", ".join(f"{name} ({when})" for name, when in sorted(scheduled.items()))
        lines.append(f"  periodic:  {shown}")
    if rpc_names:
        lines.append(f"  rpc:       {', '.join(rpc_names)} ({rpc_workers} thread(s))")
    log.info("%s", "\n".join(lines), extra=fields)
