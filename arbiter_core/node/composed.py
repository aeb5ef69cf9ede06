"""Composing nodes: a broker's queues and broadcast with another backend's state store.

RabbitMQ has no key-value store, so a kombu node takes its state from another
URL (``state_url`` / ``ARBITER_STATE_URL``), the way Celery separates broker and
result backend. :class:`NoStateStore` is the state face of such a broker: it
refuses with an error that names the setting to use.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import NoReturn

from arbiter_core.errors import UnsupportedOperationError
from arbiter_core.node.broadcast import EventCallback
from arbiter_core.node.event_node import QUEUE, STATE, EventNode
from arbiter_core.node.state_store import Record
from arbiter_core.node.work_queue import DeadLetter, Delivery


class NoStateStore:
    """Mixin for an :class:`EventNode` whose broker has no state store."""

    url: str

    def _no_state(self) -> NoReturn:
        raise UnsupportedOperationError(
            f"{self.url} has no state store; set state_url (or ARBITER_STATE_URL) to a "
            "backend that has one, e.g. redis://localhost:6379/0"
        )

    def get(self, key: str) -> Record | None:
        self._no_state()

    def get_many(self, keys: Collection[str]) -> dict[str, Record]:
        self._no_state()

    def transition(
        self,
        key: str,
        record: Record,
        *,
        ttl: float,
        expect: Collection[str | None] | None = None,
    ) -> tuple[bool, Record | None]:
        self._no_state()

    def delete(self, key: str) -> None:
        self._no_state()

    def heartbeat(self, worker_id: str, info: bytes, ttl: float) -> None:
        self._no_state()

    def live_workers(self) -> dict[str, bytes]:
        self._no_state()

    def remove_worker(self, worker_id: str) -> None:
        self._no_state()


class ComposedNode(EventNode):
    """Broadcast and work queues from ``broker``, the state store from ``state``.

    Closing the composed node closes both. Both should use the same namespace.
    """

    def __init__(self, broker: EventNode, state: EventNode) -> None:
        broker.require(QUEUE, "the work queues of a composed node")
        state.require(STATE, "the state store of a composed node")
        super().__init__(namespace=broker.namespace)
        self.broker = broker
        self.state = state
        self.capabilities = broker.capabilities | {STATE}

    @property
    def url(self) -> str:
        return f"{self.broker.url} (state: {self.state.url})"

    def close(self) -> None:
        try:
            self.broker.close()
        finally:
            self.state.close()

    # broadcast and queues: the broker
    def emit(self, event: str, payload: bytes) -> None:
        self.broker.emit(event, payload)

    def subscribe(self, event: str, callback: EventCallback) -> None:
        self.broker.subscribe(event, callback)

    def unsubscribe(self, event: str, callback: EventCallback) -> None:
        self.broker.unsubscribe(event, callback)

    def push(self, queue: str, body: bytes, *, not_before: float | None = None) -> str:
        return self.broker.push(queue, body, not_before=not_before)

    def pull(
        self, queue: str, *, timeout: float | None, lease: float, max_messages: int = 1
    ) -> list[Delivery]:
        return self.broker.pull(queue, timeout=timeout, lease=lease, max_messages=max_messages)

    def ack(self, delivery: Delivery) -> bool:
        return self.broker.ack(delivery)

    def nack(self, delivery: Delivery, *, delay: float = 0.0) -> bool:
        return self.broker.nack(delivery, delay=delay)

    def renew(self, deliveries: Sequence[Delivery], lease: float) -> list[bool]:
        return self.broker.renew(deliveries, lease)

    def dead_letter(self, delivery: Delivery, reason: str) -> bool:
        return self.broker.dead_letter(delivery, reason)

    def dead_letters(self, queue: str, *, limit: int = 100) -> list[DeadLetter]:
        return self.broker.dead_letters(queue, limit=limit)

    def queue_size(self, queue: str) -> int:
        return self.broker.queue_size(queue)

    # state: the state node
    def get(self, key: str) -> Record | None:
        return self.state.get(key)

    def get_many(self, keys: Collection[str]) -> dict[str, Record]:
        return self.state.get_many(keys)

    def transition(
        self,
        key: str,
        record: Record,
        *,
        ttl: float,
        expect: Collection[str | None] | None = None,
    ) -> tuple[bool, Record | None]:
        return self.state.transition(key, record, ttl=ttl, expect=expect)

    def delete(self, key: str) -> None:
        self.state.delete(key)

    def heartbeat(self, worker_id: str, info: bytes, ttl: float) -> None:
        self.state.heartbeat(worker_id, info, ttl)

    def live_workers(self) -> dict[str, bytes]:
        return self.state.live_workers()

    def remove_worker(self, worker_id: str) -> None:
        self.state.remove_worker(worker_id)
