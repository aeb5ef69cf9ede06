"""``arbiter.task``: the original arbiter's module path for declaring tasks.

``from arbiter.task import create_task, Task`` works as it did in invenia/Arbiter;
these are the same objects as ``arbiter.create_task`` and ``arbiter.Task``.
:func:`retry` is the original's decorator, kept for code that wrapped functions
with it; a task declared with ``create_task(..., retries=, delay=)`` needs no
wrapping (the runner retries it, without holding a worker while it waits).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from numbers import Integral
from time import sleep
from typing import Any, TypeVar

from arbiter_core.task import Task, create_task, result_of

__all__ = ["Task", "create_task", "result_of", "retry"]

F = TypeVar("F", bound=Callable[..., Any])


def retry(retries: int, delay: timedelta = timedelta()) -> Callable[[F], F]:
    """Make a function call itself again, up to ``retries`` more times, while it raises.

    The original arbiter's decorator, with its rules: ``retries`` must be an
    integer (else ``TypeError``); ``delay`` is anything with ``total_seconds()``
    (a ``timedelta``), waited between attempts, and must not be negative (else
    ``TypeError``). Only an ``Exception`` causes a retry: ``KeyboardInterrupt`` and
    ``SystemExit`` go through at once. The last attempt's exception propagates.
    """
    if not isinstance(retries, Integral):
        raise TypeError(retries)
    seconds = delay.total_seconds()
    if seconds < 0:
        raise TypeError(delay)

    def decorator(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for _ in range(int(retries)):
                try:
                    return function(*args, **kwargs)
                except Exception:  # noqa: BLE001 - a failed attempt; the last one raises
                    pass
                sleep(seconds)  # looked up here, so that it can be replaced in tests
            return function(*args, **kwargs)

        return wrapper

    return decorator
