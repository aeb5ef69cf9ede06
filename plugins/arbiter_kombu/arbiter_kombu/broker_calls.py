"""The node's low-level broker calls, made with the link's lock held, and the catalog.

Declaring a queue (once per connection), publishing a persistent message, taking one
or all of a queue's messages unacked, counting a queue, and the headers every message
carries. AMQP cannot list queues, so the node writes a catalog entry the first time it
uses a queue (:meth:`BrokerCalls._note`), which ``known_queues`` and the delays read.
"""

from __future__ import annotations

import math
from typing import Any

from kombu.entity import Queue

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


def message_body(message: Any) -> bytes:
    """A message's body as bytes (py-amqp hands an empty one over as ``""``)."""
    body = message.body
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return bytes(body)


class BrokerCalls(Connections):
    """Calls on one link's channel; the caller holds the link's lock."""

    _names: Names
    _noted: set[bytes]
    """The catalog entries this node wrote."""

    def _declare(self, channel: Any, name: str, arguments: dict[str, Any] | None = None) -> None:
        if arguments is None and name in self._declared:
            return
        channel.queue_declare(
            queue=name, durable=True, auto_delete=False, exclusive=False, arguments=arguments
        )
        if arguments is None:
            self._declared.add(name)

    def _publish(
        self,
        link: Link,
        queue_name: str,
        body: bytes,
        headers: dict[str, Any],
        exchange: str = "",
        expiration: float | None = None,
    ) -> None:
        link.producer.publish(
            body,
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
        message_id: str, deliveries: int, enqueued_at: float, not_before: float | None = None
    ) -> dict[str, Any]:
        headers: dict[str, Any] = {
            names.MESSAGE_ID: message_id,
            names.DELIVERIES: deliveries,
            names.ENQUEUED_AT: repr(enqueued_at),
        }
        if not_before is not None:
            headers[names.NOT_BEFORE] = repr(not_before)
        return headers
