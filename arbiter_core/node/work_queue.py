"""The work-queue face: durable queues, competing consumers, leases, dead letters."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from arbiter_core.errors import UnsupportedOperationError
from arbiter_core.node.arguments import (
    require_bytes,
    require_count,
    require_delay,
    require_message_ids,
    require_name,
    require_positive,
    require_timeout,
)
from arbiter_core.node.priority import PRIORITY, require_priority

if TYPE_CHECKING:
    from arbiter_core.node.claim import Claimed

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message handed to one consumer under a lease.

    ``receipt`` identifies *this* lease: after the lease expired and the message
    went to another consumer, the old receipt no longer acks, nacks or renews it.
    ``delivery_count`` is 1 on the first delivery and grows with each redelivery.
    ``claim`` is set only by a pull given a claim (see :mod:`arbiter_core.node.claim`).
    """

    queue: str
    message_id: str
    body: bytes
    delivery_count: int
    receipt: str
    enqueued_at: float
    claim: Claimed | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message taken out of circulation, with the reason it will not be delivered.

    ``record`` is the key of the record the message was pushed with (see
    :mod:`arbiter_core.node.burial`), None for a message pushed alone or a letter a
    backend stored before it kept that key: a requeue binds the message to it again.
    ``priority`` is the level it was pushed at, which a requeue gives it back (0 on a
    node without the :data:`~arbiter_core.node.priority.PRIORITY` capability).
    """

    queue: str
    message_id: str
    body: bytes
    reason: str
    delivery_count: int
    dead_at: float
    record: str | None = None
    priority: int = 0


@dataclass(frozen=True, slots=True)
class QueueStats:
    """What one queue holds now, by where each message is (see :meth:`WorkQueue.queue_stats`)."""

    ready: int
    """Deliverable now, waiting for a consumer."""
    delayed: int
    """Waiting for their ``not_before`` time (or a nack's delay)."""
    leased: int
    """Held by a consumer under a lease that has not run out: in flight."""
    dead: int
    """Dead letters kept for the queue (see :meth:`WorkQueue.dead_letters`)."""

    @property
    def stored(self) -> int:
        """Messages not yet acked or dead-lettered: what :meth:`WorkQueue.queue_size` counts."""
        return self.ready + self.delayed + self.leased


class WorkQueue(ABC):
    """At-least-once work queues with leases.

    Guarantees an implementation makes:

    * **Durable and competing**: a pushed message is delivered to one consumer
      at a time among all nodes pulling that queue; it stays stored until acked
      or dead-lettered (on a broker that persists, across broker restarts).
    * **FIFO** among ready messages of a queue (ties in time keep push order).
    * **Priorities** (a node whose ``capabilities`` hold
      :data:`~arbiter_core.node.priority.PRIORITY`): a message pushed with a higher
      ``priority`` (0 to 9) is delivered before every ready message of a lower one,
      however many of those wait; FIFO within a level. The level survives every way
      back to ready: a lease running out, a nack, a delay falling due, a dead-letter
      requeue. A node without the capability accepts the levels and serves FIFO.
    * **Delayed delivery**: a message pushed with ``not_before`` (a
      ``time.time()`` value) is not delivered before then, and is delivered
      once, not duplicated, when several consumers race for it.
    * **Leases**: a pulled message is invisible to others for ``lease`` seconds.
      ``renew`` restarts the lease; ``ack`` removes the message; ``nack`` makes
      it deliverable again (optionally after ``delay``). A lease that runs out
      (consumer died) makes the message deliverable to another consumer — never
      before it runs out. Operations with a stale receipt return False and do
      nothing.
    * **Delivery count and dead letters**: each delivery increments the count; a
      message that would be delivered more than ``max_deliveries`` times is
      moved to the queue's dead letters instead, with a reason. ``dead_letter``
      moves a message there directly (it failed to decode or verify). Either way,
      a message bound to a record ends that record as ``dead`` in the same step
      (see :mod:`arbiter_core.node.burial`). A queue whose records live elsewhere
      (the broker of a :class:`~arbiter_core.node.ComposedNode`) instead reports
      what it buries on its own — spent messages, purged ones — through
      :meth:`~arbiter_core.node.EventNode.watch_burials`, so the composed node can
      end those records.
    * ``pull`` blocks on the broker (no sleep-polling) until a message is ready
      or ``timeout`` passes; ``timeout=0`` returns at once.
    * **Recoverable dead letters**: ``requeue_dead_letters`` puts dead letters back
      in circulation atomically (each at most once, however many callers race), with
      their message ids, bodies and records, and revives a record its burial ended;
      ``purge_dead_letters`` drops them. See those methods.
    * **Inspection and control**: ``queue_stats`` counts a queue's messages by where
      they are, ``known_queues`` lists the queues that hold anything, ``purge`` drops
      the messages no consumer holds (ending their records, as a burial does).

    The public methods check their arguments (queue names, see
    :func:`~arbiter_core.node.arguments.require_name`; bytes bodies; positive leases;
    ``max_messages`` of at least 1; no negative timeout or delay; message ids) and
    then call the protected method of the same name, which is what a backend writes:
    ``_push``, ``_pull``, ``_ack``, ``_nack``, ``_renew``, ``_dead_letter``,
    ``_dead_letters``, ``_queue_size``, and for the operator's tools ``_queue_stats``,
    ``_known_queues``, ``_purge``, ``_requeue_dead_letters``, ``_purge_dead_letters``.
    Those receive checked arguments only. The operator's five have defaults that raise
    :class:`~arbiter_core.errors.UnsupportedOperationError`, so a node written before
    they existed still serves tasks; the conformance suite expects them.
    """

    capabilities: frozenset[str]

    def push(
        self, queue: str, body: bytes, *, not_before: float | None = None, priority: int = 0
    ) -> str:
        """Store ``body`` on ``queue`` (deliverable from ``not_before``, at level ``priority``,
        0 to 9, higher first); return its message id."""
        name, data = require_name(queue, "queue"), require_bytes(body, "body")
        return self._push_at(name, data, not_before, require_priority(priority))

    def _push_at(self, queue: str, body: bytes, not_before: float | None, priority: int) -> str:
        """``_push``, given the level only when it is not 0 and the node orders by it, so a
        backend written before priorities (a three-argument ``_push``) still works."""
        if not priority:
            return self._push(queue, body, not_before)
        if PRIORITY in self.capabilities:
            return self._push(queue, body, not_before, priority)
        if not getattr(self, "_told_unordered", False):
            self._told_unordered = True
            logger.warning(
                "%s cannot order messages by priority: priority=%d (and any other level) is "
                "served in plain FIFO order on this node (see docs/priorities.md)",
                type(self).__name__,
                priority,
            )
        return self._push(queue, body, not_before)

    def pull(
        self, queue: str, *, timeout: float | None, lease: float, max_messages: int = 1
    ) -> list[Delivery]:
        """Lease up to ``max_messages`` ready messages, waiting up to ``timeout`` for the first.

        ``timeout=None`` waits until a message arrives or the node is closed.
        Returns an empty list on timeout, or when the node is closed (by
        another thread) while the pull waits.
        """
        require_positive(lease, "lease")
        require_count(max_messages, "max_messages")
        require_timeout(timeout)
        return self._pull(require_name(queue, "queue"), timeout, lease, max_messages)

    def ack(self, delivery: Delivery) -> bool:
        """Remove the message for good; False if the lease was no longer held."""
        return self._ack(delivery)

    def nack(self, delivery: Delivery, *, delay: float = 0.0) -> bool:
        """Release the lease so the message is delivered again after ``delay`` seconds.

        False if the lease was no longer held. A message that has used up its
        deliveries goes to the dead letters instead (see the class docstring).
        """
        require_delay(delay, "delay")
        return self._nack(delivery, delay)

    def renew(self, deliveries: Sequence[Delivery], lease: float) -> list[bool]:
        """Restart the leases (``lease`` seconds from now); per delivery, whether still held."""
        require_positive(lease, "lease")
        return self._renew(deliveries, lease)

    def dead_letter(self, delivery: Delivery, reason: str) -> bool:
        """Move the message to the dead letters with ``reason``; False if the lease was lost."""
        if not isinstance(reason, str):
            raise TypeError(f"reason must be a str, got {type(reason).__name__}")
        return self._dead_letter(delivery, reason)

    def dead_letters(self, queue: str, *, limit: int = 100) -> list[DeadLetter]:
        """The queue's dead letters, oldest first (up to ``limit``; none if it is 0 or less)."""
        return self._dead_letters(require_name(queue, "queue"), limit)

    def queue_size(self, queue: str) -> int:
        """Messages stored and not yet acked or dead-lettered: ready, delayed or leased."""
        return self._queue_size(require_name(queue, "queue"))

    # -- the operator's tools: inspect, purge, recover dead letters
    def queue_stats(self, queue: str) -> QueueStats:
        """The queue's messages by where they are: ready, delayed, leased, dead.

        Settled first, like a pull: a lease that ran out counts as ready (or, spent, as
        dead), a delayed message that fell due as ready. An unknown queue is all zeros.
        """
        return self._queue_stats(require_name(queue, "queue"))

    def known_queues(self) -> set[str]:
        """Every queue of the namespace that holds messages (of any kind) or dead letters.

        A queue whose messages were all acked and that has no dead letters may be
        forgotten (the brokers keep no empty queues), so it is not listed.
        """
        return self._known_queues()

    def purge(self, queue: str) -> int:
        """Drop every ready and delayed message of ``queue``; return how many were dropped.

        Leased messages are left to their consumers (a lease that ran out counts as
        ready, as in :meth:`queue_stats`). Dead letters stay (see
        :meth:`purge_dead_letters`). A dropped message bound to a record ends it as a
        burial does (see :mod:`arbiter_core.node.burial`; the reason is ``PURGED``),
        so nobody waits for a task that will not run.
        """
        return self._purge(require_name(queue, "queue"))

    def requeue_dead_letters(
        self, queue: str, message_ids: Collection[str] | None = None
    ) -> list[str]:
        """Put dead letters of ``queue`` back, ready at once; return the ids requeued.

        ``message_ids=None`` requeues every dead letter of the queue; otherwise the
        ones with those ids (an id that is not a dead letter of the queue is skipped).
        Each requeued message keeps its message id, body and bound record, is ready
        at the back of the queue (FIFO, like a new push; ``enqueued_at`` is now), and
        its delivery count starts again: its next delivery is delivery 1, and it has
        ``max_deliveries`` deliveries before it is buried again.

        Atomic per letter: it leaves the dead letters and enters the queue in one step,
        so of concurrent requeues of one letter exactly one requeues it. In the same
        step, a bound record in state ``DEAD`` is revived: it takes state ``REQUEUED``
        with the data it had before the burial, its expiry kept (see
        :mod:`arbiter_core.node.burial`), so status reads and waiters see the task
        queued again. A record in any other state (an outcome: ``succeeded``,
        ``failed``...) is never reopened; an absent one is not created. Returned ids
        are in dead-letter order, oldest first.
        """
        ids = require_message_ids(message_ids)
        return self._requeue_dead_letters(require_name(queue, "queue"), ids)

    def purge_dead_letters(self, queue: str) -> int:
        """Drop every dead letter of ``queue`` for good; return how many there were."""
        return self._purge_dead_letters(require_name(queue, "queue"))

    # -- what a backend writes; the arguments are checked (see the class docstring)
    @abstractmethod
    def _push(
        self, queue: str, body: bytes, not_before: float | None, priority: int = 0
    ) -> str: ...

    @abstractmethod
    def _pull(
        self, queue: str, timeout: float | None, lease: float, max_messages: int
    ) -> list[Delivery]: ...

    @abstractmethod
    def _ack(self, delivery: Delivery) -> bool: ...

    @abstractmethod
    def _nack(self, delivery: Delivery, delay: float) -> bool: ...

    @abstractmethod
    def _renew(self, deliveries: Sequence[Delivery], lease: float) -> list[bool]: ...

    @abstractmethod
    def _dead_letter(self, delivery: Delivery, reason: str) -> bool: ...

    @abstractmethod
    def _dead_letters(self, queue: str, limit: int) -> list[DeadLetter]: ...

    @abstractmethod
    def _queue_size(self, queue: str) -> int: ...

    # the operator's tools: defaults refuse, naming the operation (see the class docstring)
    def _unsupported(self, operation: str) -> NoReturn:
        raise UnsupportedOperationError(
            f"{type(self).__name__} does not implement {operation}; its backend must "
            f"write _{operation} (see docs/plugins.md, What a backend writes)"
        )

    def _queue_stats(self, queue: str) -> QueueStats:
        self._unsupported("queue_stats")

    def _known_queues(self) -> set[str]:
        self._unsupported("known_queues")

    def _purge(self, queue: str) -> int:
        self._unsupported("purge")

    def _requeue_dead_letters(self, queue: str, message_ids: list[str] | None) -> list[str]:
        self._unsupported("requeue_dead_letters")

    def _purge_dead_letters(self, queue: str) -> int:
        self._unsupported("purge_dead_letters")
