"""Routing completion events to whoever waits for those task ids in this Arbiter."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from queue import SimpleQueue


class ReplyRouter:
    """Task id → the queues of the ``wait_for_tasks`` calls waiting for it.

    One Arbiter may wait in several threads at once; each wait registers its own
    queue, so no wait consumes an event another one needed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[SimpleQueue[str]]] = {}

    def register(self, task_ids: Iterable[str], inbox: SimpleQueue[str]) -> None:
        with self._lock:
            for task_id in task_ids:
                self._waiters.setdefault(task_id, set()).add(inbox)

    def unregister(self, task_ids: Iterable[str], inbox: SimpleQueue[str]) -> None:
        with self._lock:
            for task_id in task_ids:
                inboxes = self._waiters.get(task_id)
                if inboxes is not None:
                    inboxes.discard(inbox)
                    if not inboxes:
                        del self._waiters[task_id]

    def deliver(self, event: str, payload: bytes) -> None:
        """Broadcast callback: ``payload`` is the id of a task that reached a final state."""
        task_id = payload.decode("utf-8", "replace")
        with self._lock:
            inboxes = list(self._waiters.get(task_id, ()))
        for inbox in inboxes:
            inbox.put(task_id)
