"""Waking the server when a blocked pull's wait for a due time ends.

Redis times out a blocked client (a BLPOP) only when its event loop wakes up. With no
other traffic that is once per ``serverCron`` tick, every ``1000 / hz`` ms: 100 ms at
the default ``hz 10``. So a pull that blocks until a delayed message falls due would
get it up to 100 ms late (measured: 21 to 106 ms, against 4 to 13 ms with ``hz 100``).
A PING from another connection at the due time wakes the loop, which then times the
BLPOP out at once; the pull script pipelined after it delivers the message. One
thread per node, started on the first wait, sends those PINGs; a wait that ends
early (a push woke it) leaves a PING that costs one round trip and changes nothing.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("arbiter.redis")

LATE_BY = 0.002
"""Seconds after the due time the PING is sent: the server must find the BLPOP's
timeout (whole milliseconds, from when the server received it) already passed."""


class DueWaker:
    """Calls ``ping`` at each time given to :meth:`wake_at` (once for times that coincide)."""

    def __init__(self, ping: Callable[[], object], errors: type[BaseException]) -> None:
        self._ping = ping
        self._errors = errors
        self._due = threading.Condition()
        self._times: list[float] = []  # a heap of time.monotonic() values
        self._thread: threading.Thread | None = None
        self._closed = False

    def wake_at(self, moment: float) -> None:
        """Ping the server just after ``moment`` (a ``time.monotonic()`` value)."""
        with self._due:
            if self._closed:
                return
            heapq.heappush(self._times, moment + LATE_BY)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="arbiter-redis-due-waker", daemon=True
                )
                self._thread.start()
            elif self._times[0] == moment + LATE_BY:  # sooner than what the thread waits for
                self._due.notify()

    def close(self) -> None:
        """Stop the thread and wait for it: nothing is sent after this returns."""
        thread = self.stop()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)

    def stop(self) -> threading.Thread | None:
        """Tell the thread to end, without waiting for it; the thread, if there was one."""
        with self._due:
            self._closed = True
            self._times.clear()
            thread, self._thread = self._thread, None
            self._due.notify()
        return thread

    def _run(self) -> None:
        while self._next():
            try:
                self._ping()
            except self._errors as exc:  # the pull's own call reports a lost server
                log.debug("could not wake the server for a due message: %s", exc)

    def _next(self) -> bool:
        """Block until the earliest time is reached (and drop every time reached); False
        once closed."""
        with self._due:
            while not self._closed:
                if self._times:
                    left = self._times[0] - time.monotonic()
                    if left <= 0:
                        now = time.monotonic()
                        while self._times and self._times[0] <= now:
                            heapq.heappop(self._times)
                        return True
                    self._due.wait(left)
                else:
                    self._due.wait()
            return False
