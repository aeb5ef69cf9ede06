"""Dead letters: the queue ``{prefix}.dead.{q}``, listing it, requeueing and purging it.

A dead letter is a message of that queue, with its reason, delivery count, time and
level in headers (the dead-letter queue itself is FIFO: no ``x-max-priority``).
Listing takes them all unacked and gives them back in order; a requeue takes them all
unacked too, publishes the chosen ones to the work queue (same message id,
count reset) and acks them, then gives the rest back: while one caller holds a letter
no other caller can see it, so of two concurrent requeues exactly one requeues it.
The messages the node buries on its own are reported to the burial watcher.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from arbiter_core.node import DeadLetter
from arbiter_kombu import names
from arbiter_kombu.broker_calls import header_level, header_number, message_body
from arbiter_kombu.delays import Delays
from arbiter_kombu.link import Link

log = logging.getLogger("arbiter.kombu")

BurialWatcher = Callable[[DeadLetter], None]


def spent(count: int) -> str:
    """The reason a message delivered ``count`` times, ``max_deliveries``, is buried for."""
    return f"delivered {count} times without an ack"


class DeadLetters(Delays):
    """Burying messages, reporting the burials, and the operator's dead-letter tools."""

    _main: Link
    _burial_watcher: BurialWatcher | None

    def _watch_burials(self, callback: BurialWatcher) -> bool:
        """Report the messages buried on their own: spent (at a pull, a nack, a lease
        that ran out) and purged, each after it is buried, outside the links' locks."""
        self._burial_watcher = callback
        return True

    def _bury(
        self,
        link: Link,
        queue: str,
        message_id: str,
        body: bytes,
        count: int,
        enqueued_at: float,
        reason: str,
        priority: int = 0,
    ) -> DeadLetter:
        """Publish a dead letter (the caller acks the message it came from)."""
        dead_at = time.time()
        headers = self._headers(message_id, count, enqueued_at, priority=priority)
        headers[names.REASON] = reason
        headers[names.DEAD_AT] = repr(dead_at)
        name = self._names.dead(queue)
        self._declare(link.channel, name)
        self._note(link, names.CATALOG_QUEUE, queue)
        self._publish(link, name, body, headers)
        return DeadLetter(queue, message_id, body, reason, count, dead_at, priority=priority)

    def _report(self, buried: list[DeadLetter]) -> None:
        watcher = self._burial_watcher
        if watcher is None:
            return
        for letter in buried:
            try:
                watcher(letter)
            except Exception:
                log.exception("burial watcher failed on message %s", letter.message_id)

    def _letters(self, channel: Any, queue: str) -> Iterator[tuple[Any, DeadLetter]]:
        name = self._names.dead(queue)
        self._declare(channel, name)
        for message in self._drain(channel, name):
            headers = message.headers or {}
            yield (
                message,
                DeadLetter(
                    queue,
                    str(headers.get(names.MESSAGE_ID, "")),
                    message_body(message),
                    str(headers.get(names.REASON, "")),
                    int(header_number(headers.get(names.DELIVERIES), 0)),
                    header_number(headers.get(names.DEAD_AT), 0.0),
                    priority=header_level(headers),
                ),
            )

    def _dead_letters(self, queue: str, limit: int) -> list[DeadLetter]:
        def read(channel: Any) -> list[DeadLetter]:
            taken = list(self._letters(channel, queue))
            for message, _ in taken:
                message.reject(requeue=True)
            return [letter for _, letter in taken][: max(limit, 0)]

        return self._attempt(self._main, f"list the dead letters of {queue!r}", read)

    def _requeue_dead_letters(self, queue: str, message_ids: list[str] | None) -> list[str]:
        wanted = None if message_ids is None else set(message_ids)

        def requeue(channel: Any) -> list[str]:
            taken = list(self._letters(channel, queue))
            done = []
            for message, letter in taken:
                if wanted is None or letter.message_id in wanted:
                    headers = self._headers(
                        letter.message_id, 0, time.time(), priority=letter.priority
                    )
                    self._send(self._main, queue, letter.body, headers)
                    message.ack()
                    done.append(letter.message_id)
                else:
                    message.reject(requeue=True)
            return done

        return self._attempt(self._main, f"requeue the dead letters of {queue!r}", requeue)

    def _purge_dead_letters(self, queue: str) -> int:
        def purge(channel: Any) -> int:
            name = self._names.dead(queue)
            self._declare(channel, name)
            return int(channel.queue_purge(queue=name) or 0)

        return self._attempt(self._main, f"purge the dead letters of {queue!r}", purge)
