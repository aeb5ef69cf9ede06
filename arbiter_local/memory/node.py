"""``MemoryEventNode``: the ``memory://`` backend, a client of a named in-process broker.

``memory://`` is the broker named ``"default"``, ``memory://NAME`` a named one.
Every node with the same URL and namespace shares queues, state and broadcast:
that is how an Arbiter and a Minion in one process talk. Brokers are found in
a process-wide registry that holds them weakly, so a broker (and everything
queued on it) goes away when its last node does, and no test has to reset it.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from arbiter_core.errors import ConfigurationError, NodeClosedError
from arbiter_core.node import (
    BROADCAST,
    DEFAULT_NAMESPACE,
    PRIORITY,
    QUEUE,
    STATE,
    DeadLetter,
    Delivery,
    EventCallback,
    EventNode,
    Expect,
    QueueStats,
    Record,
    TransitionPush,
)
from arbiter_core.settings import DEFAULT_MAX_DELIVERIES, Settings
from arbiter_local.memory.broker import MemoryBroker, Sink, Subscription

logger = logging.getLogger(__name__)

DEFAULT_BROKER_NAME = "default"
CALLBACK_JOIN_TIMEOUT = 5.0
"""Seconds ``close()`` waits for a callback still running on the delivery thread."""


def broker_name(url: str) -> str:
    """The broker name in a ``memory://`` or ``memory://NAME`` URL."""
    parts = urlsplit(url)
    if parts.scheme != "memory":
        raise ConfigurationError(f"{url!r} is not a memory:// URL")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise ConfigurationError(
            f"{url!r}: a memory URL is memory:// or memory://NAME, with nothing after the name"
        )
    return parts.netloc or DEFAULT_BROKER_NAME


class _BrokerRegistry:
    """Named brokers, held weakly: alive exactly as long as some node uses them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._brokers: weakref.WeakValueDictionary[str, MemoryBroker] = (
            weakref.WeakValueDictionary()
        )

    def get(self, name: str) -> MemoryBroker:
        with self._lock:
            broker = self._brokers.get(name)
            if broker is None:
                broker = self._brokers[name] = MemoryBroker(name)
            return broker


_registry = _BrokerRegistry()


def _deliver_events(sink: Sink) -> None:
    """The delivery thread: hands events to callbacks one at a time, in arrival order.

    It holds only the sink, never the node, so an unclosed node can still be
    garbage-collected (its finalizer then shuts the sink, which ends this thread).
    """
    while (item := sink.get()) is not None:
        event, payload, subscriptions = item
        for subscription in subscriptions:
            if not subscription.live:
                continue
            try:
                subscription.callback(event, payload)
            except Exception:
                logger.exception(
                    "broadcast callback %r for event %r failed", subscription.callback, event
                )


class _Connection:
    """A node's hold on its broker: what ``close()`` releases."""

    def __init__(self, broker: MemoryBroker, namespace: str) -> None:
        self.broker: MemoryBroker | None = broker
        self.namespace = namespace
        self.closed = threading.Event()
        self.lock = threading.Lock()
        self.subscriptions: dict[tuple[str, EventCallback], Subscription] = {}
        self.sink = Sink()
        self.thread: threading.Thread | None = None
        self.watching = False
        """Whether the node watches burials (see ``MemoryEventNode._watch_burials``)."""

    def close(self) -> None:
        with self.lock:
            broker, self.broker = self.broker, None
            if broker is None:
                return
            self.closed.set()
            subscriptions = list(self.subscriptions.values())
            self.subscriptions.clear()
            thread, self.thread = self.thread, None
            watching, self.watching = self.watching, False
        self.sink.shut()
        broker.unsubscribe(self.namespace, subscriptions)
        if watching:
            broker.unwatch_burials(self.namespace, self.sink)
        broker.wake(self.namespace)  # blocked pulls see ``closed`` and return []
        if thread is not None and thread is not threading.current_thread():
            thread.join(CALLBACK_JOIN_TIMEOUT)  # unless close() runs inside a callback


