"""The node's low-level broker calls, made with the link's lock held, and the catalog.

Declaring a queue (once per connection; a work queue with ``x-max-priority`` when the
node orders by priority), publishing a persistent message (at its level), taking one
or all of a queue's messages unacked, counting a queue, and the headers every message
carries. AMQP cannot list queues, so the node writes a catalog entry the first time it
uses a queue (:meth:`BrokerCalls._note`), which ``known_queues`` and the delays read.
"""

from __future__ import annotations

import math
from typing import Any

from amqp.exceptions import PreconditionFailed  # type: ignore[import-untyped]
from kombu.entity import Queue

from arbiter_core.errors import BrokerError, ConfigurationError
from arbiter_core.node import MAX_PRIORITY
from arbiter_kombu import names
from arbiter_kombu.connections import Connections
from arbiter_kombu.link import Link
from arbiter_kombu.names import Names


def header_number(value: object, default: float) -> float:
    """A header's value as a finite float, or ``default``."""
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return result if math.isfinite(result) else default


def header_level(headers: dict[str, Any]) -> int:
    """The level a message's headers carry (see :data:`~arbiter_kombu.names.PRIORITY`), 0 to 9."""
    level = int(header_number(headers.get(names.PRIORITY), 0))
    return min(max(level, 0), MAX_PRIORITY)


def message_body(message: Any) -> bytes:
    """A message's body as bytes (py-amqp hands an empty one over as ``""``)."""
    body = message.body
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return bytes(body)


class QueueArgumentsError(ConfigurationError, BrokerError):
    """A work queue exists with other arguments than this node declares (``max_priority``).

    A :class:`ConfigurationError`, since only the operator can mend it, and a
    :class:`BrokerError`, so that a minion logs it at WARNING at each pull and carries
    on once the queue is moved over, rather than stopping as on a bug.
    """


class BrokerCalls(Connections):
    """Calls on one link's channel; the caller holds the link's lock."""

    _names: Names
    _noted: set[bytes]
    """The catalog entries this node wrote."""
    _ready_arguments: dict[str, Any] | None
    """A work queue's declaration arguments: ``x-max-priority`` with ``max_priority``."""
    _vhost: str

    def _declare(self, channel: Any, name: str, arguments: dict[str, Any] | None = None) -> None:
        if arguments is None and name in self._declared:
            return
        channel.queue_declare(
            queue=name, durable=True, auto_delete=False, exclusive=False, arguments=arguments
        )
        if arguments is None:
            self._declared.add(name)

    def _declare_ready(self, link: Link, queue: str) -> None:
        """Declare ``queue``'s work queue, with ``x-max-priority`` if the node orders by it.

        RabbitMQ refuses a declaration whose arguments differ from the existing queue's
        (PRECONDITION_FAILED, and it closes the channel): that is a queue made by a node
        with the other ``max_priority`` setting, which no retry mends. So it is a
        :class:`QueueArgumentsError` saying what to do, not a channel error.
        """
        name = self._names.ready(queue)
        if name in self._declared:
            return
        try:
            link.channel.queue_declare(
                queue=name,
                durable=True,
                auto_delete=False,
                exclusive=False,
                arguments=self._ready_arguments,
            )
        except PreconditionFailed as exc:
            if "inequivalent arg" not in str(exc):
                raise  # another 406 (consumer_timeout closed the channel): a channel error
            link.reset_channel()  # the broker closed it
            raise self._mismatch(queue, exc) from exc
        self._declared.add(name)

    def _mismatch(self, queue: str, exc: BaseException) -> QueueArgumentsError:
        name = self._names.ready(queue)
        delete = f"rabbitmqctl delete_queue -p {self._vhost} --if-empty '{name}'"
        if self._ready_arguments:
            ours = f"this node has max_priority={MAX_PRIORITY} (x-max-priority), the queue not"
            fix = (
                f"drop max_priority from the broker URL, or move the queue over: stop "
                f"applying to it, let the minions drain it (arbiter queues shows it empty), "
                f"delete it ({delete}) and start every node with max_priority={MAX_PRIORITY}"
            )
        else:
            ours = "the queue was made with max_priority (x-max-priority), this node has none"
            fix = (
                f"add ?max_priority={MAX_PRIORITY} to this node's broker URL, as on the "
                f"nodes that made the queue, or drain it and delete it ({delete})"
            )
        return QueueArgumentsError(
            f"{self._url}: queue {queue!r} ({name}) exists on the broker with other arguments "
            f"({ours}): {exc}. To fix: {fix}. Every node of a namespace must use the same "
            "max_priority."
        )

    def _publish(
        self,
        link: Link,
        queue_name: str,
        body: bytes,
        headers: dict[str, Any],
        exchange: str = "",
        expiration: float | None = None,
    ) -> None:
        level = header_level(headers) if self._ready_arguments else 0
        link.producer.publish(
            body,
            priority=level,
            expiration=expiration,
            exchange=exchange,
            routing_key=queue_name if not exchange else "",
            headers=headers,
            delivery_mode=2,
            content_type=names.CONTENT_TYPE,
            content_encoding=names.CONTENT_ENCODING,
            retry=False,
        )

    def _get_one(self, channel: Any, name: str) -> Any:
        return Queue(name, no_declare=True).bind(channel).get(no_ack=False)

    def _drain(self, channel: Any, name: str) -> list[Any]:
        """Every message of a queue, taken unacked (ack or give each back)."""
        taken: list[Any] = []
        while True:
            message = self._get_one(channel, name)
            if message is None:
                return taken
            taken.append(message)

    def _count(self, link: Link, name: str) -> int:
        """Ready messages of a queue; 0 if it does not exist."""
        return self._size(link, name) or 0

    def _size(self, link: Link, name: str) -> int | None:
        """Ready messages of a queue; None if it does not exist."""
        try:
            ok = link.channel.queue_declare(queue=name, passive=True)
        except self._connection_errors:
            raise
        except self._errors:
            link.reset_channel()  # the broker closed the channel over the missing queue
            return None
        return int(ok.message_count)

    def _note(self, link: Link, kind: str, queue: str, name: str = "") -> None:
        """Write a catalog entry once per node: how ``known_queues`` finds queues."""
        entry = names.catalog_entry(kind, queue, name)
        if entry in self._noted:
            return
        self._declare(link.channel, self._names.catalog)
        self._publish(link, self._names.catalog, entry, {})
        self._noted.add(entry)

    def _catalog(
        self, link: Link, stale: frozenset[tuple[str, str, str]] = frozenset()
    ) -> list[tuple[str, str, str]]:
        """The catalog's entries, once each; the ``stale`` ones are dropped from it."""
        self._declare(link.channel, self._names.catalog)
        taken = self._drain(link.channel, self._names.catalog)
        entries = []
        for message in taken:
            parsed = names.parse_catalog_entry(message_body(message))
            if parsed is None or parsed in stale:
                message.ack()
                continue
            if parsed not in entries:
                entries.append(parsed)
            message.reject(requeue=True)
        return entries

    @staticmethod
    def _headers(
        message_id: str,
        deliveries: int,
        enqueued_at: float,
        not_before: float | None = None,
        priority: int = 0,
    ) -> dict[str, Any]:
        headers: dict[str, Any] = {
            names.MESSAGE_ID: message_id,
            names.DELIVERIES: deliveries,
            names.ENQUEUED_AT: repr(enqueued_at),
        }
        if not_before is not None:
            headers[names.NOT_BEFORE] = repr(not_before)
        if priority:
            headers[names.PRIORITY] = priority
        return headers
