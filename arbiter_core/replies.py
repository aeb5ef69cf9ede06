"""Routing completion events to whoever waits for those task ids in this Arbiter."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from queue import SimpleQueue

from arbiter_core.node import Record
from arbiter_core.records import parse_reply

Arrival = tuple[str, Record | None]
"""A completion event: the task id, and its final record when the event carries it."""

EXPECT_LIMIT = 100_000
"""Tasks applied but not yet waited for that the router remembers (the oldest are forgotten)."""


class ReplyRouter:
    """Task id → the queues of the ``wait_for_tasks`` calls waiting for it.

    One Arbiter may wait in several threads at once; each wait registers its own
    queue, so no wait consumes an event another one needed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[SimpleQueue[Arrival]]] = {}
        # Applied by this Arbiter, not waited for yet: id -> its event if it came already.
        self._expected: OrderedDict[str, Arrival | None] = OrderedDict()

    def expect(self, task_ids: Iterable[str]) -> None:
        """Remember tasks about to be applied (call before the push), so a later wait
        neither misses their events nor needs to read their records first."""
        with self._lock:
            for task_id in task_ids:
                self._expected[task_id] = None
            while len(self._expected) > EXPECT_LIMIT:
                self._expected.popitem(last=False)  # forgotten: its wait reads the record

    def register(self, task_ids: Iterable[str], inbox: SimpleQueue[Arrival]) -> list[str]:
        """Route the events of ``task_ids`` to ``inbox``; return the ids whose record must be
        read, because they may have finished before now without this router seeing it."""
        unknown = []
        with self._lock:
            for task_id in task_ids:
                self._waiters.setdefault(task_id, set()).add(inbox)
                if task_id not in self._expected:
                    unknown.append(task_id)
                elif (arrival := self._expected.pop(task_id)) is not None:
                    inbox.put(arrival)
        return unknown

    def unregister(self, task_ids: Iterable[str], inbox: SimpleQueue[Arrival]) -> None:
        with self._lock:
            for task_id in task_ids:
                inboxes = self._waiters.get(task_id)
                if inboxes is not None:
                    inboxes.discard(inbox)
                    if not inboxes:
                        del self._waiters[task_id]

    def deliver(self, event: str, payload: bytes) -> None:
        """Broadcast callback: a task reached a final state (see ``records.reply_payload``)."""
        arrival = parse_reply(payload)
        with self._lock:
            inboxes = list(self._waiters.get(arrival[0], ()))
            if not inboxes and arrival[0] in self._expected:
                self._expected[arrival[0]] = arrival  # for the wait still to come
        for inbox in inboxes:
            inbox.put(arrival)
