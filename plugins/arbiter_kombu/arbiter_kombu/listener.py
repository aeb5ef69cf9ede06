"""Broadcast: a fanout exchange, and one subscription queue per node read by its own thread.

Every node that subscribes declares ``{prefix}.events.{node id}`` (exclusive and
auto-delete on RabbitMQ, so it goes away with the connection) bound to the
namespace's fanout exchange, and consumes it on a connection only its listener
thread uses. An event reaches every node subscribed at the time, the emitter's
own included; each node filters by the event name in the headers. After a lost
connection the listener reconnects with backoff, declares and binds its queue
again and consumes on; events emitted meanwhile are missed (broadcast is at most
once by contract).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable

from kombu.entity import Exchange, Queue
from kombu.message import Message
from kombu.messaging import Consumer

from arbiter_core.backoff import Backoff
from arbiter_core.errors import BrokerConnectionError
from arbiter_core.node import EventCallback
from arbiter_kombu.link import Link
from arbiter_kombu.names import EVENT

log = logging.getLogger("arbiter.kombu")

SLICE = 0.1
"""Seconds one read of the listener waits before it checks whether it must stop."""


class Listener:
    """The thread that reads one node's subscription queue and calls its callbacks."""

    def __init__(
        self,
        link: Link,
        exchange: str,
        queue: str,
        errors: tuple[type[BaseException], ...],
        exclusive: bool,
        ready_timeout: float,
    ) -> None:
        self._link = link
        self._exchange = Exchange(exchange, type="fanout", durable=True)
        self._queue = Queue(
            queue,
            exchange=self._exchange,
            routing_key="",
            durable=False,
            exclusive=exclusive,
            auto_delete=exclusive,
        )
        self._errors = errors
        self._ready_timeout = ready_timeout
        self._callbacks: dict[str, list[EventCallback]] = {}
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def subscribe(self, event: str, callback: EventCallback) -> None:
        with self._lock:
            self._callbacks.setdefault(event, []).append(callback)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"arbiter-kombu-listener-{self._link.name}", daemon=True
                )
                self._thread.start()
        if not self._ready.wait(self._ready_timeout):
            raise BrokerConnectionError(
                f"could not subscribe to {event!r}: the broker did not answer within "
                f"{self._ready_timeout:g}s"
            )

    def unsubscribe(self, event: str, callback: EventCallback) -> None:
        with self._lock:
            callbacks = self._callbacks.get(event, [])
            if callback in callbacks:
                callbacks.remove(callback)

    def stop(self) -> None:
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        with self._link.lock:
            if thread is not None:  # the queue exists only once the listener declared it
                with contextlib.suppress(*self._errors, Exception):
                    self._queue.bind(self._link.channel).delete()
            self._link.close()

    def _run(self) -> None:
        backoff = Backoff(base=0.05, cap=2.0)
        while not self._stopping.is_set():
            try:
                self._consume()
                return
            except self._errors as exc:
                with self._link.lock:
                    self._link.drop()
                self._ready.clear()
                wait = backoff.next()
                log.warning("broadcast listener lost the broker (%s); again in %.2fs", exc, wait)
                self._stopping.wait(wait)

    def _consume(self) -> None:
        with self._link.lock:
            channel = self._link.channel
            queue = self._queue.bind(channel)
            queue.declare()
            consumer = Consumer(
                channel, queues=[queue], on_message=self._deliver, no_ack=True, auto_declare=False
            )
            consumer.consume()
        self._ready.set()
        while not self._stopping.is_set():
            with self._link.lock, contextlib.suppress(socket.timeout):
                self._link.connection.drain_events(timeout=SLICE)

    def _deliver(self, message: Message) -> None:
        event = str((message.headers or {}).get(EVENT, ""))
        with self._lock:
            callbacks: list[Callable[[str, bytes], None]] = list(self._callbacks.get(event, ()))
        body = message.body
        payload = body.encode() if isinstance(body, str) else bytes(body)  # py-amqp: b"" is ""
        for callback in callbacks:
            try:
                callback(event, payload)
            except Exception:
                log.exception("broadcast callback %r failed on event %r", callback, event)
