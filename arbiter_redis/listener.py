"""Broadcast over Redis pub/sub: a reader thread owns the node's PubSub connection.

Only the reader thread ever touches the PubSub connection (redis-py's PubSub is not
meant for one thread reading while another writes). ``subscribe()`` records the
callback, then publishes on the node's private control channel to wake the reader,
which sends SUBSCRIBE itself and signals the caller when Redis confirms — so when
``subscribe()`` returns, an emit from anywhere reaches the callback.

Callbacks run on a second thread, the dispatcher, in arrival order: a slow
callback never stops the reader (Redis would drop a pub/sub client whose output
buffer fills) and a callback may itself subscribe, unsubscribe or close the node.
A :class:`~arbiter_core.node.Quick` callback runs on the reader itself, which
spares each event a thread wake-up.

On a lost connection the reader reconnects with backoff and subscribes again to
every channel that still has callbacks; events emitted meanwhile are missed, as
broadcast is at most once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any

from arbiter_core.backoff import Backoff
from arbiter_core.errors import BrokerConnectionError, NodeClosedError
from arbiter_core.node import EventCallback, Quick
from arbiter_redis.connection import permission_hint

if TYPE_CHECKING:
    import redis

    from arbiter_redis.keys import Keys

log = logging.getLogger("arbiter.redis")

JOIN_TIMEOUT = 5.0
"""Seconds ``close()`` waits for the dispatcher (a callback may still be running)."""
READER_JOIN_TIMEOUT = 1.0
"""Seconds ``close()`` waits for the reader. Woken, it ends at once; with the server gone it
may be inside redis-py's reconnect attempts, and ends by itself when they fail."""
RECONNECT_BASE = 0.1
RECONNECT_CAP = 5.0
"""Backoff between reconnect attempts of the reader: doubles from the base up to the cap."""


@dataclass(eq=False)
class _Subscription:
    event: str
    callback: EventCallback
    active: bool = True


@dataclass(eq=False)
class _Waiter:
    """A ``subscribe()`` call waiting for Redis to confirm its channel."""

    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


_Dispatch = tuple[bytes, tuple[_Subscription, ...]]


