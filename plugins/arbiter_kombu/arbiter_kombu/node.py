"""``KombuEventNode``: RabbitMQ (``amqp://``, ``amqps://``) and kombu's transports as a broker.

It serves the broadcast and work-queue faces; RabbitMQ has no key-value store, so
the state face is :class:`~arbiter_core.node.NoStateStore`'s refusal, and
``arbiter.connect(url, state_url="redis://...")`` composes the node with a state
store of its own (a :class:`~arbiter_core.node.ComposedNode`). Every queue and
header name is in :mod:`arbiter_kombu.names`.

**Threads.** kombu and py-amqp connections are not thread-safe, and a node is
called from many threads at once (a minion's lanes, its keeper, the listener). So
the node never shares a connection between threads without a lock:

* each thread that pulls gets a connection of its own (a :class:`~arbiter_kombu.link.Link`,
  kept thread-locally), on which it waits, takes messages and, usually, acks them;
  an ack or nack from another thread takes that link's lock, which a waiting pull
  gives up between reads of at most :data:`WAIT_SLICE`;
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
So a delivery held ``park_after`` seconds (:data:`PARK_AFTER`) is *parked* by the next
renew (see :meth:`KombuEventNode._park`): published to a lease queue of its own with a
TTL of the lease plus :data:`PARK_MARGIN`, dead-lettering into the work queue, and the
original acked. Nothing is unacked any more; each renew refreshes the copy, the ack
deletes the queue, and if the process dies the TTL gives the message back: a lease
like Redis's. A channel RabbitMQ closed anyway (``park_after=None``) is logged at
WARNING naming consumer_timeout, and an ack held longer than :data:`CONFIRM_ACKS_AFTER`
is followed by a round trip, so it reports False instead of being dropped unseen.

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

**What AMQP cannot tell.** It cannot list queues, nor count other consumers'
unacked messages: ``known_queues`` reads a catalog queue the node writes the
first time it uses a queue, and ``queue_stats().leased`` counts this node's
leases only. Bound records live in another store, so the node does not bury or
revive them; it reports the messages it buries on its own (spent, purged) to
:meth:`watch_burials`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from kombu.connection import Connection
from kombu.entity import Queue
from kombu.messaging import Consumer
from kombu.transport.virtual import Transport as VirtualTransport

from arbiter_core.backoff import Backoff
from arbiter_core.errors import (
    BrokerConnectionError,
    BrokerError,
    ConfigurationError,
    NodeClosedError,
)
from arbiter_core.masking import mask_url
from arbiter_core.node import (
    BROADCAST,
    CROSS_PROCESS,
    DEFAULT_NAMESPACE,
    PERSISTENT,
    PURGED,
    QUEUE,
    DeadLetter,
    Delivery,
    EventCallback,
    EventNode,
    NoStateStore,
    QueueStats,
)
from arbiter_core.settings import DEFAULT_BROKER_TIMEOUT, DEFAULT_MAX_DELIVERIES, Settings
from arbiter_kombu import names
from arbiter_kombu.link import Link
from arbiter_kombu.listener import Listener
from arbiter_kombu.names import Names

log = logging.getLogger("arbiter.kombu")

T = TypeVar("T")

WAIT_SLICE = 0.05
"""Seconds one read of a waiting pull lasts before it gives its link's lock to an ack
from another thread, and checks whether the node was closed. A read returns as soon
as a message arrives: this bounds lock hand-overs, it is not a polling interval."""
VIRTUAL_POLL = 0.01
"""kombu's virtual transports poll (kombu's ``polling_interval``): this is theirs here."""
EARLY_TOLERANCE = 0.002
"""A message this close to its ``not_before`` is delivered rather than sent round again."""
PARK_AFTER = 300.0
"""Seconds a delivery is held before a renew parks it (see ``KombuEventNode._park``): well
under RabbitMQ's default ``consumer_timeout`` of 30 minutes."""
CONFIRM_ACKS_AFTER = 1.0
"""Seconds after which an ack is followed by a round trip, to be sure its channel lives."""
PARK_MARGIN = 5.0
"""A parked message's TTL is the lease plus this, so that this node's own lease thread
(which gives it back when the lease runs out) acts before the broker does."""
PARK_QUEUE_EXPIRES_MS = 3_600_000
"""A lease queue expires an hour (at least four TTLs) after its last declaration."""
DELAY_HOP_MS = 60_000
"""RabbitMQ: the longest a message waits in one delay queue; a longer delay takes several
hops (it comes back early and is sent round again for what is left)."""
DELAY_QUEUE_GRACE_MS = 60_000
"""A delay queue expires this long after the longest hop from its last declaration."""

BurialWatcher = Callable[[DeadLetter], None]


