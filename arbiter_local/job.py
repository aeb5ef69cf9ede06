"""One call handed to a pool: what to run, its limit, its name, and the future it settles.

Shared by the thread and the process pool, so both describe a call the same way
(the label a timeout or a kill names) and keep the state a kill needs in one place.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any


class Job:
    """A call and its future; ``thread``/``on_abandon``/``kill_reason`` serve the pools' kills."""

    __slots__ = (
        "args",
        "fn",
        "future",
        "kill_reason",
        "kwargs",
        "label",
        "on_abandon",
        "thread",
        "timeout",
    )

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any] | None,
        timeout: float | None,
        label: str,
    ) -> None:
        self.future: Future[Any] = Future()
        self.fn = fn
        self.args = args
        self.kwargs: Mapping[str, Any] = kwargs or {}
        self.timeout = timeout
        self.label = label or getattr(fn, "__name__", "call")
        self.thread: threading.Thread | None = None  # the thread running it (thread pool)
        self.on_abandon: Callable[[], None] | None = None  # set: it runs on its caller's thread
        self.kill_reason: str | None = None  # why its process is being killed (process pool)
