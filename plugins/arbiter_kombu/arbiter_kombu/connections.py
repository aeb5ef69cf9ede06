"""The node's connections: a link per thread, reconnecting with backoff.

kombu and py-amqp connections are not thread-safe, so each thread that pulls gets a
:class:`~arbiter_kombu.link.Link` of its own, kept thread-locally
(:meth:`Connections._own_link`); the links of threads that ended are closed when a new
one is made. Every broker call runs under
its link's lock through :meth:`Connections._attempt`, which reconnects with backoff
until ``broker_timeout`` has passed. Also here: :func:`kombu_url`, the kombu URL a
connection opens for one of arbiter's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from kombu.connection import Connection

from arbiter_core.backoff import Backoff
from arbiter_core.errors import (
    BrokerConnectionError,
    BrokerError,
    ConfigurationError,
    NodeClosedError,
)
from arbiter_core.masking import mask_url
from arbiter_kombu.link import Link

if TYPE_CHECKING:
    from arbiter_kombu.leases import Held

log = logging.getLogger("arbiter.kombu")

T = TypeVar("T")


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


def warn_if_timed_out(exc: BaseException) -> None:
    """Log at WARNING a channel error that is RabbitMQ's consumer_timeout."""
    if "acknowledgement" in str(exc) and "timed out" in str(exc):
        log.warning(
            "RabbitMQ closed a channel holding a delivery past its consumer_timeout; the "
            "delivery goes to another consumer. Park long deliveries sooner "
            "(?park_after=SECONDS in the broker URL) or raise consumer_timeout on the "
            "broker: %s",
            exc,
        )


class Connections:
    """The links of a :class:`~arbiter_kombu.node.KombuEventNode`, and running calls on them.

    The node's ``__init__`` sets the attributes declared here.
    """

    _url: str
    _kombu_url: str
    _broker_timeout: float
    _transport_options: dict[str, Any]
    _errors: tuple[type[BaseException], ...]
    _connection_errors: tuple[type[BaseException], ...]
    _node_id: str
    _closed: threading.Event
    _lock: threading.Lock
    _links: list[Link]
    _local: threading.local
    _declared: set[str]
    """Queues declared on the broker since the last lost connection."""
    _held: dict[str, Held]
    _held_changed: threading.Condition

    def _check_open(self) -> None:
        if self._closed.is_set():
            raise NodeClosedError(f"{self._url} is closed")

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
                    warn_if_timed_out(exc)
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
