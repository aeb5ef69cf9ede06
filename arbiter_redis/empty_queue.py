"""A combined call's "this queue is empty", kept for the same thread's next pull.

A worker's ``transition_ack_and_pull`` that leases nothing is followed, on the same
thread, by a blocking ``pull`` of the same queue. That pull need not run the pull
script before it blocks: the combined call deleted the queue's wake list, so anything
pushed since has left a wake token that ends the BLPOP at once. What this saves is the
pull script's round trip at the start of that pull, once per task when the queue runs
dry (a lone worker's common case); the wait the combined call measured (to the next
delayed message or lease) is carried over.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from arbiter_redis.clock import ms

TTL = 0.5
"""Seconds an empty finding stays usable; older, the pull looks again."""


class EmptyQueueHint:
    """Per thread: the queue a combined call just found empty, and when it did.

    Per thread because only the thread that found the queue empty goes on to pull it.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def remember(self, queue: str, due_in_ms: int) -> None:
        """The calling thread found ``queue`` empty; something falls due in ``due_in_ms``
        (-1: nothing does)."""
        self._local.found = (queue, due_in_ms, time.monotonic())

    def take(self, queue: str) -> list[Any] | None:
        """An empty pull reply standing for the finding, if it is about ``queue`` and fresh.

        Used once: a later pull of this thread looks at the queue again.
        """
        found = getattr(self._local, "found", None)
        self._local.found = None
        if found is None or found[0] != queue:
            return None
        elapsed = time.monotonic() - found[2]
        if elapsed > TTL:
            return None
        due_in = found[1] if found[1] < 0 else max(0, found[1] - ms(elapsed))
        return [due_in, -1]
