"""``MemoryBroker``: the in-process "server" that ``memory://`` nodes talk to.

It honours the whole EventNode contract — leases that run out, delivery
counts, dead letters, delayed messages, record TTLs, heartbeats — because a
fake that cuts corners lets tests pass that a real broker would fail (kombu's
in-memory transport skips restoring unacked messages; this one does not).

Layout, per ``(namespace, queue)`` (a :class:`_Queue`):

* ``ready``: FIFO deque of deliverable messages of priority 0 (the default), and
  ``levels``: level -> FIFO deque of those of a higher level (1 to 9), only the
  non-empty ones, so a pull takes from the highest level there is and a queue that
  uses no priorities costs one empty-dict check per pull.
* ``delayed``: heap of ``(due, seq, message)``; messages wait here, outside
  ``ready``, until their ``not_before`` time.
* ``leased``: message id -> message held by a consumer; ``leases`` is a heap
  of ``(expires, seq, receipt, message)`` that may hold stale entries (acked or
  renewed leases), recognised by their receipt and expiry no longer matching.
* ``dead``: the dead letters, oldest first (bounded, see ``DEAD_LETTER_LIMIT``).

A message pushed by :meth:`MemoryBroker.transition_and_push` carries the key of its
record; burying it ends that record as :mod:`arbiter_core.node.burial` says, and its
dead letter keeps the key, so a requeue binds it again (and revives the record).
A node may also *watch* the burials of its namespace (:meth:`MemoryBroker.watch_burials`,
what ``EventNode.watch_burials`` asks for): told of each spent or purged message, it
ends records the broker does not keep (the broker of a composed node).

Nothing runs in the background: every operation first *settles* the queue it
touches (expired leases back to ``ready`` or to the dead letters, due delayed
messages to ``ready``, in the order they fell due), and a blocking ``pull``
waits on the queue's condition with a timeout that ends when the next lease or
delayed message falls due. One lock guards everything; the conditions share it.
Internal times are ``time.monotonic()``; ``not_before`` (a ``time.time()``)
is converted at push with an offset fixed when the broker was created.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from queue import SimpleQueue

from arbiter_core.node import (
    BURIED_EVENT,
    DEAD,
    FINAL_STATES,
    PURGED,
    REQUEUED,
    DeadLetter,
    Delivery,
    EventCallback,
    Expect,
    QueueStats,
    Record,
    TransitionPush,
    buried_data,
    revived_data,
)

logger = logging.getLogger(__name__)

BurialWatcher = Callable[[DeadLetter], None]
"""A node's ``watch_burials`` callback: told of each message the broker buries on its own."""

DEAD_LETTER_LIMIT = 10_000
"""Dead letters kept per queue; the oldest are dropped beyond this, so memory stays bounded."""

_RECORD_HEAP_SLACK = 1024
"""Stale expiry entries tolerated (beyond one per live record) before the heap is rebuilt."""


class Sink:
    """A node's inbox of events, drained by its delivery thread.

    ``open`` turns False when the node goes away. :meth:`shut` takes no lock
    (``SimpleQueue.put`` is reentrant), so a garbage-collection finalizer may
    call it at any moment, even while this thread holds the broker's lock.
    """

    __slots__ = ("_queue", "open")

    def __init__(self) -> None:
        self._queue: SimpleQueue[Dispatch | None] = SimpleQueue()
        self.open = True

    def put(self, dispatch: Dispatch) -> None:
        self._queue.put(dispatch)

    def get(self) -> Dispatch | None:
        """The next event, or None once the sink is shut (blocks until one comes)."""
        return self._queue.get()

    def shut(self) -> None:
        self.open = False
        self._queue.put(None)


@dataclass(eq=False, slots=True)
class Subscription:
    """One callback of one node on one event, delivered through that node's ``sink``.

    ``active`` turns False on unsubscribe, so an event already on its way to
    the node is not handed to a callback that has left.
    """

    event: str
    callback: EventCallback
    sink: Sink
    active: bool = True

    @property
    def live(self) -> bool:
        return self.active and self.sink.open