def kombu_url(url: str) -> tuple[str, str]:
    """kombu's URL for one of ours, and the broker name that keeps names apart (memory)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigurationError(f"{mask_url(url)!r} is not a broker URL")
    scheme = scheme.lower()
    if scheme in ("amqp", "amqps"):
        return url, ""
    transport = scheme.removeprefix("kombu+")
    if transport == scheme or not transport:
        raise ConfigurationError(
            f"{mask_url(url)!r}: the kombu plugin serves amqp://, amqps:// and kombu+<transport>://"
        )
    if transport == "memory":
        parts = urlsplit(url)
        if parts.path not in ("", "/") or parts.query or "@" in parts.netloc:
            raise ConfigurationError(
                f"{url!r}: a kombu memory URL is kombu+memory:// or kombu+memory://NAME"
            )
        return "memory://", parts.netloc
    return f"{transport}://{rest}", ""


@dataclass(slots=True)
class _Held:
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

    def current(self) -> bool:
        """Whether the delivery is still this node's: parked, or its link never broke."""
        return self.parked is not None or self.link.generation == self.generation


def _number(value: object, default: float) -> float:
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return result if math.isfinite(result) else default


class KombuEventNode(NoStateStore, EventNode):
    """Queues and broadcast on RabbitMQ or another kombu transport; no state store."""

    def __init__(
        self,
        url: str = "amqp://guest:guest@localhost:5672//",
        *,
        namespace: str = DEFAULT_NAMESPACE,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        broker_timeout: float = DEFAULT_BROKER_TIMEOUT,
        transport_options: dict[str, Any] | None = None,
        park_after: float | None = PARK_AFTER,
    ) -> None:
        super().__init__(namespace=namespace)
        if not isinstance(max_deliveries, int) or max_deliveries < 1:
            raise ValueError(f"max_deliveries must be an int >= 1, got {max_deliveries!r}")
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
        self.capabilities = frozenset(caps)
        self._node_id = uuid.uuid4().hex
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._links: list[Link] = []
        self._local = threading.local()
        self._main = self._new_link("main", owned=False)
        self._declared: set[str] = set()
        self._noted: set[bytes] = set()
        self._held: dict[str, _Held] = {}
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

    def _watch_burials(self, callback: BurialWatcher) -> bool:
        """Report the messages buried on their own: spent (at a pull, a nack, a lease
        that ran out) and purged, each after it is buried, outside the links' locks."""
        self._burial_watcher = callback
        return True

    def _check_open(self) -> None:
        if self._closed.is_set():
            raise NodeClosedError(f"{self._url} is closed")

    # -- links -----------------------------------------------------------------------------

    def _open_connection(self) -> Connection:
        connection = Connection(
            self._kombu_url,
            heartbeat=0,
            connect_timeout=max(self._broker_timeout, 0.5),
            transport_options=dict(self._transport_options),
        )
        try:
            connection.connect()
        except BaseException:
            connection.release()
            raise
        return connection

    def _new_link(self, name: str, *, owned: bool) -> Link:
        link = Link(self._open_connection, f"{self._node_id[:8]}-{name}")
        if owned:
            link.owner = threading.current_thread()
        with self._lock:
            if owned:
                self._sweep_links()
            self._links.append(link)
        return link

    def _sweep_links(self) -> None:
        """Close the links of threads that ended and hold nothing (called with ``_lock``)."""
        with self._held_changed:
            busy = {id(item.link) for item in self._held.values()}
        keep = []
        for link in self._links:
            owner = link.owner
            if owner is not None and not owner.is_alive() and id(link) not in busy:
                with link.lock:
                    link.close()
            else:
                keep.append(link)
        self._links = keep

    def _own_link(self) -> Link:
        """The calling thread's link (made on first use)."""
        link: Link | None = getattr(self._local, "link", None)
        if link is None or link.closed:
            link = self._new_link(threading.current_thread().name, owned=True)
            self._local.link = link
        return link

    def _attempt(self, link: Link, what: str, operation: Callable[[Any], T]) -> T:
        """Run ``operation(channel)`` under the link's lock, reconnecting with backoff.

        A lost connection is retried until ``broker_timeout`` has passed, then it is a
        :class:`BrokerConnectionError`. A channel error is tried once more on a new
        channel (the broker may have closed the old one earlier, e.g. over
        ``consumer_timeout``); a second one (an argument the broker refuses) is a
        :class:`BrokerError`.
        """
        deadline = time.monotonic() + self._broker_timeout
        backoff = Backoff(base=0.05, cap=1.0)
        channel_failures = 0
        while True:
            self._check_open()
            with link.lock:
                try:
                    return operation(link.channel)
                except self._connection_errors as exc:
                    link.drop()
                    self._declared.clear()
                    error: BaseException = exc
                except self._errors as exc:
                    link.reset_channel()
                    _warn_if_timed_out(exc)
                    channel_failures += 1
                    if channel_failures > 1:
                        raise BrokerError(f"{self._url}: {what} failed: {exc}") from exc
                    continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerConnectionError(
                    f"{self._url}: {what} failed, broker unreachable for "
                    f"{self._broker_timeout:g}s: {error}"
                ) from error
            self._closed.wait(min(backoff.next(), remaining))

    # -- low-level broker calls (with the link's lock held) ------------------------------------

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
            parsed = names.parse_catalog_entry(_body(message))
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

    def _send(self, link: Link, queue: str, body: bytes, headers: dict[str, Any]) -> None:
        """Publish to the work queue, or to a delay queue if ``NOT_BEFORE`` is ahead."""
        not_before = _number(headers.get(names.NOT_BEFORE), 0.0)
        delay = not_before - time.time()
        if delay <= EARLY_TOLERANCE:
            headers.pop(names.NOT_BEFORE, None)
            ready = self._names.ready(queue)
            self._declare(link.channel, ready)
            self._publish(link, ready, body, headers)
            return
        if self._native:
            due_ms = math.ceil(not_before * 1000)
            ttl_ms = max(1, min(due_ms - math.floor(time.time() * 1000), DELAY_HOP_MS))
            name = self._names.delay(queue, due_ms)
            self._declare(link.channel, self._names.ready(queue))
            self._declare(
                link.channel,
                name,
                {
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": self._names.ready(queue),
                    "x-expires": DELAY_HOP_MS + DELAY_QUEUE_GRACE_MS,
                },
            )
            self._note(link, names.CATALOG_DELAY, queue, name)
            self._publish(link, name, body, headers, expiration=ttl_ms / 1000)
            return
        name = self._names.delay(queue, None)
        self._declare(link.channel, name)
        self._note(link, names.CATALOG_DELAY, queue, name)
        self._publish(link, name, body, headers)

    def _delay_queues(self, link: Link, queue: str) -> list[str]:
        if not self._native:
            return [self._names.delay(queue, None)]
        entries = [e for e in self._catalog(link) if e[0] == names.CATALOG_DELAY and e[1] == queue]
        gone = frozenset(e for e in entries if self._size(link, e[2]) is None)  # expired
        if gone:
            self._catalog(link, stale=gone)
            self._noted.difference_update(names.catalog_entry(*entry) for entry in gone)
        return [name for _, _, name in entries if (names.CATALOG_DELAY, queue, name) not in gone]

    def _promote(self, link: Link, queue: str) -> None:
        """Virtual transports: move the delayed messages that are due to the work queue."""
        name = self._names.delay(queue, None)
        self._declare(link.channel, name)
        taken = self._drain(link.channel, name)
        if not taken:
            return
        now = time.time()
        due = []
        for message in taken:
            not_before = _number((message.headers or {}).get(names.NOT_BEFORE), 0.0)
            if not_before - now <= EARLY_TOLERANCE:
                due.append((not_before, message))
        due.sort(key=lambda item: item[0])
        moved = set()
        for _, message in due:
            headers = dict(message.headers or {})
            headers.pop(names.NOT_BEFORE, None)
            self._send(link, queue, _body(message), headers)
            message.ack()
            moved.add(id(message))
        for message in taken:
            if id(message) not in moved:
                message.reject(requeue=True)

    # -- the work queue ----------------------------------------------------------------------

    def _push(self, queue: str, body: bytes, not_before: float | None) -> str:
        message_id = uuid.uuid4().hex
        headers = self._headers(message_id, 0, time.time(), not_before)

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
        self._declare(link.channel, ready)
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
        prior = int(_number(headers.get(names.DELIVERIES), 0))
        message_id = str(
            headers.get(names.MESSAGE_ID)
            or message.properties.get("message_id")
            or f"foreign-{uuid.uuid4().hex}"
        )
        now = time.time()
        enqueued_at = _number(headers.get(names.ENQUEUED_AT), now)
        body = _body(message)
        if message.delivery_info.get("redelivered"):
            prior += 1
            if prior >= self.max_deliveries:
                buried.append(
                    self._bury(link, queue, message_id, body, prior, enqueued_at, _spent(prior))
                )
            else:
                self._send(link, queue, body, self._headers(message_id, prior, enqueued_at))
            message.ack()
            return None
        not_before = _number(headers.get(names.NOT_BEFORE), 0.0)
        if not_before - now > EARLY_TOLERANCE:
            self._send(link, queue, body, self._headers(message_id, prior, enqueued_at, not_before))
            message.ack()
            return None
        receipt = uuid.uuid4().hex
        held = _Held(
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
        )
        with self._held_changed:
            self._held[receipt] = held
            self._held_changed.notify_all()
        self._start_lease_thread()
        return Delivery(queue, message_id, body, prior + 1, receipt, enqueued_at)

    def _bury(
        self,
        link: Link,
        queue: str,
        message_id: str,
        body: bytes,
        count: int,
        enqueued_at: float,
        reason: str,
    ) -> DeadLetter:
        """Publish a dead letter (the caller acks the message it came from)."""
        dead_at = time.time()
        headers = self._headers(message_id, count, enqueued_at)
        headers[names.REASON] = reason
        headers[names.DEAD_AT] = repr(dead_at)
        name = self._names.dead(queue)
        self._declare(link.channel, name)
        self._note(link, names.CATALOG_QUEUE, queue)
        self._publish(link, name, body, headers)
        return DeadLetter(queue, message_id, body, reason, count, dead_at)

    def _report(self, buried: list[DeadLetter]) -> None:
        watcher = self._burial_watcher
        if watcher is None:
            return
        for letter in buried:
            try:
                watcher(letter)
            except Exception:
                log.exception("burial watcher failed on message %s", letter.message_id)

    def _hold(self, delivery: Delivery) -> _Held | None:
        """Take the delivery out of the leases held; None if its lease was not held."""
        self._check_open()
        if not isinstance(delivery, Delivery):
            raise TypeError(f"expected a Delivery, got {type(delivery).__name__}")
        with self._held_changed:
            held = self._held.pop(delivery.receipt, None)
        if held is None or not held.current():
            return None
        return held

    def _settle(self, held: _Held, settle: Callable[[], DeadLetter | None]) -> bool:
        """Run ``settle`` on the delivery's link; False if its connection is gone."""
        with held.link.lock:
            if not held.current():
                return False
            try:
                letter = settle()
            except self._errors as exc:
                _warn_if_timed_out(exc)
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

    def _finish(self, held: _Held) -> bool:
        """Take the original message off the broker: ack it, or delete its lease queue.

        False if a parked message's lease queue had already given it back (expired).
        """
        if held.parked is None:
            held.message.ack()
            return True
        deleted = held.link.channel.queue_delete(queue=held.parked)
        return bool(deleted)

    def _release(self, held: _Held, delay: float) -> bool:
        """Put a held message back (after ``delay``), or bury it if it is spent."""

        def release() -> DeadLetter | None:
            letter = None
            if held.count >= self.max_deliveries:
                letter = self._bury(
                    held.link,
                    held.queue,
                    held.message_id,
                    held.body,
                    held.count,
                    held.enqueued_at,
                    _spent(held.count),
                )
            else:
                not_before = time.time() + delay if delay > 0 else None
                headers = self._headers(held.message_id, held.count, held.enqueued_at, not_before)
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
        long_held: list[_Held] = []
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

    def _park(self, held: _Held, lease: float) -> bool:
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
                headers = self._headers(held.message_id, held.count, held.enqueued_at)
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
            self._bury(
                held.link,
                held.queue,
                held.message_id,
                held.body,
                held.count,
                held.enqueued_at,
                reason,
            )
            self._finish(held)

        return self._settle(held, bury)

    # -- leases ------------------------------------------------------------------------------

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

    # -- dead letters and the operator's tools -------------------------------------------------

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
                    _body(message),
                    str(headers.get(names.REASON, "")),
                    int(_number(headers.get(names.DELIVERIES), 0)),
                    _number(headers.get(names.DEAD_AT), 0.0),
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
                    headers = self._headers(letter.message_id, 0, time.time())
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

    def _leased(self, queue: str) -> int:
        with self._held_changed:
            return sum(1 for held in self._held.values() if held.queue == queue)

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
                            _body(message),
                            PURGED,
                            int(_number(headers.get(names.DELIVERIES), 0)),
                            time.time(),
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


def _body(message: Any) -> bytes:
    """A message's body as bytes (py-amqp hands an empty one over as ``""``)."""
    body = message.body
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return bytes(body)


def _warn_if_timed_out(exc: BaseException) -> None:
    if "acknowledgement" in str(exc) and "timed out" in str(exc):
        log.warning(
            "RabbitMQ closed a channel holding a delivery past its consumer_timeout; the "
            "delivery goes to another consumer. Park long deliveries sooner (park_after) "
            "or raise consumer_timeout on the broker: %s",
            exc,
        )


def _spent(count: int) -> str:
    return f"delivered {count} times without an ack"


def create_node(url: str, settings: Settings) -> KombuEventNode:
    """What arbiter calls for ``amqp://``, ``amqps://`` and ``kombu+<transport>://`` URLs."""
    return KombuEventNode(
        url,
        namespace=settings.namespace,
        max_deliveries=settings.max_deliveries,
        broker_timeout=settings.broker_timeout,
    )
