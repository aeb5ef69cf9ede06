"""A single watchdog thread that fires callbacks at deadlines, without polling.

Pools register one deadline per timed call; the thread sleeps on a condition
variable until the earliest deadline (or a new, earlier one) and then runs the
callback. Entries whose call already finished simply fire into a no-op.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable

MAX_WAIT = 86400.0
"""The longest single blocking wait, in seconds. Longer ones (a timeout of a year, or
``inf``) are taken in steps: the OS refuses waits beyond about 24 days (``poll``) or
292 years (locks) with an ``OverflowError``."""


class DeadlineWatch:
    """Calls ``callback()`` once ``deadline`` (a ``time.monotonic()`` value) has passed."""

    def __init__(self, name: str = "arbiter-deadlines") -> None:
        self._name = name
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def add(self, deadline: float, callback: Callable[[], None]) -> None:
        """Schedule ``callback``; starts the watchdog thread on first use."""
        with self._cond:
            if self._stopped:
                return
            heapq.heappush(self._heap, (deadline, next(self._seq), callback))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            elif self._heap[0][2] is callback:
                self._cond.notify()

    def stop(self) -> None:
        """Drop pending deadlines and end the thread."""
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = (
                        min(self._heap[0][0] - time.monotonic(), MAX_WAIT) if self._heap else None
                    )
                    self._cond.wait(wait)
                if self._stopped:
                    return
                _, _, callback = heapq.heappop(self._heap)
            callback()
