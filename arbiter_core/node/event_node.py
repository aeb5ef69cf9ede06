"""``EventNode``: one backend's broadcast, work queues and state store, with a lifecycle."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import NamedTuple, TypeVar

from arbiter_core.errors import UnsupportedOperationError
from arbiter_core.node.arguments import (
    require_bytes,
    require_claim,
    require_count,
    require_expect,
    require_name,
    require_positive,
    require_timeout,
)
from arbiter_core.node.broadcast import Broadcaster
from arbiter_core.node.claim import Claim
from arbiter_core.node.priority import require_priority
from arbiter_core.node.state_store import Expect, Record, StateStore, require_record
from arbiter_core.node.work_queue import DeadLetter, Delivery, WorkQueue

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
    expect: Expect
    queue: str
    body: bytes
    not_before: float | None = None
    priority: int = 0
    """The message's level, 0 to 9 (see :mod:`arbiter_core.node.priority`)."""


class Outcome(NamedTuple):
    """What :meth:`EventNode.transition_and_ack` stores, and announces if it was written."""

    key: str
    record: Record
    ttl: float
    expect: Expect
    event: str | None
    """Emitted with ``payload`` if the record was written; None (or "") emits nothing."""
    payload: bytes


def require_transition_push(item: TransitionPush) -> TransitionPush:
    """``item`` with its arguments checked (its record and body made bytes if they were not)."""
    if not isinstance(item, TransitionPush):
        raise TypeError(f"items must be TransitionPush, got {type(item).__name__}")
    require_positive(item.ttl, "ttl")
    record = require_record(item.record)
    require_expect(item.expect)
    require_name(item.key, "key")
    require_name(item.queue, "queue")
    body = require_bytes(item.body, "body")
    if item.priority:
        require_priority(item.priority)
    if record is item.record and body is item.body:
        return item
    return item._replace(record=record, body=body)


def require_outcome(
    key: str, record: Record, ttl: float, expect: Expect, event: str | None, payload: bytes
) -> Outcome:
    """The checked :class:`Outcome` of a ``transition_and_ack`` call."""
    require_positive(ttl, "ttl")
    record = require_record(record)
    require_expect(expect)
    if event:
        require_name(event, "event")
    return Outcome(
        require_name(key, "key"), record, ttl, expect, event, require_bytes(payload, "payload")
    )


