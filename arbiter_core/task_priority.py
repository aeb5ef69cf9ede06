"""A task's priority: the ``priority=`` of ``apply`` and ``@app.task``, carried in a header.

The level (0 to 9, higher first; see :mod:`arbiter_core.node.priority`) travels in the
envelope's ``headers`` under :data:`HEADER`, written only when it is not 0, so a task of
the default level is the same message as before priorities existed. Every push of the
task reads it back from there (the first one, a retry, a follow-up), so the level
survives retries as it survives redeliveries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from arbiter_core.errors import TaskDefinitionError
from arbiter_core.node.priority import MAX_PRIORITY, require_priority

HEADER = "priority"


def headers(priority: int) -> dict[str, int]:
    """The header a task of level ``priority`` carries (checked here, at apply)."""
    level = require_priority(priority)
    return {HEADER: level} if level else {}


def of(envelope_headers: Mapping[str, Any]) -> int:
    """The level a task's headers ask for; 0 when absent or not a level (a header from a
    sender this version does not understand queues the task at the default level)."""
    level = envelope_headers.get(HEADER, 0)
    if type(level) is int and 0 <= level <= MAX_PRIORITY:
        return level
    return 0


def task_level(priority: object, name: str | None) -> int:
    """The ``priority=`` of ``@app.task``, checked where the task is declared."""
    try:
        return require_priority(priority, "@app.task(priority=...)")
    except (TypeError, ValueError) as exc:
        raise TaskDefinitionError(f"task {name or '(unnamed)'!r}: {exc}") from None
