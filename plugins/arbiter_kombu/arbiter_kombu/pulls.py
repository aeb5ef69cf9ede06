"""Pushing to a work queue and pulling from it, without prefetch behind a busy lane.

A pull takes messages with ``basic.get``, one at a time, on the calling thread's own
link; when the queue is empty it waits as a consumer with ``prefetch_count=1``, then
cancels the consumer (:meth:`Pulls._wait`). Each message taken becomes a lease of the
node's (:meth:`Pulls._admit`), unless the broker gave it back after its holder died
(then it counts that delivery) or it came early (then it is delayed again). The node's
module docstring tells the whole design.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
import uuid
from typing import Any

from kombu.entity import Queue
from kombu.messaging import Consumer

from arbiter_core.node import DeadLetter, Delivery
from arbiter_kombu import names
from arbiter_kombu.broker_calls import header_level, header_number, message_body
from arbiter_kombu.dead_letters import spent
from arbiter_kombu.delays import EARLY_TOLERANCE
from arbiter_kombu.leases import Held, Leases
from arbiter_kombu.link import Link

log = logging.getLogger("arbiter.kombu")

WAIT_SLICE = 0.05
"""Seconds one read of a waiting pull lasts before it gives its link's lock to an ack
from another thread, and checks whether the node was closed. A read returns as soon
as a message arrives: this bounds lock hand-overs, it is not a polling interval."""
VIRTUAL_POLL = 0.01
"""kombu's virtual transports poll (kombu's ``polling_interval``): this is theirs here."""


class Pulls(Leases):
    """The work queue's push and pull; the deliveries pulled are held by :class:`Leases`."""

    def _push(self, queue: str, body: bytes, not_before: float | None, priority: int = 0) -> str:
        """The base class passes a level only with ``max_priority`` (the ``PRIORITY``
        capability); without it every message is level 0, published as before."""
        message_id = uuid.uuid4().hex
        headers = self._headers(message_id, 0, time.time(), not_before, priority)

        def push(_: Any) -> None:
            self._note(self._main, names.CATALOG_QUEUE, queue)
            self._send(self._main, queue, body, dict(headers))

        self._attempt(self._main, f"push to {queue!r}", push)
        return message_id

    def _pull(
        self, queue: str, timeout: float | None, lease: float, max_messages: int
    ) -> list[Delivery]:
        self._check_open()
        deadline = None if timeout is None else time.monotonic() + timeout
        link = self._own_link()
        ready = self._names.ready(queue)
        while True:
            if self._closed.is_set():
                return []  # closed by another thread while this pull waited
            got = self._attempt(
                link, f"pull from {queue!r}", lambda _: self._take(link, queue, lease, max_messages)
            )
            if got or self._closed.is_set():
                return got
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return []
            if self._native:
                got = self._wait(link, queue, ready, lease, max_messages, deadline)
                if got or self._closed.is_set():
                    return got
            else:
                self._closed.wait(
                    VIRTUAL_POLL if remaining is None else min(VIRTUAL_POLL, remaining)
                )

    def _take(self, link: Link, queue: str, lease: float, max_messages: int) -> list[Delivery]:
        """Up to ``max_messages`` deliveries by ``basic.get`` (with the link's lock held)."""
        ready = self._names.ready(queue)
        self._declare_ready(link, queue)
        if not self._native:
            self._promote(link, queue)
        got: list[Delivery] = []
        buried: list[DeadLetter] = []
        while len(got) < max_messages:
            message = self._get_one(link.channel, ready)
            if message is None:
                break
            delivery = self._admit(link, message, queue, lease, buried)
            if delivery is not None:
                got.append(delivery)
        self._report(buried)
        return got

    def _wait(
        self,
        link: Link,
        queue: str,
        ready: str,
        lease: float,
        max_messages: int,
        deadline: float | None,
    ) -> list[Delivery]:
        """Wait as a consumer with prefetch 1 until one message arrives, then cancel."""
        arrived: list[Any] = []
        try:
            with link.lock:
                generation = link.generation
                consumer = Consumer(
                    link.channel,
                    queues=[Queue(ready, no_declare=True)],
                    on_message=arrived.append,
                    prefetch_count=1,
                    no_ack=False,
                    auto_declare=False,
                )
                consumer.consume()
            try:
                while not arrived and not self._closed.is_set():
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        break
                    with link.lock:
                        if link.generation != generation:
                            return []
                        with contextlib.suppress(socket.timeout):
                            link.connection.drain_events(
                                timeout=WAIT_SLICE
                                if remaining is None
                                else min(WAIT_SLICE, remaining)
                            )
            finally:
                with link.lock:
                    if link.generation == generation:
                        consumer.cancel()  # may still hand over the one message in flight
        except self._errors as exc:
            with link.lock:
                link.drop()
                self._declared.clear()
            log.warning("pull from %r lost the broker (%s); reconnecting", queue, exc)
            return []
        if self._closed.is_set():
            return []  # what arrived goes back to the queue with the link's connection
        got: list[Delivery] = []
        buried: list[DeadLetter] = []

        def admit(_: Any) -> None:
            for message in arrived:
                delivery = self._admit(link, message, queue, lease, buried)
                if delivery is not None:
                    got.append(delivery)
            if got and max_messages > len(got):
                got.extend(self._take(link, queue, lease, max_messages - len(got)))

        self._attempt(link, f"pull from {queue!r}", admit)
        self._report(buried)
        return got

    def _admit(
        self, link: Link, message: Any, queue: str, lease: float, buried: list[DeadLetter]
    ) -> Delivery | None:
        """A delivery for a message taken from the work queue, or None if it was not one.

        A message the broker gave back (its holder died) counts that delivery and
        goes round again (or is buried, spent); one that came early is delayed again.
        """
        headers = dict(message.headers or {})
        prior = int(header_number(headers.get(names.DELIVERIES), 0))
        message_id = str(
            headers.get(names.MESSAGE_ID)
            or message.properties.get("message_id")
            or f"foreign-{uuid.uuid4().hex}"
        )
        now = time.time()
        enqueued_at = header_number(headers.get(names.ENQUEUED_AT), now)
        level = header_level(headers)
        body = message_body(message)
        if message.delivery_info.get("redelivered"):
            prior += 1
            if prior >= self.max_deliveries:
                buried.append(
                    self._bury(
                        link, queue, message_id, body, prior, enqueued_at, spent(prior), level
                    )
                )
            else:
                headers = self._headers(message_id, prior, enqueued_at, priority=level)
                self._send(link, queue, body, headers)
            message.ack()
            return None
        not_before = header_number(headers.get(names.NOT_BEFORE), 0.0)
        if not_before - now > EARLY_TOLERANCE:
            headers = self._headers(message_id, prior, enqueued_at, not_before, level)
            self._send(link, queue, body, headers)
            message.ack()
            return None
        receipt = uuid.uuid4().hex
        held = Held(
            link,
            link.generation,
            message,
            queue,
            message_id,
            body,
            prior + 1,
            enqueued_at,
            time.monotonic() + lease,
            receipt,
            time.monotonic(),
            priority=level,
        )
        with self._held_changed:
            self._held[receipt] = held
            self._held_changed.notify_all()
        self._start_lease_thread()
        return Delivery(queue, message_id, body, prior + 1, receipt, enqueued_at)