Dispatch = tuple[str, bytes, tuple[Subscription, ...]]
"""What lands in a node's sink: the event, its payload and the node's subscribers at emit time."""


@dataclass(eq=False, slots=True)
class _Message:
    message_id: str
    body: bytes
    enqueued_at: float
    delivery_count: int = 0
    receipt: str | None = None
    lease_expires: float = 0.0
    max_deliveries: int = 0
    """The limit of the consumer that last leased it, applied when the lease ends."""
    record: str | None = None
    """The key of the record it was pushed with (bound), ended when it is buried."""
    priority: int = 0
    """Its level (0 to 9): which ready line it joins, every time it becomes ready."""


@dataclass(eq=False, slots=True)
class _Queue:
    namespace: str
    name: str
    cond: threading.Condition
    """Notified when messages become ready, and on close so cancelled pulls return."""
    drained: threading.Condition
    """Notified when the queue holds nothing any more (for :meth:`MemoryBroker.join`)."""
    ready: deque[_Message] = field(default_factory=deque)
    levels: dict[int, deque[_Message]] = field(default_factory=dict)
    delayed: list[tuple[float, int, _Message]] = field(default_factory=list)
    leases: list[tuple[float, int, str, _Message]] = field(default_factory=list)
    leased: dict[str, _Message] = field(default_factory=dict)
    dead: deque[DeadLetter] = field(default_factory=lambda: deque(maxlen=DEAD_LETTER_LIMIT))
    waiters: int = 0

    def size(self) -> int:
        return self.ready_count() + len(self.delayed) + len(self.leased)

    def ready_count(self) -> int:
        if self.levels:
            return len(self.ready) + sum(len(line) for line in self.levels.values())
        return len(self.ready)

    def make_ready(self, message: _Message) -> None:
        """Put ``message`` at the back of its level's line."""
        if message.priority:
            line = self.levels.get(message.priority)
            if line is None:
                line = self.levels[message.priority] = deque()
            line.append(message)
        else:
            self.ready.append(message)

    def next_ready(self) -> _Message | None:
        """Take the first message of the highest level that has one (None if none)."""
        if self.levels:
            top = max(self.levels)
            line = self.levels[top]
            message = line.popleft()
            if not line:
                del self.levels[top]
            return message
        return self.ready.popleft() if self.ready else None

    def drop_ready(self) -> list[_Message]:
        """Every ready message, highest level first, taken out."""
        dropped = [
            message for level in sorted(self.levels, reverse=True) for message in self.levels[level]
        ]
        dropped += self.ready
        self.levels.clear()
        self.ready.clear()
        return dropped


