"""Routing completion events to whoever waits for those task ids in this Arbiter.

Memory stays bounded in a long-lived Arbiter: a wait releases every id it
registered when it ends, and the ids applied but never waited for are kept only up
to ``EXPECT_LIMIT`` (the oldest forgotten first), the records their events carried
only up to ``EXPECT_BYTES`` in all. A forgotten id loses nothing: its wait reads the
record from the store instead.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from queue import SimpleQueue

from arbiter_core.node import Record
from arbiter_core.records import parse_reply, task_id_of_key

Arrival = tuple[str, Record | None]
"""A completion event: the task id, and its final record when the event carries it."""

EXPECT_LIMIT = 100_000
"""Tasks applied but not yet waited for that the router remembers (the oldest are forgotten)."""
EXPECT_BYTES = 16 * 1024 * 1024
"""Bytes of records carried by events of tasks not waited for yet that the router keeps;
past this, an early event is remembered without its record (the wait reads it)."""


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
        self._expected_bytes = 0  # of the records held in _expected's arrivals

    def sizes(self) -> tuple[int, int]:
        """How many ids have a wait registered, and how many are expected (for tests)."""
        with self._lock:
            return len(self._waiters), len(self._expected)

    def expect(self, task_ids: Iterable[str]) -> None:
        """Remember tasks about to be applied (call before the push), so a later wait
        neither misses their events nor needs to read their records first."""
        with self._lock:
            for task_id in task_ids:
                self._expected[task_id] = None
            while len(self._expected) > EXPECT_LIMIT:
                _, arrival = self._expected.popitem(last=False)  # its wait reads the record
                self._expected_bytes -= _size(arrival)

    def forget(self, task_ids: Iterable[str]) -> None:
        """Drop expected tasks that were never pushed after all (a unique apply's spares)."""
        with self._lock:
            for task_id in task_ids:
                arrival = self._expected.pop(task_id, None)
                self._expected_bytes -= _size(arrival)

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
                    self._expected_bytes -= _size(arrival)
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
        self._route(parse_reply(payload))

    def buried(self, event: str, payload: bytes) -> None:
        """Broadcast callback: a backend buried a task's message and ended its record
        (see ``node.burial``); whoever waits for it reads the record."""
        task_id = task_id_of_key(payload.decode("utf-8", "replace"))
        if task_id is not None:
            self._route((task_id, None))

    def _route(self, arrival: Arrival) -> None:
        task_id = arrival[0]
        with self._lock:
            inboxes = list(self._waiters.get(task_id, ()))
            if not inboxes and task_id in self._expected:  # for the wait still to come
                if _size(arrival) + self._expected_bytes > EXPECT_BYTES:
                    arrival = (task_id, None)
                self._expected_bytes += _size(arrival) - _size(self._expected[task_id])
                self._expected[task_id] = arrival
        for inbox in inboxes:
            inbox.put(arrival)


def _size(arrival: Arrival | None) -> int:
    return 0 if arrival is None or arrival[1] is None else len(arrival[1].data)
