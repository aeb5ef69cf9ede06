"""Cooperative cancellation for thread tasks: Python cannot stop a thread, a task can stop itself.

When a running thread task is killed, its minion reports it cancelled at once and
hands its slot to a fresh thread; the task's own code keeps running unless it
looks at :func:`task_cancelled` and returns. Long thread tasks should check it
between steps. (A process task is terminated instead.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

_current = threading.local()


def task_cancelled() -> bool:
    """True once the task running on this thread has been killed; False outside tasks."""
    token: threading.Event | None = getattr(_current, "token", None)
    return token is not None and token.is_set()


def run_cancellable(
    token: threading.Event,
    function: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
) -> Any:
    """Call ``function`` with ``token`` visible to :func:`task_cancelled` on this thread."""
    _current.token = token
    try:
        return function(*args, **kwargs)
    finally:
        _current.token = None
