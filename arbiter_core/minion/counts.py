"""In-memory tallies of how a run's tasks ended, for the heartbeat (``arbiter top`` reads them).

Counting is one increment under an uncontended lock on the hot path; nothing
is sent anywhere until the keeper's next beat copies the numbers into the
heartbeat. The recent failures keep only the last :data:`RECENT_FAILURES`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from arbiter_core.minion.describe import describe

COUNTED = ("succeeded", "failed", "retried", "dead", "cancelled", "expired")
"""The outcomes counted: the final states a minion writes, plus retries and dead letters."""
RECENT_FAILURES = 10
"""How many of the latest failures the heartbeat carries."""


class TaskCounts:
    """Outcome → how many tasks of this run ended so; the last few failures."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(COUNTED, 0)
        self._failures: deque[dict[str, Any]] = deque(maxlen=RECENT_FAILURES)

    def add(self, outcome: str) -> None:
        """Count one task that ended as ``outcome`` (one of :data:`COUNTED`)."""
        with self._lock:
            self._counts[outcome] += 1

    def failure(self, task_id: str, task: str, error: BaseException | str) -> None:
        """Remember a failure (or a dead letter's reason) among the recent ones."""
        text = error if isinstance(error, str) else describe(error)
        with self._lock:
            self._failures.append({"id": task_id, "task": task, "error": text, "at": time.time()})

    def snapshot(self) -> dict[str, Any]:
        """``{"counts": {...}, "recent_failures": [...]}``, oldest failure first."""
        with self._lock:
            return {"counts": dict(self._counts), "recent_failures": list(self._failures)}
