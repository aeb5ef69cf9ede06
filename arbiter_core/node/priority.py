"""Message priorities in the work-queue contract: the levels, the capability, the check.

Integer levels ``0`` to :data:`MAX_PRIORITY` (9), higher served first, ``0`` the
default: RabbitMQ's and Celery's convention, so a level means the same on every backend.
A node that orders ready messages by level declares :data:`PRIORITY` in its
``capabilities``; its ``_push`` then takes a fourth argument, the level, which the base
class passes only when it is not 0 (so a backend written before priorities, with a
three-argument ``_push``, still serves every message: FIFO, levels ignored). Within a
level, messages keep the queue's FIFO order; a redelivered or requeued message keeps its
level. See :class:`~arbiter_core.node.WorkQueue` and docs/priorities.md.
"""

from __future__ import annotations

PRIORITY = "priority"
"""Capability: ready messages of a higher level are served before lower ones."""

MAX_PRIORITY = 9
"""The highest level; ``0`` is the lowest and the default."""

LEVELS = range(MAX_PRIORITY + 1)


def require_priority(value: object, what: str = "priority") -> int:
    """``value`` if it is an int level from 0 to 9 (not a bool), else an error naming it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{what} must be an int from 0 to {MAX_PRIORITY}, got {type(value).__name__} {value!r}"
        )
    if not 0 <= value <= MAX_PRIORITY:
        raise ValueError(
            f"{what} must be from 0 (the default, served last) to {MAX_PRIORITY} "
            f"(served first), got {value!r}"
        )
    return value
