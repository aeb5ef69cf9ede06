"""``EventNode``: one backend's broadcast, work queues and state store, with a lifecycle."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Collection, Sequence
from types import TracebackType
from typing import NamedTuple, TypeVar

from arbiter_core.errors import UnsupportedOperationError
from arbiter_core.node.broadcast import Broadcaster
from arbiter_core.node.claim import Claim
from arbiter_core.node.state_store import Record, StateStore
from arbiter_core.node.work_queue import Delivery, WorkQueue

_Node = TypeVar("_Node", bound="EventNode")

DEFAULT_NAMESPACE = "arbiter"

BROADCAST = "broadcast"
"""Capability: emit/subscribe work across node instances."""
QUEUE = "queue"
"""Capability: durable work queues with leases."""
STATE = "state"
"""Capability: the state store (records, transitions, worker registry)."""
CROSS_PROCESS = "cross-process"
"""Capability: nodes in other processes (or machines) share the broker."""
PERSISTENT = "persistent"
"""Capability: queued messages survive a broker restart (given the broker is configured to)."""


class TransitionPush(NamedTuple):
    """The arguments of one :meth:`EventNode.transition_and_push`, for the batch form."""

    key: str
    record: Record
    ttl: float
    expect: Collection[str | None] | None
    queue: str
    body: bytes
    not_before: float | None = None


class EventNode(Broadcaster, WorkQueue, StateStore):
    """The broker abstraction: the only way arbiter talks to the outside world.

    A backend subclasses this and writes the abstract methods of the three
    faces (:class:`Broadcaster`, :class:`WorkQueue`, :class:`StateStore`, whose
    docstrings state the guarantees) plus :meth:`close`. Everything else —
    message encoding and signing, task states, waiting, retries — is built once
    in the core on top of these methods, for every backend.

    Every key a node writes lives under its ``namespace``, so many applications
    can share one broker. Nodes are thread-safe, usable as context managers, and
    open their connections lazily or in ``__init__`` as they see fit; after a
    broker restart they reconnect with backoff on their own.

    ``capabilities`` declares what the node can serve (see the constants in this
    module); the core checks them and explains what is missing instead of
    failing somewhere deep.
    """

    capabilities: frozenset[str] = frozenset({BROADCAST, QUEUE, STATE, CROSS_PROCESS})

    def __init__(self, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        if not namespace or not isinstance(namespace, str):
            raise ValueError(f"namespace must be a non-empty string, got {namespace!r}")
        self.namespace = namespace

    @property
    @abstractmethod
    def url(self) -> str:
        """Where this node connects, with any password masked (safe to log)."""

    @abstractmethod
    def close(self) -> None:
        """Release every connection and thread; idempotent. Later calls raise NodeClosedError."""

    def require(self, capability: str, why: str) -> None:
        """Raise a clear :class:`UnsupportedOperationError` unless the node has ``capability``."""
        if capability not in self.capabilities:
            raise UnsupportedOperationError(
                f"{type(self).__name__} ({self.url}) cannot provide {capability!r}, "
                f"which {why} needs"
            )

    # -- combined operations: built on the faces; a backend may do each in one round trip
    def transition_and_push(
        self,
        key: str,
        record: Record,
        *,
        ttl: float,
        expect: Collection[str | None] | None,
        queue: str,
        body: bytes,
        not_before: float | None = None,
    ) -> bool:
        """:meth:`transition`, then push ``body`` only if the record was written.

        The record exists before any worker can pull the message. A backend may
        override this to do both in one round trip, in this order.
        """
        written, _ = self.transition(key, record, ttl=ttl, expect=expect)
        if written:
            self.push(queue, body, not_before=not_before)
        return written

    def transition_and_push_many(self, items: Sequence[TransitionPush]) -> list[bool]:
        """:meth:`transition_and_push` for each item, in order; whether each was written.

        Each item keeps the single call's guarantee (its record exists before its
        message can be pulled; pushed only if written). Items are independent: the
        batch is not atomic, and a broker error may leave a prefix of it applied.
        A backend may override this to send the whole batch in one round trip.
        """
        return [
            self.transition_and_push(
                item.key,
                item.record,
                ttl=item.ttl,
                expect=item.expect,
                queue=item.queue,
                body=item.body,
                not_before=item.not_before,
            )
            for item in items
        ]

    def transition_and_ack(
        self,
        delivery: Delivery,
        key: str,
        record: Record,
        *,
        ttl: float,
        expect: Collection[str | None] | None,
        event: str | None = None,
        payload: bytes = b"",
    ) -> bool:
        """Store an outcome, emit ``payload`` on ``event`` if it was written, then ack.

        Stored before acked: a crash in between redelivers the message rather than
        losing the outcome. A backend may override this to do all three in one
        round trip, in this order.
        """
        written, _ = self.transition(key, record, ttl=ttl, expect=expect)
        if written and event:
            self.emit(event, payload)
        self.ack(delivery)
        return written

    def transition_ack_and_pull(
        self,
        delivery: Delivery,
        key: str,
        record: Record,
        *,
        ttl: float,
        expect: Collection[str | None] | None,
        event: str | None = None,
        payload: bytes = b"",
        lease: float,
        max_messages: int = 1,
        claim: Claim | None = None,
    ) -> tuple[bool, list[Delivery]]:
        """:meth:`transition_and_ack`, then a :meth:`pull_and_claim` (or, without ``claim``,
        a :meth:`pull`) of the same queue that does not wait.

        A worker that just finished a task stores it and takes its next message
        in one call: on a remote broker, one round trip per task instead of two.
        Returns whether the record was written, and the messages leased.
        """
        written = self.transition_and_ack(
            delivery, key, record, ttl=ttl, expect=expect, event=event, payload=payload
        )
        if claim is None:
            taken = self.pull(delivery.queue, timeout=0, lease=lease, max_messages=max_messages)
        else:
            taken = self.pull_and_claim(
                delivery.queue, timeout=0, lease=lease, max_messages=max_messages, claim=claim
            )
        return written, taken

    def pull_and_claim(
        self,
        queue: str,
        *,
        timeout: float | None,
        lease: float,
        max_messages: int = 1,
        claim: Claim,
    ) -> list[Delivery]:
        """:meth:`pull`, claiming the record of each message pushed with one.

        See :mod:`arbiter_core.node.claim`: a backend that overrides this moves each
        bound record to ``claim.state`` atomically with the lease (the start gate of
        a task, without a round trip of its own). This default claims nothing: every
        ``Delivery.claim`` is None, and the caller transitions the records itself.
        """
        return self.pull(queue, timeout=timeout, lease=lease, max_messages=max_messages)

    def __enter__(self: _Node) -> _Node:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url} namespace={self.namespace!r}>"
