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

from arbiter_core.inspection import signing_shown
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
    rate_limits: Mapping[str, str] | None = None,
) -> None:
    """Log the start banner: version, broker, namespace, queue, pool, signing (on or off,
    and how many keys verify: never the keys), tasks, the periodic tasks with their
    schedules (as the minion publishes them), the RPC functions with the threads
    that answer them, and the rate-limited tasks with their limits."""
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
        "signing": bool(settings.signing_keys),
        "signing_keys": len(settings.signing_keys),
        "tasks": names,
        "periodic": scheduled,
        "rpc": rpc_names,
        "rpc_workers": rpc_workers,
        "rate_limits": dict(rate_limits or {}),
    }
    lines = [
        f"arbiter {fields['version']} minion {worker_id} starting",
        f"  broker:    {node.url}",
        f"  namespace: {node.namespace}",
        f"  queue:     {queue}",
        f"  pool:      {pool}, {slots} slot(s)",
        f"  signing:   {signing_shown(len(settings.signing_keys))}",
        f"  tasks:     {', '.join(names) or '(none registered)'}",
    ]
    if scheduled:
        shown = ", ".join(f"{name} ({when})" for name, when in sorted(scheduled.items()))
        lines.append(f"  periodic:  {shown}")
    if rpc_names:
        lines.append(f"  rpc:       {', '.join(rpc_names)} ({rpc_workers} thread(s))")
    if rate_limits:
        shown = ", ".join(f"{name} ({limit})" for name, limit in sorted(rate_limits.items()))
        lines.append(f"  rate limits: {shown}")
    log.info("%s", "\n".join(lines), extra=fields)