class MemoryEventNode(EventNode):
    """An :class:`EventNode` on an in-process :class:`MemoryBroker`.

    Honours the full contract (leases, delivery counts, dead letters, delays,
    TTLs) within one process; nothing survives the process, and other
    processes cannot connect. Broadcast callbacks run on a delivery thread of
    this node, started on the first ``subscribe``, so a slow callback never
    blocks ``emit``.

    ``close()`` does not hand back leased messages: like a crashed worker's,
    they return when their leases run out. A clean shutdown nacks them first.
    Close nodes explicitly; one dropped unclosed is shut down by the garbage
    collector only as far as that can be done without taking locks.

    ``watch_burials`` works (so this node can be the broker of a composed node). As
    the broker is shared, whichever node's call settles a queue buries what is spent
    there; so a watching node is told of every message of its namespace that the
    broker buries on its own (spent, purged), whoever's call did it, and its callback
    runs under the broker's lock on that caller's thread.
    """

    capabilities = frozenset({BROADCAST, QUEUE, STATE, PRIORITY})

    def __init__(
        self,
        url: str = "memory://",
        *,
        namespace: str = DEFAULT_NAMESPACE,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
    ) -> None:
        super().__init__(namespace=namespace)
        if isinstance(max_deliveries, bool) or not isinstance(max_deliveries, int):
            raise TypeError(f"max_deliveries must be an int, got {max_deliveries!r}")
        if max_deliveries < 1:
            raise ValueError(f"max_deliveries must be >= 1, got {max_deliveries!r}")
        self._url = url
        self.max_deliveries = max_deliveries
        self._conn = _Connection(_registry.get(broker_name(url)), namespace)
        # A node dropped without close(): shut its sink so its delivery thread ends and
        # the broker drops its subscriptions. Only that, lock-free, because the cyclic
        # garbage collector may run this anywhere, even inside the broker's lock.
        self._finalizer = weakref.finalize(self, self._conn.sink.shut)
        self._finalizer.atexit = False

    @property
    def url(self) -> str:
        return self._url

    @property
    def broker(self) -> MemoryBroker:
        """The shared in-process broker (for tests: ``node.broker.join(namespace, queue)``)."""
        return self._broker()

    def close(self) -> None:
        self._finalizer.detach()
        self._conn.close()

    def _broker(self) -> MemoryBroker:
        broker = self._conn.broker
        if broker is None:
            raise NodeClosedError(f"{self!r} is closed")
        return broker

    # broadcast

    def _emit(self, event: str, payload: bytes) -> None:
        self._broker().emit(self.namespace, event, payload)

    def _subscribe(self, event: str, callback: EventCallback) -> None:
        conn = self._conn
        with conn.lock:
            broker = self._broker()
            if (event, callback) in conn.subscriptions:
                return
            subscription = Subscription(event, callback, conn.sink)
            conn.subscriptions[event, callback] = subscription
            if conn.thread is None:
                conn.thread = threading.Thread(
                    target=_deliver_events,
                    args=(conn.sink,),
                    name=f"arbiter-memory-events-{id(self):x}",
                    daemon=True,
                )
                conn.thread.start()
            broker.subscribe(self.namespace, subscription)

    def _unsubscribe(self, event: str, callback: EventCallback) -> None:
        conn = self._conn
        with conn.lock:
            broker = self._broker()
            subscription = conn.subscriptions.pop((event, callback), None)
            if subscription is not None:
                broker.unsubscribe(self.namespace, [subscription])

    # work queues

    def _push(self, queue: str, body: bytes, not_before: float | None, priority: int = 0) -> str:
        return self._broker().push(
            self.namespace, queue, body, not_before=not_before, priority=priority
        )

    def _pull(
        self, queue: str, timeout: float | None, lease: float, max_messages: int
    ) -> list[Delivery]:
        return self._broker().pull(
            self.namespace,
            queue,
            timeout=timeout,
            lease=lease,
            max_messages=max_messages,
            max_deliveries=self.max_deliveries,
            cancelled=self._conn.closed,
        )

    def _ack(self, delivery: Delivery) -> bool:
        return self._broker().ack(self.namespace, delivery)

    def _nack(self, delivery: Delivery, delay: float) -> bool:
        return self._broker().nack(self.namespace, delivery, delay)

    def _renew(self, deliveries: Sequence[Delivery], lease: float) -> list[bool]:
        return self._broker().renew(self.namespace, deliveries, lease)

    def _dead_letter(self, delivery: Delivery, reason: str) -> bool:
        return self._broker().dead_letter(self.namespace, delivery, reason)

    def _dead_letters(self, queue: str, limit: int) -> list[DeadLetter]:
        return self._broker().dead_letters(self.namespace, queue, limit)

    def _queue_size(self, queue: str) -> int:
        return self._broker().queue_size(self.namespace, queue)

    def _queue_stats(self, queue: str) -> QueueStats:
        return self._broker().queue_stats(self.namespace, queue)

    def _known_queues(self) -> set[str]:
        return self._broker().known_queues(self.namespace)

    def _purge(self, queue: str) -> int:
        return self._broker().purge(self.namespace, queue)

    def _requeue_dead_letters(self, queue: str, message_ids: list[str] | None) -> list[str]:
        """Under the broker's lock: of racing requeues of one letter, one takes it."""
        return self._broker().requeue_dead_letters(self.namespace, queue, message_ids)

    def _purge_dead_letters(self, queue: str) -> int:
        return self._broker().purge_dead_letters(self.namespace, queue)

    def _watch_burials(self, callback: Callable[[DeadLetter], None]) -> bool:
        conn = self._conn
        with conn.lock:
            self._broker().watch_burials(self.namespace, conn.sink, callback)
            conn.watching = True
        return True

    def _server_info(self) -> dict[str, str]:
        return {"server": f"memory (in-process broker {self._broker().name!r})"}

    # state

    def _get(self, key: str) -> Record | None:
        return self._broker().get(self.namespace, key)

    def _get_many(self, keys: list[str]) -> dict[str, Record]:
        return self._broker().get_many(self.namespace, keys)

    def _transition(
        self, key: str, record: Record, ttl: float, expect: Expect
    ) -> tuple[bool, Record | None]:
        return self._broker().transition(self.namespace, key, record, ttl, expect)

    def _transition_and_push(self, item: TransitionPush) -> bool:
        """One step under the broker's lock; the message is bound to the record."""
        return self._broker().transition_and_push(self.namespace, item)

    def _delete(self, key: str) -> None:
        self._broker().delete(self.namespace, key)

    def _heartbeat(self, worker_id: str, info: bytes, ttl: float) -> None:
        self._broker().heartbeat(self.namespace, worker_id, info, ttl)

    def _live_workers(self) -> dict[str, bytes]:
        return self._broker().live_workers(self.namespace)

    def _remove_worker(self, worker_id: str) -> None:
        self._broker().remove_worker(self.namespace, worker_id)


def create_node(url: str, settings: Settings) -> MemoryEventNode:
    """The ``memory`` scheme's node factory: ``arbiter_local.memory.node:create_node``."""
    return MemoryEventNode(
        url, namespace=settings.namespace, max_deliveries=settings.max_deliveries
    )
