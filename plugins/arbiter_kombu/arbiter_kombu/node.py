"""``KombuEventNode``: RabbitMQ (``amqp://``, ``amqps://``) and kombu's transports as a broker.

It serves the broadcast and work-queue faces; RabbitMQ has no key-value store, so
the state face is :class:`~arbiter_core.node.NoStateStore`'s refusal, and
``arbiter.connect(url, state_url="redis://...")`` composes the node with a state
store of its own (a :class:`~arbiter_core.node.ComposedNode`). Every queue and
header name is in :mod:`arbiter_kombu.names`.

**Where each part lives.** The node is built in layers, each a module of this package
and a class the next one extends; this module assembles them into
:class:`KombuEventNode` (its constructor, ``close``, the operator's counts and purge,
and broadcast):

* :mod:`arbiter_kombu.connections`: a link per thread, ``_attempt`` (reconnect with
  backoff), and :func:`kombu_url`;
* :mod:`arbiter_kombu.broker_calls`: declaring, publishing, taking and counting on one
  channel, the headers of a message, and the catalog of queues;
* :mod:`arbiter_kombu.delays`: the TTL queue per due time, and promoting delayed
  messages on virtual transports;
* :mod:`arbiter_kombu.dead_letters`: burying, the burial watcher, and listing,
  requeueing and purging dead letters;
* :mod:`arbiter_kombu.leases`: the leases the node keeps, acks, nacks and renews, the
  lease thread, and parking for consumer_timeout;
* :mod:`arbiter_kombu.pulls`: push, and pull with ``basic.get`` and a prefetch-1 wait;
* :mod:`arbiter_kombu.link` (one connection and its channel) and
  :mod:`arbiter_kombu.listener` (the broadcast listener thread).

**Threads.** kombu and py-amqp connections are not thread-safe, and a node is
called from many threads at once (a minion's lanes, its keeper, the listener). So
the node never shares a connection between threads without a lock:

* each thread that pulls gets a connection of its own (a :class:`~arbiter_kombu.link.Link`,
  kept thread-locally), on which it waits, takes messages and, usually, acks them;
  an ack or nack from another thread takes that link's lock, which a waiting pull
  gives up between reads of at most :data:`~arbiter_kombu.pulls.WAIT_SLICE`;
* one *main* link, behind its lock, pushes, emits and runs the operator's tools;
* broadcast has a link of its own, read by the listener thread only
  (:mod:`arbiter_kombu.listener`);
* a lease thread (started with the first lease) releases leases that ran out.

Links of threads that ended are closed when a new one is made, and all at ``close()``.

**Pulls and prefetch.** A pull takes messages with ``basic.get``, one at a time, so
a minion holds only what it runs: nothing is prefetched behind a busy lane. When
the queue is empty it waits as a consumer with ``prefetch_count=1``, so at most
the one message it waits for is sent to it, then cancels the consumer: nothing is
ever sitting in a lane that did not ask for it.

**Leases.** RabbitMQ has none: an unacked message stays with its channel until it
is acked, rejected, or the channel's connection closes (then the broker requeues
it). The node adds the lease on top: it remembers each delivery with its expiry,
``renew`` pushes the expiry on (no round trip), and when a lease runs out the
node itself puts the message back (with its delivery count) and forgets the
receipt, so a stale receipt acks nothing. What differs from Redis: a lease held
by a *live* process is released by that process's lease thread; when the
process dies, the broker returns its messages at once (the TCP connection closes),
not after the lease; and a process cut off from the network keeps them until
RabbitMQ notices the connection is gone (TCP keep-alive or heartbeats), not
after the lease. A delivery whose link broke is stale at once: its ack returns
False, and the broker has requeued it.

**RabbitMQ's consumer_timeout.** RabbitMQ closes a channel that holds a delivery
unacked for longer than ``consumer_timeout`` (30 minutes by default; the broker's
setting, ``rabbitmqctl environment``), and requeues what the channel held. On 3.10.8
this was checked to apply to ``basic.get`` deliveries as much as to consumed ones, so
pulling with ``basic.get`` does not escape it, and renewing cannot reset its clock.
So a delivery held ``park_after`` seconds (:data:`~arbiter_kombu.leases.PARK_AFTER`) is
*parked* by the next renew (see :meth:`~arbiter_kombu.leases.Leases._park`): published to
a lease queue of its own with a TTL of the lease plus
:data:`~arbiter_kombu.leases.PARK_MARGIN`, dead-lettering into the work queue, and the
original acked. Nothing is unacked any more; each renew refreshes the copy, the ack
deletes the queue, and if the process dies the TTL gives the message back: a lease
like Redis's. A channel RabbitMQ closed anyway (``park_after=None``) is logged at
WARNING naming consumer_timeout, and an ack held longer than
:data:`~arbiter_kombu.leases.CONFIRM_ACKS_AFTER` is followed by a round trip, so it
reports False instead of being dropped unseen.

**Delivery counts.** Kept in a header (``x-arbiter-deliveries``): a nack, or a
lease the node releases, publishes the message again with the count and acks the
old copy (one channel, confirmed publish first, so a crash in between duplicates
it, never loses it). A message the broker returns (its holder's connection died)
comes back marked *redelivered*: the next pull counts that delivery and publishes
it again with the count, or buries it when spent, so a message that crashes its
workers reaches ``max_deliveries`` like any other. Such a message goes to the back
of the queue.

**Delays** (without RabbitMQ's delayed-message plugin). On RabbitMQ a message due
in *ms* milliseconds goes to ``{prefix}.delay.{ms}.{q}``: a queue with
``x-message-ttl`` *ms* that dead-letters into the work queue when the time is up
(one queue per distinct delay, so every message in it has the same TTL and they
fall due in order; ``x-expires`` removes the queue a minute after its last use,
and every delayed push declares it again first, which resets that clock). A
message that arrives early (clock skew) is sent round again for what is left.
kombu's virtual transports (memory, Redis, SQS...) have no TTL: there delayed
messages wait in ``{prefix}.delay.{q}`` and each pull moves the ones that are due,
in due order; a message is taken by one puller at a time, so it moves once.

**Dead letters** are messages of ``{prefix}.dead.{q}``, with reason, count and
time in headers. Listing takes them all unacked and gives them back in order.
A requeue takes them all unacked too, publishes the chosen ones to the work
queue (same message id, count reset) and acks them, then gives the rest back:
while one caller holds a letter no other caller can see it, so of two concurrent
requeues exactly one requeues it.

**Priorities** (opt-in: ``?max_priority=9`` or ``max_priority=9``). The work queues are
declared with ``x-max-priority`` 9 and each message is published with its level as the
AMQP ``priority`` property (and the :data:`~arbiter_kombu.names.PRIORITY` header), so
RabbitMQ serves the higher levels first, FIFO within one; the node then declares the
``PRIORITY`` capability. Every republished copy (a nack, a lease that ran out, a
redelivery counted, a parked lease, a dead letter and its requeue) carries the level
again, and RabbitMQ keeps properties when a delay or lease queue dead-letters into the
work queue. A queue that exists with the other setting is a
:class:`~arbiter_kombu.broker_calls.QueueArgumentsError` saying how to move it over. kombu's
virtual transports are refused the option: they serve every level FIFO.

**What AMQP cannot tell.** It cannot list queues, nor count other consumers'
unacked messages: ``known_queues`` reads a catalog queue the node writes the
first time it uses a queue, and ``queue_stats().leased`` counts this node's
leases only. Bound records live in another store, so the node does not bury or
revive them; it reports the messages it buries on its own (spent, purged) to
:meth:`watch_burials`.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from kombu.connection import Connection
from kombu.transport.virtual import Transport as VirtualTransport

from arbiter_core.errors import ConfigurationError
from arbiter_core.masking import mask_url
from arbiter_core.node import (
    BROADCAST,
    CROSS_PROCESS,
    DEFAULT_NAMESPACE,
    MAX_PRIORITY,
    PERSISTENT,
    PRIORITY,
    PURGED,
    QUEUE,
    DeadLetter,
    EventCallback,
    EventNode,
    NoStateStore,
    QueueStats,
)
from arbiter_core.settings import DEFAULT_BROKER_TIMEOUT, DEFAULT_MAX_DELIVERIES, Settings
from arbiter_kombu import names
from arbiter_kombu.broker_calls import header_level, header_number, message_body
from arbiter_kombu.connections import kombu_url
from arbiter_kombu.dead_letters import BurialWatcher
from arbiter_kombu.delays import DELAY_HOP_MS, DELAY_QUEUE_GRACE_MS, EARLY_TOLERANCE
from arbiter_kombu.leases import (
    CONFIRM_ACKS_AFTER,
    PARK_AFTER,
    PARK_MARGIN,
    PARK_QUEUE_EXPIRES_MS,
    Held,
)
from arbiter_kombu.link import Link
from arbiter_kombu.listener import Listener
from arbiter_kombu.names import Names
from arbiter_kombu.pulls import VIRTUAL_POLL, WAIT_SLICE, Pulls
from arbiter_kombu.url_options import (
    DEFAULT_PARKING,
    DefaultParking,
    parking,
    priority_levels,
)

__all__ = [
    "CONFIRM_ACKS_AFTER",
    "DELAY_HOP_MS",
    "DELAY_QUEUE_GRACE_MS",
    "EARLY_TOLERANCE",
    "PARK_AFTER",
    "PARK_MARGIN",
    "PARK_QUEUE_EXPIRES_MS",
    "VIRTUAL_POLL",
    "WAIT_SLICE",
    "BurialWatcher",
    "KombuEventNode",
    "create_node",
    "kombu_url",
]
"""What this module offers: the node and its factory, and, where they were before the
node was split into modules, the URL translation and the tuning constants."""


class KombuEventNode(NoStateStore, Pulls, EventNode):
    """Queues and broadcast on RabbitMQ or another kombu transport; no state store."""

    def __init__(
        self,
        url: str = "amqp://guest:guest@localhost:5672//",
        *,
        namespace: str = DEFAULT_NAMESPACE,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        broker_timeout: float = DEFAULT_BROKER_TIMEOUT,
        transport_options: dict[str, Any] | None = None,
        park_after: float | DefaultParking | None = DEFAULT_PARKING,
        max_priority: int | None = None,
    ) -> None:
        super().__init__(namespace=namespace)
        if not isinstance(max_deliveries, int) or max_deliveries < 1:
            raise ValueError(f"max_deliveries must be an int >= 1, got {max_deliveries!r}")
        url, park_after = parking(url, park_after)
        url, max_priority = priority_levels(url, max_priority)
        self._url = mask_url(url)
        self._kombu_url, broker_name = kombu_url(url)
        self.max_deliveries = max_deliveries
        self._broker_timeout = broker_timeout
        self._park_after = park_after
        prefix = f"{namespace}@{broker_name}" if broker_name else namespace
        self._names = Names(prefix)
        probe = Connection(self._kombu_url)
        self._native = not isinstance(probe.transport, VirtualTransport)
        self._memory = probe.transport.driver_type == "memory"
        self._vhost = str(probe.virtual_host or "/")
        if max_priority is not None and not self._native:
            probe.release()
            raise ConfigurationError(
                f"{self._url}: max_priority needs RabbitMQ (amqp://, amqps://); kombu's "
                f"{probe.transport.driver_type} transport cannot order by it. Leave it out: "
                "every level is then served FIFO (see docs/priorities.md)"
            )
        self._ready_arguments = None if max_priority is None else {"x-max-priority": MAX_PRIORITY}
        options = {"confirm_publish": True} if self._native else {"polling_interval": VIRTUAL_POLL}
        options.update(transport_options or {})
        self._transport_options = options
        self._errors: tuple[type[BaseException], ...] = (
            *probe.connection_errors,
            *probe.channel_errors,
            OSError,
        )
        self._connection_errors: tuple[type[BaseException], ...] = (
            *probe.connection_errors,
            OSError,
        )
        probe.release()
        caps = {BROADCAST, QUEUE}
        if not self._memory:
            caps.add(CROSS_PROCESS)
        if self._native:
            caps.add(PERSISTENT)
        else:
            self._park_after = None  # no TTL to park with, and no consumer_timeout either
        if self._ready_arguments:
            caps.add(PRIORITY)
        self.capabilities = frozenset(caps)
        self._node_id = uuid.uuid4().hex
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._links: list[Link] = []
        self._local = threading.local()
        self._main = self._new_link("main", owned=False)
        self._declared: set[str] = set()
        self._noted: set[bytes] = set()
        self._held: dict[str, Held] = {}
        self._held_changed = threading.Condition()
        self._lease_thread: threading.Thread | None = None
        self._burial_watcher: BurialWatcher | None = None
        self._listener = Listener(
            self._new_link("events", owned=False),
            self._names.events,
            self._names.subscriber(self._node_id),
            self._errors,
            exclusive=self._native,
            ready_timeout=max(broker_timeout, 1.0),
        )

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:  # type: ignore[override]  # NoStateStore declares it as a str
        return self._url

    def close(self) -> None:
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
        self._listener.stop()
        with self._held_changed:
            held, self._held = list(self._held.values()), {}
            self._held_changed.notify_all()
        for item in held:  # a clean stop gives back what it holds (the memory transport won't)
            self._release(item, 0.0)
        thread = self._lease_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        with self._lock:
            links, self._links = self._links, []
        self._burial_watcher = None
        for link in links:
            with link.lock:
                link.close()

    # -- the operator's tools -------------------------------------------------------------

    def _queue_size(self, queue: str) -> int:
        return self._queue_stats(queue).stored

    def _queue_stats(self, queue: str) -> QueueStats:
        self._settle_leases()

        def stats(_: Any) -> QueueStats:
            link = self._main
            if not self._native:
                self._promote(link, queue)
            delayed = sum(self._count(link, name) for name in self._delay_queues(link, queue))
            return QueueStats(
                ready=self._count(link, self._names.ready(queue)),
                delayed=delayed,
                leased=self._leased(queue),
                dead=self._count(link, self._names.dead(queue)),
            )

        return self._attempt(self._main, f"count the messages of {queue!r}", stats)

    def _known_queues(self) -> set[str]:
        self._check_open()
        entries = self._attempt(self._main, "read the catalog", lambda _: self._catalog(self._main))
        queues = {q for kind, q, _ in entries if kind == names.CATALOG_QUEUE}
        return {q for q in queues if self._holds_anything(q)}

    def _holds_anything(self, queue: str) -> bool:
        stats = self._queue_stats(queue)
        return stats.stored + stats.dead > 0

    def _purge(self, queue: str) -> int:
        self._settle_leases()

        def purge(channel: Any) -> tuple[int, list[DeadLetter]]:
            link = self._main
            if not self._native:
                self._promote(link, queue)
            targets = [self._names.ready(queue), *self._delay_queues(link, queue)]
            watcher = self._burial_watcher
            dropped = 0
            letters = []
            for name in targets:
                if not self._count(link, name):
                    continue
                if watcher is None:
                    dropped += int(link.channel.queue_purge(queue=name) or 0)
                    continue
                for message in self._drain(link.channel, name):  # each one to the watcher
                    headers = message.headers or {}
                    letters.append(
                        DeadLetter(
                            queue,
                            str(headers.get(names.MESSAGE_ID, "")),
                            message_body(message),
                            PURGED,
                            int(header_number(headers.get(names.DELIVERIES), 0)),
                            time.time(),
                            priority=header_level(headers),
                        )
                    )
                    message.ack()
                    dropped += 1
            return dropped, letters

        dropped, letters = self._attempt(self._main, f"purge {queue!r}", purge)
        self._report(letters)
        return dropped

    def _server_info(self) -> dict[str, str]:
        def info(_: Any) -> dict[str, str]:
            connection = self._main.connection
            if not self._native:
                return {"server": f"kombu {connection.transport.driver_type} transport"}
            properties = getattr(connection.connection, "server_properties", {}) or {}
            product = str(properties.get("product", "AMQP broker"))
            version = str(properties.get("version", "")).strip()
            return {"server": f"{product} {version}".strip()}

        return self._attempt(self._main, "ask the server", info)

    # -- broadcast ---------------------------------------------------------------------------

    def _emit(self, event: str, payload: bytes) -> None:
        def emit(channel: Any) -> None:
            if self._names.events not in self._declared:
                channel.exchange_declare(
                    exchange=self._names.events, type="fanout", durable=True, auto_delete=False
                )
                self._declared.add(self._names.events)
            self._publish(
                self._main, "", payload, {names.EVENT: event}, exchange=self._names.events
            )

        self._attempt(self._main, f"emit {event!r}", emit)

    def _subscribe(self, event: str, callback: EventCallback) -> None:
        self._check_open()
        self._listener.subscribe(event, callback)

    def _unsubscribe(self, event: str, callback: EventCallback) -> None:
        self._check_open()
        self._listener.unsubscribe(event, callback)


def create_node(url: str, settings: Settings) -> KombuEventNode:
    """What arbiter calls for ``amqp://``, ``amqps://`` and ``kombu+<transport>://`` URLs
    (``?park_after=`` and ``?max_priority=`` come with the URL)."""
    return KombuEventNode(
        url,
        namespace=settings.namespace,
        max_deliveries=settings.max_deliveries,
        broker_timeout=settings.broker_timeout,
    )
