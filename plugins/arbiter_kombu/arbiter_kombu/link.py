"""One kombu connection and its channel, used by one thread at a time.

kombu's connections (and py-amqp's under them) are not thread-safe, so every use
of a :class:`Link` holds its lock. A link that fails is *dropped*: its connection
is closed, so the broker takes back every message it held unacked (RabbitMQ
requeues them, marked redelivered), and its ``generation`` grows, which makes
the receipts of those messages stale. The next use opens a new connection.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from kombu.connection import Connection
from kombu.messaging import Producer


class Link:
    """A lazily opened kombu connection with one channel and a producer, behind a lock."""

    def __init__(self, open_connection: Callable[[], Connection], name: str) -> None:
        self.lock = threading.RLock()
        self.name = name
        self.generation = 0
        self.owner: threading.Thread | None = None
        self._open_connection = open_connection
        self._connection: Connection | None = None
        self._channel: Any = None
        self._producer: Producer | None = None
        self.closed = False

    @property
    def connection(self) -> Connection:
        """The open connection (opening it first); call with the lock held."""
        if self._connection is None:
            self._connection = self._open_connection()
        return self._connection

    @property
    def channel(self) -> Any:
        """The link's channel (opening connection and channel first); call with the lock held."""
        if self._channel is None:
            self._channel = self.connection.channel()
            self._producer = Producer(self._channel, auto_declare=False)
        return self._channel

    @property
    def producer(self) -> Producer:
        self.channel  # noqa: B018 - opens the channel and its producer
        assert self._producer is not None
        return self._producer

    def reset_channel(self) -> None:
        """Forget a channel the broker closed (a channel error); the connection stays."""
        channel, self._channel, self._producer = self._channel, None, None
        self.generation += 1
        if channel is not None:
            with contextlib.suppress(Exception):
                channel.close()

    def drop(self) -> None:
        """Close the connection after a failure: the broker takes back what it held."""
        connection, self._connection = self._connection, None
        self._channel = self._producer = None
        self.generation += 1
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    def close(self) -> None:
        self.closed = True
        self.drop()