class EventNode(Broadcaster, WorkQueue, StateStore):
    """The broker abstraction: the only way arbiter talks to the outside world.

    A backend subclasses this and writes the protected methods of the three
    faces (:class:`Broadcaster`, :class:`WorkQueue`, :class:`StateStore`, whose
    docstrings state the guarantees and list those methods) plus :attr:`url` and
    :meth:`close`. The public methods check every argument first, the same way for
    every backend, so the protected ones receive checked arguments only. Everything
    else — message encoding and signing, task states, waiting, retries — is built
    once in the core on top of these methods, for every backend.

    Every key a node writes lives under its ``namespace``, so many applications
    can share one broker. Nodes are thread-safe, usable as context managers, and
    open their connections lazily or in ``__init__`` as they see fit; after a
    broker restart they reconnect with backoff on their own.

    ``capabilities`` declares what the node can serve (see the constants in this
    module); the core checks them and explains what is missing instead of
    failing somewhere deep.

    A node that can be the broker of a :class:`~arbiter_core.node.ComposedNode`
    (its records kept by another node) should also write ``_watch_burials``: see
    :meth:`watch_burials`. Without it, a composed node cannot end the record of a
    message this node buries on its own (spent, purged).
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

    def server_info(self) -> dict[str, str]:
        """What the node knows of the broker it talks to, for an operator (``arbiter ping``).

        Short strings, e.g. ``{"server": "redis 7.0.15"}``; every key is optional. It
        asks the broker (one round trip at most) and raises NodeClosedError once closed.
        A backend overrides ``_server_info``; the default knows nothing: ``{}``.
        """
        return dict(self._server_info())

    def _server_info(self) -> dict[str, str]:
        return {}

    def watch_burials(self, callback: Callable[[DeadLetter], None]) -> bool:
        """Be told of every message this node buries *on its own*; False if it cannot.

        "On its own": a spent message found at a pull or a settle (delivered
        ``max_deliveries`` times without an ack), and each message a purge drops (with
        reason :data:`~arbiter_core.node.burial.PURGED`). ``callback`` gets, after the
        message is buried, its :class:`DeadLetter` as stored (the body as pushed; for a
        purge, which keeps no letter, one built for the call). A :meth:`dead_letter`
        called by a user is *not* reported: its caller already knows.

        This is how a :class:`~arbiter_core.node.ComposedNode` ends the records it keeps
        in another store (see :mod:`~arbiter_core.node.burial`). One callback per node:
        a second call replaces the first; closing the node drops it. The callback must
        be quick and must not call back into this node: it may run on the node's I/O
        thread, or with the node's locks held. A node that returns False (the default)
        reports nothing; a composed node on it then cannot end records on those paths,
        and says so (``ComposedNode.buries_records`` is False).

        A backend overrides ``_watch_burials``; it must cost nothing while unused.
        """
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        return self._watch_burials(callback)

    def _watch_burials(self, callback: Callable[[DeadLetter], None]) -> bool:
        return False

    def require(self, capability: str, why: str) -> None:
        """Raise a clear :class:`UnsupportedOperationError` unless the node has ``capability``."""
        if capability not in self.capabilities:
            raise UnsupportedOperationError(
                f"{type(self).__name__} ({self.url}) cannot provide {capability!r}, "
                f"which {why} needs"
            )

    # -- combined operations: built on the faces; a backend may do each in one round trip
    #    by overriding the protected method each one calls, which has the default below
    def transition_and_push(
        self,
        key: str,
        record: Record,
        *,
        ttl: float,
        expect: Expect,
        queue: str,
        body: bytes,
        not_before: float | None = None,
        priority: int = 0,
    ) -> bool:
        """:meth:`transition`, then push ``body`` (at level ``priority``) only if the record
        was written.

        The record exists before any worker can pull the message. A backend may
        override ``_transition_and_push`` to do both in one round trip, in this
        order, and should bind the message to the record (see
        :mod:`~arbiter_core.node.burial`).
        """
        item = TransitionPush(key, record, ttl, expect, queue, body, not_before, priority)
        return self._transition_and_push(require_transition_push(item))

    def transition_and_push_many(self, items: Sequence[TransitionPush]) -> list[bool]:
        """:meth:`transition_and_push` for each item, in order; whether each was written.

        Each item keeps the single call's guarantee (its record exists before its
        message can be pulled; pushed only if written). Items are independent: the
        batch is not atomic, and a broker error may leave a prefix of it applied.
        A backend may override ``_transition_and_push_many`` to send the whole batch
        in one round trip. Every item is checked before any is applied.
        """
        return self._transition_and_push_many([require_transition_push(item) for item in items])

    def transition_and_ack(
        self,
        delivery: Delivery,
        key: str,
        record: Record,
        *,
        ttl: float,
        expect: Expect,
        event: str | None = None,
        payload: bytes = b"",
    ) -> bool:
        """Store an outcome, emit ``payload`` on ``event`` if it was written, then ack.

        Stored before acked: a crash in between redelivers the message rather than
        losing the outcome. A backend may override ``_transition_and_ack`` to do all
        three in one round trip, in this order.
        """
        outcome = require_outcome(key, record, ttl, expect, event, payload)
        return self._transition_and_ack(delivery, outcome)

    def transition_ack_and_pull(
        self,
        delivery: Delivery,
        key: str,
        record: Record,
        *,
        ttl: float,
        expect: Expect,
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
        Returns whether the record was written, and the messages leased. A backend
        may override ``_transition_ack_and_pull``.
        """
        require_positive(lease, "lease")
        require_count(max_messages, "max_messages")
        if claim is not None:
            require_claim(claim)
        outcome = require_outcome(key, record, ttl, expect, event, payload)
        return self._transition_ack_and_pull(delivery, outcome, lease, max_messages, claim)

    def transition_push_ack_and_pull(
        self,
        pushes: Sequence[TransitionPush],
        delivery: Delivery,
        key: str,
        record: Record,
        *,
        ttl: float,
        expect: Expect,
        event: str | None = None,
        payload: bytes = b"",
        lease: float,
        max_messages: int = 1,
        claim: Claim | None = None,
    ) -> tuple[list[bool], bool, list[Delivery]]:
        """:meth:`transition_and_push_many` of ``pushes``, then
        :meth:`transition_ack_and_pull`: a finished task whose follow-ups push messages
        pushes them before its message is acked, and takes its next message.

        Returns whether each push was written, whether the record was, and the
        messages leased. A backend may override ``_transition_push_ack_and_pull`` to
        do it all in one round trip, in this order; if the pushes fail (a broker
        error), the message must not be acked.
        """
        require_positive(lease, "lease")
        require_count(max_messages, "max_messages")
        if claim is not None:
            require_claim(claim)
        checked = [require_transition_push(item) for item in pushes]
        outcome = require_outcome(key, record, ttl, expect, event, payload)
        return self._transition_push_ack_and_pull(
            checked, delivery, outcome, lease, max_messages, claim
        )

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

        See :mod:`arbiter_core.node.claim`: a backend that overrides
        ``_pull_and_claim`` moves each bound record to ``claim.state`` atomically
        with the lease (the start gate of a task, without a round trip of its own).
        The default claims nothing: every ``Delivery.claim`` is None, and the caller
        transitions the records itself.
        """
        require_positive(lease, "lease")
        require_count(max_messages, "max_messages")
        require_claim(claim)
        require_timeout(timeout)
        return self._pull_and_claim(
            require_name(queue, "queue"), timeout, lease, max_messages, claim
        )

    # -- the combined operations' defaults, on the faces' protected methods
    def _transition_and_push(self, item: TransitionPush) -> bool:
        written, _ = self._transition(item.key, item.record, item.ttl, item.expect)
        if written:
            self._push_at(item.queue, item.body, item.not_before, item.priority)
        return written

    def _transition_and_push_many(self, items: list[TransitionPush]) -> list[bool]:
        return [self._transition_and_push(item) for item in items]

    def _transition_push_ack_and_pull(
        self,
        pushes: list[TransitionPush],
        delivery: Delivery,
        outcome: Outcome,
        lease: float,
        max_messages: int,
        claim: Claim | None,
    ) -> tuple[list[bool], bool, list[Delivery]]:
        pushed = self._transition_and_push_many(pushes) if pushes else []
        written, taken = self._transition_ack_and_pull(
            delivery, outcome, lease, max_messages, claim
        )
        return pushed, written, taken

    def _transition_and_ack(self, delivery: Delivery, outcome: Outcome) -> bool:
        written, _ = self._transition(outcome.key, outcome.record, outcome.ttl, outcome.expect)
        if written and outcome.event:
            self._emit(outcome.event, outcome.payload)
        self._ack(delivery)
        return written

    def _transition_ack_and_pull(
        self,
        delivery: Delivery,
        outcome: Outcome,
        lease: float,
        max_messages: int,
        claim: Claim | None,
    ) -> tuple[bool, list[Delivery]]:
        written = self._transition_and_ack(delivery, outcome)
        if claim is None:
            return written, self._pull(delivery.queue, 0, lease, max_messages)
        return written, self._pull_and_claim(delivery.queue, 0, lease, max_messages, claim)

    def _pull_and_claim(
        self, queue: str, timeout: float | None, lease: float, max_messages: int, claim: Claim
    ) -> list[Delivery]:
        return self._pull(queue, timeout, lease, max_messages)

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
