"""Leases the node keeps, since RabbitMQ has none, and parking for its consumer_timeout.

The node remembers each delivery it holds unacked (a :class:`Held`) with its expiry;
``renew`` pushes the expiry on, and a lease thread (started with the first lease) puts
back every message whose lease ran out, so its receipt is stale from then. A delivery
held ``park_after`` seconds (:data:`PARK_AFTER`) is parked by the next renew
(:meth:`Leases._park`), out of the reach of RabbitMQ's ``consumer_timeout``. Acks,
nacks and dead-lettering settle a lease here too. The node's module docstring tells
the whole design.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from arbiter_core.node import DeadLetter, Delivery
from arbiter_kombu.connections import warn_if_timed_out
from arbiter_kombu.dead_letters import DeadLetters, spent
from arbiter_kombu.link import Link

log = logging.getLogger("arbiter.kombu")

PARK_AFTER = 300.0
"""Seconds a delivery is held before a renew parks it (see ``Leases._park``): well
under RabbitMQ's default ``consumer_timeout`` of 30 minutes."""
CONFIRM_ACKS_AFTER = 1.0
"""Seconds after which an ack is followed by a round trip, to be sure its channel lives."""
PARK_MARGIN = 5.0
"""A parked message's TTL is the lease plus this, so that this node's own lease thread
(which gives it back when the lease runs out) acts before the broker does."""
PARK_QUEUE_EXPIRES_MS = 3_600_000
"""A lease queue expires an hour (at least four TTLs) after its last declaration."""


@dataclass(slots=True)
class Held:
    """A delivery this node holds unacked: the lease the broker does not keep."""

    link: Link
    generation: int
    message: Any
    queue: str
    message_id: str
    body: bytes
    count: int
    enqueued_at: float
    expires: float
    receipt: str
    pulled_at: float
    parked: str | None = None
    """The lease queue holding the message once it was parked (see ``_park``)."""
    park_expires_ms: int = 0
    priority: int = 0
    """The message's level, given back with it on every way back to the queue."""

    def current(self) -> bool:
        """Whether the delivery is still this node's: parked, or its link never broke."""
        return self.parked is not None or self.link.generation == self.generation