class MemoryBroker:
    """Queues, records, workers and pub/sub for every node in one process that shares a name.

    Thread-safe; every method takes the ``namespace`` of the calling node, so
    applications sharing a broker never see each other's keys. Arguments arrive
    checked (by the node's public methods, see :mod:`arbiter_core.node.arguments`). Nodes normally
    get their broker by name through :class:`MemoryEventNode`; a broker lives
    as long as some node references it.
    """

    def __init__(self, name: str = "default") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._seq = itertools.count()
        # One fixed offset converts every not_before, so equal times stay equal (push order).
        self._wall_minus_monotonic = time.time() - time.monotonic()
        self._queues: dict[tuple[str, str], _Queue] = {}
        self._records: dict[tuple[str, str], tuple[Record, float]] = {}
        self._record_expiry: list[tuple[float, str, str]] = []
        self._workers: dict[str, dict[str, tuple[bytes, float]]] = {}
        self._topics: dict[tuple[str, str], dict[Subscription, None]] = {}
        self._burial_watchers: dict[str, dict[Sink, BurialWatcher]] = {}

    def __repr__(self) -> str:
        return f"<MemoryBroker {self.name!r}>"

    # ------------------------------------------------------------------ queues

    def push(
        self,
        namespace: str,
        queue: str,
        body: bytes,
        *,
        not_before: float | None,
        priority: int = 0,
    ) -> str:
        """Store ``body`` on ``queue`` at level ``priority``, ready now or held until
        ``not_before`` (a time.time())."""
        message = _Message(uuid.uuid4().hex, body, time.time(), priority=priority)
        with self._lock:
            self._push(namespace, queue, message, not_before)
        return message.message_id

    def transition_and_push(self, namespace: str, item: TransitionPush) -> bool:
        """Write the record and, only if written, push the body bound to it, in one step."""
        message = _Message(
            uuid.uuid4().hex, item.body, time.time(), record=item.key, priority=item.priority
        )
        with self._lock:
            written, _ = self._transition(namespace, item.key, item.record, item.ttl, item.expect)
            if written:
                self._push(namespace, item.queue, message, item.not_before)
            return written

    def _push(
        self, namespace: str, queue: str, message: _Message, not_before: float | None
    ) -> None:
        q = self._queue(namespace, queue)
        now = time.monotonic()
        self._settle(q, now)
        due = None if not_before is None else not_before - self._wall_minus_monotonic
        if due is not None and due > now:
            heapq.heappush(q.delayed, (due, next(self._seq), message))
        else:
            q.make_ready(message)
            q.cond.notify()

    def pull(
        self,
        namespace: str,
        queue: str,
        *,
        timeout: float | None,
        lease: float,
        max_messages: int,
        max_deliveries: int,
        cancelled: threading.Event,
    ) -> list[Delivery]:
        """Lease up to ``max_messages`` ready messages, waiting up to ``timeout`` for the first.

        Waits on the queue's condition, never in a sleep loop: the wait ends at
        the caller's deadline, when the next delayed message or lease falls
        due, on a push, or when ``cancelled`` is set (then returns ``[]``).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            q = self._queue(namespace, queue)
            q.waiters += 1
            try:
                while not cancelled.is_set():
                    now = time.monotonic()
                    self._settle(q, now)
                    taken = self._take(q, now, lease, max_messages, max_deliveries)
                    if taken:
                        return taken
                    wait = self._next_due(q) - now
                    if deadline is not None:
                        if deadline <= now:
                            break
                        wait = min(wait, deadline - now)
                    q.cond.wait(min(wait, threading.TIMEOUT_MAX))
                if q.ready or q.levels:
                    q.cond.notify()  # we leave without taking: pass the wake-up on
                return []
            finally:
                q.waiters -= 1
                self._forget_if_idle(namespace, queue, q)

    def ack(self, namespace: str, delivery: Delivery) -> bool:
        """Remove the message for good; False if ``delivery`` no longer holds its lease."""
        with self._lock:
            q, message = self._held(namespace, delivery)
            if q is None or message is None:
                return False
            self._unlease(q, message)
            self._after_removal(namespace, delivery.queue, q)
            return True

    def nack(self, namespace: str, delivery: Delivery, delay: float) -> bool:
        """Release the lease: the message is ready again (after ``delay``) or, spent, dead."""
        with self._lock:
            q, message = self._held(namespace, delivery)
            if q is None or message is None:
                return False
            self._unlease(q, message)
            if self._release(q, message, time.monotonic(), delay):
                q.cond.notify()
            self._after_removal(namespace, delivery.queue, q)
            return True

    def renew(self, namespace: str, deliveries: Sequence[Delivery], lease: float) -> list[bool]:
        """Restart each lease still held to ``lease`` seconds from now."""
        held = []
        with self._lock:
            for delivery in deliveries:
                q, message = self._held(namespace, delivery)
                if q is None or message is None:
                    held.append(False)
                    continue
                message.lease_expires = time.monotonic() + lease
                self._track_lease(q, message)
                held.append(True)
        return held

    def dead_letter(self, namespace: str, delivery: Delivery, reason: str) -> bool:
        """Move a leased message straight to the dead letters, unexecuted."""
        with self._lock:
            q, message = self._held(namespace, delivery)
            if q is None or message is None:
                return False
            self._unlease(q, message)
            self._bury(q, message, reason, report=False)  # the caller knows: not reported
            self._after_removal(namespace, delivery.queue, q)
            return True

    def dead_letters(self, namespace: str, queue: str, limit: int) -> list[DeadLetter]:
        """The queue's dead letters, oldest first."""
        with self._lock:
            q = self._queues.get((namespace, queue))
            if q is None:
                return []
            self._settle(q, time.monotonic())
            return list(itertools.islice(q.dead, max(limit, 0)))

    def queue_size(self, namespace: str, queue: str) -> int:
        """Messages stored and not yet acked or dead-lettered: ready, delayed or leased."""
        with self._lock:
            q = self._queues.get((namespace, queue))
            if q is None:
                return 0
            self._settle(q, time.monotonic())
            size = q.size()
            self._forget_if_idle(namespace, queue, q)
            return size

    def queue_stats(self, namespace: str, queue: str) -> QueueStats:
        """Ready, delayed, leased and dead, settled first."""
        with self._lock:
            q = self._queues.get((namespace, queue))
            if q is None:
                return QueueStats(0, 0, 0, 0)
            self._settle(q, time.monotonic())
            stats = QueueStats(q.ready_count(), len(q.delayed), len(q.leased), len(q.dead))
            self._forget_if_idle(namespace, queue, q)
            return stats

    def known_queues(self, namespace: str) -> set[str]:
        """The queues of ``namespace`` that hold messages or dead letters."""
        with self._lock:
            return {
                name
                for (ns, name), q in self._queues.items()
                if ns == namespace and (q.size() or q.dead)
            }

    def purge(self, namespace: str, queue: str) -> int:
        """Drop the ready and delayed messages, ending their records; how many there were."""
        with self._lock:
            q = self._queues.get((namespace, queue))
            if q is None:
                return 0
            self._settle(q, time.monotonic())
            dropped = [*q.drop_ready(), *(message for _, _, message in q.delayed)]
            q.delayed.clear()
            watched = namespace in self._burial_watchers
            for message in dropped:
                if message.record is not None:
                    self._end_record(namespace, message.record, PURGED)
                if watched:
                    self._report(namespace, self._letter(q, message, PURGED))
            self._after_removal(namespace, queue, q)
            return len(dropped)

    def requeue_dead_letters(
        self, namespace: str, queue: str, message_ids: list[str] | None
    ) -> list[str]:
        """Dead letters back to ``ready`` (all, or those ids), reviving dead records, at once."""
        with self._lock:
            q = self._queues.get((namespace, queue))
            if q is None:
                return []
            wanted = None if message_ids is None else set(message_ids)
            chosen = [d for d in q.dead if wanted is None or d.message_id in wanted]
            if not chosen:
                return []
            kept = [d for d in q.dead if wanted is not None and d.message_id not in wanted]
            q.dead.clear()
            q.dead.extend(kept)
            now = time.time()
            for letter in chosen:
                if letter.record is not None:
                    self._revive_record(namespace, letter.record)
                q.make_ready(
                    _Message(
                        letter.message_id,
                        letter.body,
                        now,
                        record=letter.record,
                        priority=letter.priority,
                    )
                )
            q.cond.notify(len(chosen))
            return [letter.message_id for letter in chosen]

    def purge_dead_letters(self, namespace: str, queue: str) -> int:
        """Drop the queue's dead letters; how many there were."""
        with self._lock:
            q = self._queues.get((namespace, queue))
            if q is None:
                return 0
            count = len(q.dead)
            q.dead.clear()
            self._forget_if_idle(namespace, queue, q)
            return count

    def join(self, namespace: str, queue: str, *, timeout: float | None = None) -> bool:
        """Wait until ``queue`` holds nothing (every message acked or dead); False on timeout.

        The test helper Dramatiq's stub broker has: push work, ``join``, then
        assert on the results, with no sleeps.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            q = self._queue(namespace, queue)
            q.waiters += 1
            try:
                while True:
                    now = time.monotonic()
                    self._settle(q, now)
                    if q.size() == 0:
                        return True
                    wait = self._next_due(q) - now
                    if deadline is not None:
                        if deadline <= now:
                            return False
                        wait = min(wait, deadline - now)
                    q.drained.wait(min(wait, threading.TIMEOUT_MAX))
            finally:
                q.waiters -= 1
                self._forget_if_idle(namespace, queue, q)

    def wake(self, namespace: str) -> None:
        """Wake every blocked ``pull`` in ``namespace`` so a closing node's pulls can return."""
        with self._lock:
            for (ns, _), q in self._queues.items():
                if ns == namespace and q.waiters:
                    q.cond.notify_all()

    # queue internals; all run with the lock held

    def _queue(self, namespace: str, queue: str) -> _Queue:
        q = self._queues.get((namespace, queue))
        if q is None:
            lock = self._lock
            q = _Queue(namespace, queue, threading.Condition(lock), threading.Condition(lock))
            self._queues[namespace, queue] = q
        return q

    def _forget_if_idle(self, namespace: str, queue: str, q: _Queue) -> None:
        """Drop an empty queue nobody waits on, so per-request queues do not pile up."""
        if not q.waiters and not q.size() and not q.dead:
            self._queues.pop((namespace, queue), None)

    def _after_removal(self, namespace: str, queue: str, q: _Queue) -> None:
        if q.size() == 0:
            q.drained.notify_all()
            self._forget_if_idle(namespace, queue, q)

    @staticmethod
    def _lease_is_current(entry: tuple[float, int, str, _Message]) -> bool:
        expires, _, receipt, message = entry
        return message.receipt == receipt and message.lease_expires == expires

    def _next_lease(self, q: _Queue) -> float:
        while q.leases and not self._lease_is_current(q.leases[0]):
            heapq.heappop(q.leases)  # acked, nacked or renewed since
        return q.leases[0][0] if q.leases else math.inf

    def _next_due(self, q: _Queue) -> float:
        """When something in the queue next changes by itself (a lease ends, a delay is over)."""
        return min(self._next_lease(q), q.delayed[0][0] if q.delayed else math.inf)

    def _settle(self, q: _Queue, now: float) -> None:
        """Apply what fell due by ``now`` (expired leases, due delayed messages) in time order."""
        became_ready = 0
        while True:
            lease_due = self._next_lease(q)
            delay_due = q.delayed[0][0] if q.delayed else math.inf
            if min(lease_due, delay_due) > now:
                break
            if lease_due <= delay_due:
                message = heapq.heappop(q.leases)[3]
                self._unlease(q, message)
                became_ready += self._release(q, message, lease_due, 0.0)
            else:
                q.make_ready(heapq.heappop(q.delayed)[2])
                became_ready += 1
        if became_ready:
            q.cond.notify(became_ready)

    def _take(
        self, q: _Queue, now: float, lease: float, max_messages: int, max_deliveries: int
    ) -> list[Delivery]:
        taken: list[Delivery] = []
        while len(taken) < max_messages:
            message = q.next_ready()
            if message is None:
                break
            if message.delivery_count >= max_deliveries:
                # Released under a laxer limit by another node: this consumer's limit rules.
                self._bury(q, message, self._spent_reason(message))
                continue
            message.delivery_count += 1
            message.receipt = uuid.uuid4().hex
            message.lease_expires = now + lease
            message.max_deliveries = max_deliveries
            q.leased[message.message_id] = message
            self._track_lease(q, message)
            taken.append(
                Delivery(
                    queue=q.name,
                    message_id=message.message_id,
                    body=message.body,
                    delivery_count=message.delivery_count,
                    receipt=message.receipt,
                    enqueued_at=message.enqueued_at,
                )
            )
        return taken

    def _track_lease(self, q: _Queue, message: _Message) -> None:
        assert message.receipt is not None
        heapq.heappush(q.leases, (message.lease_expires, next(self._seq), message.receipt, message))

    def _held(self, namespace: str, delivery: Delivery) -> tuple[_Queue | None, _Message | None]:
        """The queue and message if ``delivery`` still holds the lease (after settling expiries)."""
        q = self._queues.get((namespace, delivery.queue))
        if q is None:
            return None, None
        self._settle(q, time.monotonic())
        message = q.leased.get(delivery.message_id)
        if message is None or message.receipt != delivery.receipt:
            return q, None
        return q, message

    @staticmethod
    def _unlease(q: _Queue, message: _Message) -> None:
        del q.leased[message.message_id]
        message.receipt = None

    @staticmethod
    def _spent_reason(message: _Message) -> str:
        return f"delivered {message.delivery_count} times without an ack"

    def _release(self, q: _Queue, message: _Message, now: float, delay: float) -> int:
        """Make an unleased message deliverable again, or dead if spent; 1 if ready now."""
        if message.delivery_count >= message.max_deliveries:
            self._bury(q, message, self._spent_reason(message))
            return 0
        if delay > 0:
            heapq.heappush(q.delayed, (now + delay, next(self._seq), message))
            return 0
        q.make_ready(message)
        return 1

    def _bury(self, q: _Queue, message: _Message, reason: str, *, report: bool = True) -> None:
        """Dead-letter an unleased message (the caller has taken it out of circulation),
        ending the record it is bound to (see ``arbiter_core.node.burial``), and unless
        ``report`` is False telling the nodes that watch burials."""
        if not q.size():
            q.drained.notify_all()
        if message.record is not None:
            self._end_record(q.namespace, message.record, reason)
        letter = self._letter(q, message, reason)
        q.dead.append(letter)
        if report and q.namespace in self._burial_watchers:
            self._report(q.namespace, letter)

    @staticmethod
    def _letter(q: _Queue, message: _Message, reason: str) -> DeadLetter:
        return DeadLetter(
            queue=q.name,
            message_id=message.message_id,
            body=message.body,
            reason=reason,
            delivery_count=message.delivery_count,
            dead_at=time.time(),
            record=message.record,
            priority=message.priority,
        )

    def _report(self, namespace: str, letter: DeadLetter) -> None:
        """Hand ``letter`` to every node watching the burials of ``namespace``.

        Under the lock, on the thread whose call buried the message (any node's: the
        queue is settled by whichever call touches it), which is why a watcher must be
        quick and must not call the broker. Watchers of closed nodes are dropped here.
        """
        watchers = self._burial_watchers[namespace]
        for sink, callback in list(watchers.items()):
            if not sink.open:
                del watchers[sink]
                continue
            try:
                callback(letter)  # frozen: every watcher may keep it
            except Exception:
                logger.exception("burial watcher %r failed on %r", callback, letter.message_id)
        if not watchers:
            del self._burial_watchers[namespace]

    def _end_record(self, namespace: str, key: str, reason: str) -> None:
        stored = self._records.get((namespace, key))
        if stored is None or stored[1] <= time.monotonic() or stored[0].state in FINAL_STATES:
            return
        record, expires = stored
        self._records[namespace, key] = (Record(DEAD, buried_data(reason, record.data)), expires)
        self._emit(namespace, BURIED_EVENT, key.encode())

    def _revive_record(self, namespace: str, key: str) -> None:
        """A dead record back to REQUEUED with its data before the burial (expiry kept)."""
        stored = self._records.get((namespace, key))
        if stored is None or stored[1] <= time.monotonic() or stored[0].state != DEAD:
            return
        record, expires = stored
        self._records[namespace, key] = (Record(REQUEUED, revived_data(record.data)), expires)

    def watch_burials(self, namespace: str, sink: Sink, callback: BurialWatcher) -> None:
        """Tell ``callback`` of each message of ``namespace`` buried on the broker's own
        (spent, purged; not through :meth:`dead_letter`), until :meth:`unwatch_burials`
        or until ``sink`` (the watching node's) is shut. One callback per sink."""
        with self._lock:
            self._burial_watchers.setdefault(namespace, {})[sink] = callback

    def unwatch_burials(self, namespace: str, sink: Sink) -> None:
        with self._lock:
            watchers = self._burial_watchers.get(namespace)
            if watchers is not None:
                watchers.pop(sink, None)
                if not watchers:
                    del self._burial_watchers[namespace]

    # ------------------------------------------------------------------ records

    def get(self, namespace: str, key: str) -> Record | None:
        with self._lock:
            return self._live_record(namespace, key, time.monotonic())

    def get_many(self, namespace: str, keys: Collection[str]) -> dict[str, Record]:
        with self._lock:
            now = time.monotonic()
            found = {}
            for key in keys:
                record = self._live_record(namespace, key, now)
                if record is not None:
                    found[key] = record
            return found

    def transition(
        self, namespace: str, key: str, record: Record, ttl: float, expect: Expect
    ) -> tuple[bool, Record | None]:
        """Compare the current state with ``expect`` and write, as one step under the lock."""
        with self._lock:
            return self._transition(namespace, key, record, ttl, expect)

    def _transition(
        self, namespace: str, key: str, record: Record, ttl: float, expect: Expect
    ) -> tuple[bool, Record | None]:
        now = time.monotonic()
        self._purge_records(now)
        current = self._live_record(namespace, key, now)
        if expect is not None:
            state = None if current is None else current.state
            if state not in expect:
                return False, current
        expires = now + ttl
        self._records[namespace, key] = (record, expires)
        heapq.heappush(self._record_expiry, (expires, namespace, key))
        return True, record

    def delete(self, namespace: str, key: str) -> None:
        with self._lock:
            self._records.pop((namespace, key), None)

    def _live_record(self, namespace: str, key: str, now: float) -> Record | None:
        stored = self._records.get((namespace, key))
        if stored is None:
            return None
        record, expires = stored
        if expires <= now:
            del self._records[namespace, key]
            return None
        return record

    def _purge_records(self, now: float) -> None:
        """Drop records past their TTL even if nobody reads them again."""
        heap = self._record_expiry
        while heap and heap[0][0] <= now:
            _, namespace, key = heapq.heappop(heap)
            stored = self._records.get((namespace, key))
            if stored is not None and stored[1] <= now:
                del self._records[namespace, key]
        if len(heap) > 2 * len(self._records) + _RECORD_HEAP_SLACK:
            # Rewrites leave stale entries behind; rebuild from the live records.
            heap[:] = [(exp, ns, key) for (ns, key), (_, exp) in self._records.items()]
            heapq.heapify(heap)

    # ------------------------------------------------------------------ workers

    def heartbeat(self, namespace: str, worker_id: str, info: bytes, ttl: float) -> None:
        with self._lock:
            self._workers.setdefault(namespace, {})[worker_id] = (info, time.monotonic() + ttl)

    def live_workers(self, namespace: str) -> dict[str, bytes]:
        with self._lock:
            workers = self._workers.get(namespace, {})
            now = time.monotonic()
            for worker_id in [w for w, (_, expires) in workers.items() if expires <= now]:
                del workers[worker_id]
            return {worker_id: info for worker_id, (info, _) in workers.items()}

    def remove_worker(self, namespace: str, worker_id: str) -> None:
        with self._lock:
            self._workers.get(namespace, {}).pop(worker_id, None)

    # ------------------------------------------------------------------ pub/sub

    def subscribe(self, namespace: str, subscription: Subscription) -> None:
        with self._lock:
            self._topics.setdefault((namespace, subscription.event), {})[subscription] = None

    def unsubscribe(self, namespace: str, subscriptions: Iterable[Subscription]) -> None:
        with self._lock:
            for subscription in subscriptions:
                subscription.active = False
                topic_key = (namespace, subscription.event)
                topic = self._topics.get(topic_key)
                if topic is not None:
                    topic.pop(subscription, None)
                    if not topic:
                        del self._topics[topic_key]

    def emit(self, namespace: str, event: str, payload: bytes) -> None:
        """Hand the event to every node subscribed now; never waits for a callback.

        The sinks are filled under the lock, so each node sees the events of
        one emitter in the order they were emitted. Subscriptions of nodes
        that were garbage-collected without ``close()`` are dropped here.
        """
        with self._lock:
            self._emit(namespace, event, payload)

    def _emit(self, namespace: str, event: str, payload: bytes) -> None:
        """:meth:`emit`, with the lock held."""
        topic = self._topics.get((namespace, event))
        if not topic:
            return
        per_sink: dict[Sink, list[Subscription]] = {}
        for subscription in list(topic):
            if subscription.sink.open:
                per_sink.setdefault(subscription.sink, []).append(subscription)
            else:
                del topic[subscription]
        if not topic:
            del self._topics[namespace, event]
        for sink, subscriptions in per_sink.items():
            sink.put((event, payload, tuple(subscriptions)))