class Listener:
    """The broadcast side of one node: its subscriptions, reader and dispatcher threads.

    Threads start on the first ``subscribe``. ``connection_errors`` are the redis-py
    exceptions that mean "reconnect"; ``refused_errors`` those of a server that answered
    no (an ACL forbidding the node's channels), which are logged and retried the same way,
    so the reader outlives a misconfigured ACL and recovers once it is fixed; ``poll``
    bounds each blocking read: a connection silent that long gets a PING (see :meth:`_read`).
    """

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        node_id: str,
        *,
        connection_errors: tuple[type[BaseException], ...],
        refused_errors: tuple[type[BaseException], ...] = (),
        confirm_timeout: float,
        poll: float,
        where: str,
    ) -> None:
        self._client: Any = client  # typed loosely: redis-py versions type PubSub differently
        self._keys = keys
        self._control = keys.node_control(node_id)
        self._node_id = node_id
        self._errors = connection_errors
        self._refused = refused_errors
        self._confirm_timeout = confirm_timeout
        self._poll = poll
        self._where = where
        self._lock = threading.Lock()
        self._subscriptions: dict[str, dict[EventCallback, _Subscription]] = {}
        self._confirmed: set[str] = set()
        self._waiters: dict[str, list[_Waiter]] = {}
        self._closed = False
        self._stopping = threading.Event()
        self._abandoned = False
        self._inbox: SimpleQueue[_Dispatch | None] = SimpleQueue()
        self._reader: threading.Thread | None = None
        self._dispatcher: threading.Thread | None = None

    # ------------------------------------------------------------------ callers' side
    def subscribe(self, event: str, callback: EventCallback) -> None:
        channel = self._keys.channel(event)
        with self._lock:
            if self._closed:
                raise NodeClosedError(f"{self._where} is closed")
            callbacks = self._subscriptions.setdefault(channel, {})
            if callback in callbacks:
                return
            subscription = callbacks[callback] = _Subscription(event, callback)
            if channel in self._confirmed:
                return
            waiter = _Waiter()
            self._waiters.setdefault(channel, []).append(waiter)
            self._start_threads()
        try:
            self._wake_reader()
            if not waiter.done.wait(self._confirm_timeout):
                raise BrokerConnectionError(
                    f"Redis at {self._where} did not confirm the subscription to "
                    f"{event!r} within {self._confirm_timeout:g}s"
                )
            if waiter.error is not None:
                if isinstance(waiter.error, NodeClosedError):
                    raise waiter.error
                raise BrokerConnectionError(
                    f"cannot subscribe to {event!r} on Redis at {self._where}: {waiter.error}"
                ) from waiter.error
        except BaseException:
            with self._lock:
                if self._subscriptions.get(channel, {}).get(callback) is subscription:
                    self._drop(channel, callback)
                waiters = self._waiters.get(channel, [])
                if waiter in waiters:
                    waiters.remove(waiter)
            raise

    def unsubscribe(self, event: str, callback: EventCallback) -> None:
        channel = self._keys.channel(event)
        with self._lock:
            if self._closed:
                raise NodeClosedError(f"{self._where} is closed")
            # Delivery stops now; the reader sends UNSUBSCRIBE when it next wakes up
            # (within ``poll``), which spares this call a round trip that could fail.
            if callback in self._subscriptions.get(channel, {}):
                self._drop(channel, callback)

    def close(self, publish: Callable[[str, bytes], object]) -> None:
        """Stop both threads; no callback is called once this returns (unless it is one).

        ``publish`` wakes the reader through the control channel; ``close`` passes one
        that tries once, so closing a node whose server is gone does not wait out retries.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for callbacks in self._subscriptions.values():
                for subscription in callbacks.values():
                    subscription.active = False
            self._subscriptions.clear()
            waiters = [w for ws in self._waiters.values() for w in ws]
            self._waiters.clear()
            reader, dispatcher = self._reader, self._dispatcher
        for waiter in waiters:
            waiter.error = NodeClosedError(f"{self._where} was closed")
            waiter.done.set()
        self._stopping.set()
        self._inbox.put(None)
        current = threading.current_thread()
        if reader is not None:
            # It may be blocked reading; a backoff wait ends by itself. If the server is gone,
            # so is the reader's connection: it ends on its own; if an ACL refuses the
            # control channel, the reader is in a backoff wait.
            with contextlib.suppress(*self._errors, *self._refused):
                publish(self._control, b"")
            if reader is not current:
                reader.join(READER_JOIN_TIMEOUT)
        if dispatcher is not None and dispatcher is not current:
            dispatcher.join(JOIN_TIMEOUT)

    def abandon(self) -> None:
        """For a node garbage-collected unclosed: the threads end by themselves.

        Takes no lock (a finalizer may run anywhere): the dispatcher ends at once, the
        reader on its next wake-up, at most ``poll`` seconds later.
        """
        self._abandoned = True
        self._inbox.put(None)

    def _drop(self, channel: str, callback: EventCallback) -> None:
        callbacks = self._subscriptions[channel]
        callbacks.pop(callback).active = False
        if not callbacks:
            del self._subscriptions[channel]

    def _wake_reader(self) -> None:
        self._client.publish(self._control, b"")

    def _start_threads(self) -> None:
        if self._reader is not None:
            return
        name = f"arbiter-redis-{self._node_id[:8]}"
        self._reader = threading.Thread(target=self._read, name=f"{name}-listener", daemon=True)
        self._dispatcher = threading.Thread(
            target=self._dispatch, name=f"{name}-events", daemon=True
        )
        self._reader.start()
        self._dispatcher.start()

    # ------------------------------------------------------------------ reader thread
    def _read(self) -> None:
        """Read until stopped; reconnect (and so resubscribe) whenever the connection fails.

        A connection that is silent for ``poll`` seconds gets a PING; one still silent
        ``poll`` seconds later counts as lost, so a half-open connection (a partition,
        a NAT that forgot us) is noticed, not listened to forever.
        """
        pubsub: Any = None
        subscribed: set[str] = set()
        backoff = Backoff(RECONNECT_BASE, RECONNECT_CAP)
        heard = pinged = 0.0
        while not self._stopping.is_set() and not self._abandoned:
            try:
                if pubsub is None:
                    pubsub = self._client.pubsub()
                    pubsub.subscribe(self._control)
                    subscribed = set()
                    heard, pinged = time.monotonic(), 0.0
                subscribed = self._sync(pubsub, subscribed)
                message = pubsub.get_message(timeout=self._poll)
                now = time.monotonic()
                if message is not None:
                    heard, pinged = now, 0.0
                    backoff.reset()
                    self._handle(message)
                elif pinged and now - pinged >= self._poll:
                    raise self._errors[0](f"no answer to a PING for {now - pinged:.0f}s")
                elif not pinged and now - heard >= self._poll:
                    pubsub.ping()
                    pinged = now
            except (*self._errors, *self._refused) as exc:
                if self._stopping.is_set():
                    break
                delay = backoff.next()
                if isinstance(exc, self._refused):
                    log.error(
                        "Redis at %s refused the pub/sub subscriptions (%s)%s; retrying in %.1fs",
                        self._where,
                        exc,
                        permission_hint(self._keys.namespace),
                        delay,
                    )
                else:
                    log.warning(
                        "lost the pub/sub connection to Redis at %s (%s); reconnecting in %.1fs",
                        self._where,
                        exc,
                        delay,
                    )
                self._connection_lost(exc)
                _close_quietly(pubsub)
                pubsub = None
                self._stopping.wait(delay)
        _close_quietly(pubsub)

    def _sync(self, pubsub: Any, subscribed: set[str]) -> set[str]:
        """(Un)subscribe so the connection's channels match the channels with callbacks."""
        with self._lock:
            wanted = set(self._subscriptions)
            dropped = subscribed - wanted
            # Unconfirmed before UNSUBSCRIBE is sent, so a subscribe() racing with it
            # waits for the next confirmation instead of trusting this one.
            self._confirmed -= dropped
        if wanted - subscribed:
            pubsub.subscribe(*(wanted - subscribed))
        if dropped:
            pubsub.unsubscribe(*dropped)
        return wanted

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        channel = message.get("channel")
        if not isinstance(channel, bytes):
            return  # a health check's pong
        name = channel.decode("utf-8", "replace")
        if kind == "message":
            if name == self._control:
                return  # only a wake-up: the loop syncs next
            with self._lock:
                subscriptions = tuple(self._subscriptions.get(name, {}).values())
            payload = bytes(message["data"])
            later = tuple(s for s in subscriptions if not isinstance(s.callback, Quick))
            for subscription in subscriptions:
                if isinstance(subscription.callback, Quick):
                    _call(subscription, payload)
            if later:
                self._inbox.put((payload, later))
        elif kind == "subscribe":
            with self._lock:
                self._confirmed.add(name)
                waiters = self._waiters.pop(name, [])
            for waiter in waiters:
                waiter.done.set()
        elif kind == "unsubscribe":
            with self._lock:
                self._confirmed.discard(name)

    def _connection_lost(self, error: BaseException) -> None:
        with self._lock:
            self._confirmed.clear()
            waiters = [w for ws in self._waiters.values() for w in ws]
            self._waiters.clear()
        for waiter in waiters:
            waiter.error = error
            waiter.done.set()

    # ------------------------------------------------------------------ dispatcher thread
    def _dispatch(self) -> None:
        while (item := self._inbox.get()) is not None:
            payload, subscriptions = item
            for subscription in subscriptions:
                _call(subscription, payload)


def _call(subscription: _Subscription, payload: bytes) -> None:
    """Run one callback, unless it was unsubscribed after the event arrived; log failures."""
    if not subscription.active:
        return
    try:
        subscription.callback(subscription.event, payload)
    except Exception:
        log.exception(
            "broadcast callback %r for event %r failed",
            subscription.callback,
            subscription.event,
        )


def _close_quietly(pubsub: Any) -> None:
    if pubsub is None:
        return
    try:
        pubsub.close()
    except Exception as exc:  # noqa: BLE001 - the connection is being thrown away anyway
        log.debug("closing a broken pub/sub connection: %s", exc)
