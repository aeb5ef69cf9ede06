"""Delayed messages (without RabbitMQ's delayed-message plugin): a TTL queue per due time.

On RabbitMQ a message due at *ms* milliseconds goes to ``{prefix}.delay.{ms}.{q}``, a
queue whose messages dead-letter into the work queue when their TTL is up (keeping
their properties, so a message's ``priority`` counts from when it falls due); a delay
longer than :data:`DELAY_HOP_MS` takes several hops. kombu's virtual transports have no
TTL: there delayed messages wait in ``{prefix}.delay.{q}`` and :meth:`Delays._promote`
moves the due ones at each pull. The node's module docstring tells the whole design.
"""

from __future__ import annotations

import math
import time
from typing import Any

from arbiter_kombu import names
from arbiter_kombu.broker_calls import BrokerCalls, header_number, message_body
from arbiter_kombu.link import Link

EARLY_TOLERANCE = 0.002
"""A message this close to its ``not_before`` is delivered rather than sent round again."""
DELAY_HOP_MS = 60_000
"""RabbitMQ: the longest a message waits in one delay queue; a longer delay takes several
hops (it comes back early and is sent round again for what is left)."""
DELAY_QUEUE_GRACE_MS = 60_000
"""A delay queue expires this long after the longest hop from its last declaration."""


class Delays(BrokerCalls):
    """Sending a message to its work queue now, or to a delay queue until it is due."""

    _native: bool
    """RabbitMQ (TTLs, dead-lettering), not one of kombu's virtual transports."""

    def _send(self, link: Link, queue: str, body: bytes, headers: dict[str, Any]) -> None:
        """Publish to the work queue, or to a delay queue if ``NOT_BEFORE`` is ahead."""
        not_before = header_number(headers.get(names.NOT_BEFORE), 0.0)
        delay = not_before - time.time()
        if delay <= EARLY_TOLERANCE:
            headers.pop(names.NOT_BEFORE, None)
            self._declare_ready(link, queue)
            self._publish(link, self._names.ready(queue), body, headers)
            return
        if self._native:
            due_ms = math.ceil(not_before * 1000)
            ttl_ms = max(1, min(due_ms - math.floor(time.time() * 1000), DELAY_HOP_MS))
            name = self._names.delay(queue, due_ms)
            self._declare_ready(link, queue)
            self._declare(  # no x-max-priority: one due time, FIFO; the level rides along
                link.channel,
                name,
                {
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": self._names.ready(queue),
                    "x-expires": DELAY_HOP_MS + DELAY_QUEUE_GRACE_MS,
                },
            )
            self._note(link, names.CATALOG_DELAY, queue, name)
            self._publish(link, name, body, headers, expiration=ttl_ms / 1000)
            return
        name = self._names.delay(queue, None)
        self._declare(link.channel, name)
        self._note(link, names.CATALOG_DELAY, queue, name)
        self._publish(link, name, body, headers)

    def _delay_queues(self, link: Link, queue: str) -> list[str]:
        if not self._native:
            return [self._names.delay(queue, None)]
        entries = [e for e in self._catalog(link) if e[0] == names.CATALOG_DELAY and e[1] == queue]
        gone = frozenset(e for e in entries if self._size(link, e[2]) is None)  # expired
        if gone:
            self._catalog(link, stale=gone)
            self._noted.difference_update(names.catalog_entry(*entry) for entry in gone)
        return [name for _, _, name in entries if (names.CATALOG_DELAY, queue, name) not in gone]

    def _promote(self, link: Link, queue: str) -> None:
        """Virtual transports: move the delayed messages that are due to the work queue."""
        name = self._names.delay(queue, None)
        self._declare(link.channel, name)
        taken = self._drain(link.channel, name)
        if not taken:
            return
        now = time.time()
        due = []
        for message in taken:
            not_before = header_number((message.headers or {}).get(names.NOT_BEFORE), 0.0)
            if not_before - now <= EARLY_TOLERANCE:
                due.append((not_before, message))
        due.sort(key=lambda item: item[0])
        moved = set()
        for _, message in due:
            headers = dict(message.headers or {})
            headers.pop(names.NOT_BEFORE, None)
            self._send(link, queue, message_body(message), headers)
            message.ack()
            moved.add(id(message))
        for message in taken:
            if id(message) not in moved:
                message.reject(requeue=True)