class Leases(DeadLetters):
    """The deliveries this node holds: settling, renewing, parking and releasing them."""

    max_deliveries: int
    _park_after: float | None
    _lease_thread: threading.Thread | None

    def _hold(self, delivery: Delivery) -> Held | None:
        """Take the delivery out of the leases held; None if its lease was not held."""
        self._check_open()
        if not isinstance(delivery, Delivery):
            raise TypeError(f"expected a Delivery, got {type(delivery).__name__}")
        with self._held_changed:
            held = self._held.pop(delivery.receipt, None)
        if held is None or not held.current():
            return None
        return held

    def _settle(self, held: Held, settle: Callable[[], DeadLetter | None]) -> bool:
        """Run ``settle`` on the delivery's link; False if its connection is gone."""
        with held.link.lock:
            if not held.current():
                return False
            try:
                letter = settle()
            except self._errors as exc:
                warn_if_timed_out(exc)
                held.link.drop()
                self._declared.clear()
                log.warning("lost the broker settling message %s: %s", held.message_id, exc)
                return False
        if letter is not None:
            self._report([letter])
        return True

    def _ack(self, delivery: Delivery) -> bool:
        held = self._hold(delivery)
        if held is None:
            return False
        taken = []

        def ack() -> None:
            taken.append(self._finish(held))
            if held.parked is None and time.monotonic() - held.pulled_at > CONFIRM_ACKS_AFTER:
                # basic.ack has no reply: on a channel the broker closed meanwhile (its
                # consumer_timeout) it is dropped unseen. One round trip tells.
                held.link.channel.queue_declare(queue=self._names.ready(held.queue), passive=True)

        return self._settle(held, ack) and taken == [True]

    def _finish(self, held: Held) -> bool:
        """Take the original message off the broker: ack it, or delete its lease queue.

        False if a parked message's lease queue had already given it back (expired).
        """
        if held.parked is None:
            held.message.ack()
            return True
        deleted = held.link.channel.queue_delete(queue=held.parked)
        return bool(deleted)

    def _release(self, held: Held, delay: float) -> bool:
        """Put a held message back (after ``delay``), or bury it if it is spent."""

        def release() -> DeadLetter | None:
            letter = None
            if held.count >= self.max_deliveries:
                letter = self._bury_held(held, spent(held.count))
            else:
                not_before = time.time() + delay if delay > 0 else None
                headers = self._headers(
                    held.message_id, held.count, held.enqueued_at, not_before, held.priority
                )
                self._send(held.link, held.queue, held.body, headers)
            self._finish(held)
            return letter

        return self._settle(held, release)

    def _nack(self, delivery: Delivery, delay: float) -> bool:
        held = self._hold(delivery)
        return held is not None and self._release(held, delay)

    def _renew(self, deliveries: Sequence[Delivery], lease: float) -> list[bool]:
        self._check_open()
        now = time.monotonic()
        result = []
        long_held: list[Held] = []
        with self._held_changed:
            for delivery in deliveries:
                held = self._held.get(delivery.receipt)
                if held is None or not held.current():
                    result.append(False)
                    continue
                held.expires = now + lease
                result.append(True)
                if held.parked is not None or (
                    self._park_after is not None and now - held.pulled_at >= self._park_after
                ):
                    long_held.append(held)
            self._held_changed.notify_all()
        for held in long_held:
            if not self._park(held, lease):
                result[[d.receipt for d in deliveries].index(held.receipt)] = False
        return result

    def _park(self, held: Held, lease: float) -> bool:
        """Keep a long-held message in a lease queue of its own, out of consumer_timeout's reach.

        RabbitMQ closes a channel that holds a delivery longer than its
        ``consumer_timeout``. So once a delivery has been held ``park_after`` seconds,
        the next renew publishes it to ``{prefix}.lease.{receipt}`` with a TTL of the
        lease plus :data:`PARK_MARGIN` and acks the original: nothing is held unacked
        any more. That queue dead-letters into the work queue when the TTL ends, which
        is the lease running out if this process dies. Each later renew publishes a
        fresh copy and removes the older one (the head: every copy has the same TTL);
        ack deletes the queue. False if the lease was lost meanwhile.
        """
        with held.link.lock:
            if not held.current():
                return False
            try:
                channel = held.link.channel
                ready = self._names.ready(held.queue)
                ttl_ms = math.ceil((lease + PARK_MARGIN) * 1000)
                if held.parked is None:
                    held.park_expires_ms = max(PARK_QUEUE_EXPIRES_MS, 4 * ttl_ms)
                name = held.parked or self._names.lease(held.queue, held.receipt)
                channel.queue_declare(
                    queue=name,
                    durable=True,
                    auto_delete=False,
                    arguments={
                        "x-dead-letter-exchange": "",
                        "x-dead-letter-routing-key": ready,
                        "x-expires": held.park_expires_ms,
                    },
                )
                headers = self._headers(
                    held.message_id, held.count, held.enqueued_at, priority=held.priority
                )
                self._publish(held.link, name, held.body, headers, expiration=ttl_ms / 1000)
                if held.parked is None:
                    held.message.ack()
                    held.parked = name
                    log.info(
                        "message %s held %.0fs: parked in %s",
                        held.message_id,
                        time.monotonic() - held.pulled_at,
                        name,
                    )
                    return True
                older = self._get_one(channel, name)
                if older is None:  # the lease had run out on the broker: it went back
                    channel.queue_delete(queue=name)
                    return False
                older.ack()
                return True
            except self._errors as exc:
                held.link.drop()
                self._declared.clear()
                log.warning("lost the broker renewing message %s: %s", held.message_id, exc)
                return held.parked is not None

    def _dead_letter(self, delivery: Delivery, reason: str) -> bool:
        held = self._hold(delivery)
        if held is None:
            return False

        def bury() -> None:
            self._bury_held(held, reason)
            self._finish(held)

        return self._settle(held, bury)

    def _bury_held(self, held: Held, reason: str) -> DeadLetter:
        """Publish a held message as a dead letter (the caller finishes the original)."""
        return self._bury(
            held.link,
            held.queue,
            held.message_id,
            held.body,
            held.count,
            held.enqueued_at,
            reason,
            held.priority,
        )

    # -- the lease thread ----------------------------------------------------------------

    def _start_lease_thread(self) -> None:
        if self._lease_thread is not None:
            return
        with self._lock:
            if self._lease_thread is None and not self._closed.is_set():
                self._lease_thread = threading.Thread(
                    target=self._watch_leases,
                    name=f"arbiter-kombu-leases-{self._node_id[:8]}",
                    daemon=True,
                )
                self._lease_thread.start()

    def _watch_leases(self) -> None:
        while not self._closed.is_set():
            with self._held_changed:
                soonest = min((h.expires for h in self._held.values()), default=None)
                wait = None if soonest is None else soonest - time.monotonic()
                if wait is None or wait > 0:
                    self._held_changed.wait(wait)
            self._settle_leases()

    def _settle_leases(self) -> None:
        """Give back every message whose lease ran out; its receipt is stale from now."""
        now = time.monotonic()
        with self._held_changed:
            expired = [(r, h) for r, h in self._held.items() if h.expires <= now]
            for receipt, _ in expired:
                del self._held[receipt]
        for _, held in expired:
            log.info("lease of message %s on %r ran out; released", held.message_id, held.queue)
            self._release(held, 0.0)

    def _leased(self, queue: str) -> int:
        with self._held_changed:
            return sum(1 for held in self._held.values() if held.queue == queue)
