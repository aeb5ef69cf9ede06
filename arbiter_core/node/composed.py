"""Composing nodes: a broker's queues and broadcast with another backend's state store.

RabbitMQ has no key-value store, so a kombu node takes its state from another
URL (``state_url`` / ``ARBITER_STATE_URL``), the way Celery separates broker and
result backend. :class:`NoStateStore` is the state face of such a broker: it
refuses with an error that names the setting to use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

from arbiter_core.errors import UnsupportedOperationError
from arbiter_core.node.broadcast import EventCallback
from arbiter_core.node.event_node import QUEUE, STATE, EventNode
from arbiter_core.node.state_store import Expect, Record
from arbiter_core.node.work_queue import DeadLetter, Delivery, QueueStats


class NoStateStore:
    """Mixin for an :class:`EventNode` whose broker has no state store.

    Put it before the node class in the bases: its protected state methods then
    stand in for the node's. Arguments are still checked first, by the public methods.
    """

    url: str

    def _no_state(self, *_: object) -> NoReturn:
        raise UnsupportedOperationError(
            f"{self.url} has no state store; set state_url (or ARBITER_STATE_URL) to a "
            "backend that has one, e.g. redis://localhost:6379/0"
        )

    _get = _get_many = _transition = _delete = _no_state
    _heartbeat = _live_workers = _remove_worker = _no_state


class ComposedNode(EventNode):
    """Broadcast and work queues from ``broker``, the state store from ``state``.

    Closing the composed node closes both. Both should use the same namespace.
    Arguments are checked once, by this node's public methods; it hands them on to
    the protected methods of the other two. The combined operations are the
    defaults: the broker cannot claim or bury records that live in the other store,
    nor can a purge end them or a requeue revive them (it requeues the messages, and
    leaves the records to the worker, which transitions them itself).
    ``server_info`` is the broker's, with the state store's under ``state_*`` keys.
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
    def _emit(self, event: str, payload: bytes) -> None:
        self.broker._emit(event, payload)

    def _subscribe(self, event: str, callback: EventCallback) -> None:
        self.broker._subscribe(event, callback)

    def _unsubscribe(self, event: str, callback: EventCallback) -> None:
        self.broker._unsubscribe(event, callback)

    def _push(self, queue: str, body: bytes, not_before: float | None) -> str:
        return self.broker._push(queue, body, not_before)

    def _pull(
        self, queue: str, timeout: float | None, lease: float, max_messages: int
    ) -> list[Delivery]:
        return self.broker._pull(queue, timeout, lease, max_messages)

    def _ack(self, delivery: Delivery) -> bool:
        return self.broker._ack(delivery)

    def _nack(self, delivery: Delivery, delay: float) -> bool:
        return self.broker._nack(delivery, delay)

    def _renew(self, deliveries: Sequence[Delivery], lease: float) -> list[bool]:
        return self.broker._renew(deliveries, lease)

    def _dead_letter(self, delivery: Delivery, reason: str) -> bool:
        return self.broker._dead_letter(delivery, reason)

    def _dead_letters(self, queue: str, limit: int) -> list[DeadLetter]:
        return self.broker._dead_letters(queue, limit)

    def _queue_size(self, queue: str) -> int:
        return self.broker._queue_size(queue)

    def _queue_stats(self, queue: str) -> QueueStats:
        return self.broker._queue_stats(queue)

    def _known_queues(self) -> set[str]:
        return self.broker._known_queues()

    def _purge(self, queue: str) -> int:
        return self.broker._purge(queue)

    def _requeue_dead_letters(self, queue: str, message_ids: list[str] | None) -> list[str]:
        return self.broker._requeue_dead_letters(queue, message_ids)

    def _purge_dead_letters(self, queue: str) -> int:
        return self.broker._purge_dead_letters(queue)

    def _server_info(self) -> dict[str, str]:
        info = self.broker._server_info()
        info.update({f"state_{key}": value for key, value in self.state._server_info().items()})
        return info

    # state: the state node
    def _get(self, key: str) -> Record | None:
        return self.state._get(key)

    def _get_many(self, keys: list[str]) -> dict[str, Record]:
        return self.state._get_many(keys)

    def _transition(
        self, key: str, record: Record, ttl: float, expect: Expect
    ) -> tuple[bool, Record | None]:
        return self.state._transition(key, record, ttl, expect)

    def _delete(self, key: str) -> None:
        self.state._delete(key)

    def _heartbeat(self, worker_id: str, info: bytes, ttl: float) -> None:
        self.state._heartbeat(worker_id, info, ttl)

    def _live_workers(self) -> dict[str, bytes]:
        return self.state._live_workers()

    def _remove_worker(self, worker_id: str) -> None:
        self.state._remove_worker(worker_id)
