"""A single watchdog thread that fires callbacks at deadlines, without polling.

Pools register one deadline per timed call; the thread sleeps on a condition
variable until the earliest deadline (or a new, earlier one) and then runs the
callback. A call that finishes first cancels its deadline, so a long timeout does
not keep the call's arguments alive until it passes.
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


COMPACT_AT = 64
"""Cancelled entries tolerated before the heap may be compacted."""


class _Entry:
    __slots__ = ("callback", "deadline", "seq")

    def __init__(self, deadline: float, seq: int, callback: Callable[[], None] | None) -> None:
        self.deadline = deadline
        self.seq = seq
        self.callback = callback  # None once cancelled

    def __lt__(self, other: _Entry) -> bool:
        return (self.deadline, self.seq) < (other.deadline, other.seq)


class DeadlineWatch:
    """Calls ``callback()`` once ``deadline`` (a ``time.monotonic()`` value) has passed."""

    def __init__(self, name: str = "arbiter-deadlines") -> None:
        self._name = name
        self._heap: list[_Entry] = []
        self._cancelled = 0
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def add(self, deadline: float, callback: Callable[[], None]) -> object:
        """Schedule ``callback``; starts the watchdog thread on first use.

        Returns a handle for :meth:`cancel`.
        """
        entry = _Entry(deadline, next(self._seq), callback)
        with self._cond:
            if self._stopped:
                return entry
            heapq.heappush(self._heap, entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            elif self._heap[0] is entry:
                self._cond.notify()
        return entry

    def cancel(self, handle: object) -> None:
        """Drop a deadline that has not fired; the heap is compacted once half is dropped."""
        assert isinstance(handle, _Entry)
        with self._cond:
            if handle.callback is None:
                return
            handle.callback = None
            self._cancelled += 1
            if self._cancelled > COMPACT_AT and self._cancelled * 2 > len(self._heap):
                self._heap = [e for e in self._heap if e.callback is not None]
                heapq.heapify(self._heap)
                self._cancelled = 0

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
                while not self._stopped and (
                    not self._heap or self._heap[0].deadline > time.monotonic()
                ):
                    wait = (
                        min(self._heap[0].deadline - time.monotonic(), MAX_WAIT)
                        if self._heap
                        else None
                    )
                    self._cond.wait(wait)
                if self._stopped:
                    return
                entry = heapq.heappop(self._heap)
                callback, entry.callback = entry.callback, None
                if callback is None:
                    self._cancelled -= 1
                    continue
            callback()
