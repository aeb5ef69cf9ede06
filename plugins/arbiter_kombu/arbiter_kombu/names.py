"""Every queue, exchange and header the node uses, in one place.

All names of one node start with its ``prefix``: the namespace, and for
``kombu+memory://NAME`` the broker name too (kombu's memory transport is one
broker per process, so the name keeps two "brokers" apart). ``{q}`` is the
arbiter queue name as the caller wrote it (any text; AMQP allows 255 bytes).

=====================================  ==============================================
``{prefix}.queue.{q}``                 the work queue: durable, persistent messages;
                                       with ``?max_priority=9``, declared with
                                       ``x-max-priority`` 9 (see
                                       :mod:`arbiter_kombu.url_options`)
``{prefix}.dead.{q}``                  its dead letters (body as pushed, reason in headers)
``{prefix}.delay.{due}.{q}``           RabbitMQ: messages due at ``{due}`` (a time in
                                       ms), each with the TTL (``expiration``) that
                                       is left, at most a minute; dead-lettered by
                                       the broker into the work queue when it ends;
                                       ``x-expires`` two minutes after last declared
``{prefix}.delay.{q}``                 other transports (no TTL): delayed messages,
                                       moved to the work queue by pulls when due
``{prefix}.lease.{receipt}.{q}``       RabbitMQ: a delivery held so long it was parked
                                       (one message, TTL lease + margin, dead-lettered
                                       into the work queue when it ends)
``{prefix}.catalog``                   one entry per queue ever used (``known_queues``
                                       and the delay queues to count and purge)
``{prefix}.events`` (fanout exchange)  broadcast
``{prefix}.events.{node id}``          one node's subscription queue: exclusive,
                                       auto-delete, bound to the exchange
=====================================  ==============================================

Headers of a message (AMQP table values; times are ``repr`` floats, as text):
"""

from __future__ import annotations

MESSAGE_ID = "x-arbiter-id"
"""The message id ``push`` returned; kept across nacks, delays and requeues."""
DELIVERIES = "x-arbiter-deliveries"
"""Deliveries that ended without an ack before this copy was published."""
ENQUEUED_AT = "x-arbiter-enqueued-at"
"""``time.time()`` of the push (or of the requeue of a dead letter)."""
NOT_BEFORE = "x-arbiter-not-before"
"""Not to be delivered before this ``time.time()``."""
REASON = "x-arbiter-reason"
"""A dead letter's reason."""
DEAD_AT = "x-arbiter-dead-at"
"""When a dead letter was buried."""
EVENT = "x-arbiter-event"
"""A broadcast message's event name."""
PRIORITY = "x-arbiter-priority"
"""A message's level (1 to 9; absent for 0). Only a node with ``max_priority`` writes it,
and it publishes the same level as the AMQP ``priority`` property, which is what
RabbitMQ orders by; the header is how a republished copy, a dead letter and its requeue
know the level without trusting a property a foreign publisher may have set."""

CONTENT_TYPE = "application/octet-stream"
CONTENT_ENCODING = "binary"

CATALOG_QUEUE = "q"
CATALOG_DELAY = "d"


class Names:
    """The names of one node's queues and exchange (see the module table)."""

    __slots__ = ("catalog", "events", "prefix")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.catalog = f"{prefix}.catalog"
        self.events = f"{prefix}.events"

    def ready(self, queue: str) -> str:
        return f"{self.prefix}.queue.{queue}"

    def dead(self, queue: str) -> str:
        return f"{self.prefix}.dead.{queue}"

    def delay(self, queue: str, due_ms: int | None) -> str:
        if due_ms is None:
            return f"{self.prefix}.delay.{queue}"
        return f"{self.prefix}.delay.{due_ms}.{queue}"

    def lease(self, queue: str, receipt: str) -> str:
        return f"{self.prefix}.lease.{receipt}.{queue}"

    def subscriber(self, node_id: str) -> str:
        return f"{self.events}.{node_id}"


def catalog_entry(kind: str, queue: str, name: str = "") -> bytes:
    """A catalog message: kind, arbiter queue and (for a delay queue) its name, NUL-separated."""
    return "\0".join((kind, queue, name)).encode("utf-8")


def parse_catalog_entry(body: bytes) -> tuple[str, str, str] | None:
    parts = body.decode("utf-8", "replace").split("\0")
    if len(parts) != 3:
        return None
    return parts[0], parts[1], parts[2]
