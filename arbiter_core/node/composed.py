"""Composing nodes: a broker's queues and broadcast with another backend's state store.

RabbitMQ has no key-value store, so a kombu node takes its state from another
URL (``state_url`` / ``ARBITER_STATE_URL``), the way Celery separates broker and
result backend. :class:`NoStateStore` is the state face of such a broker: it
refuses with an error that names the setting to use.

A :class:`ComposedNode` keeps the burial rules of :mod:`arbiter_core.node.burial`
across the two stores. It binds each message of ``transition_and_push`` to its record
by writing the record's key into the body it pushes (:mod:`~arbiter_core.node.bound_body`),
and ends that record itself whenever the message is buried: at once when its own
``dead_letter`` buries it, and for what the broker buries on its own (spent, purged)
when the broker reports it through ``watch_burials``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import NoReturn, ParamSpec, TypeVar

from arbiter_core.errors import UnsupportedOperationError
from arbiter_core.node.arguments import require_positive
from arbiter_core.node.bound_body import bind, unbind
from arbiter_core.node.broadcast import EventCallback
from arbiter_core.node.burial import (
    BURIED_EVENT,
    DEAD,
    FINAL_STATES,
    REQUEUED,
    buried_data,
    revived_data,
)
from arbiter_core.node.event_node import QUEUE, STATE, EventNode, TransitionPush
from arbiter_core.node.state_store import Expect, Record
from arbiter_core.node.work_queue import DeadLetter, Delivery, QueueStats
from arbiter_core.settings import DEFAULT_RESULT_TTL

log = logging.getLogger(__name__)

_P = ParamSpec("_P")
_T = TypeVar("_T")

SWEEP_AT = 1024
"""In-flight deliveries remembered before the first sweep of those whose lease ran out."""
STALE_AFTER = 60.0
"""Seconds after its lease ran out that a delivery is forgotten at a sweep: its receipt
can no longer settle the message, so its record key is of no more use."""
CLOSE_TIMEOUT = 5.0
"""Seconds ``close()`` waits for the burial thread to end the records reported before."""
_CAS_ATTEMPTS = 8
"""Compare-and-set tries to end (or revive) one record while others write it."""
_ALL_LETTERS = 2**31 - 1
"""The ``limit`` that lists every dead letter of a queue."""


class NoStateStore:
    """Mixin for an :class:`EventNode` whose broker has no state store.

    Put it before the node class in the bases: its protected state methods then
    stand in for the node's. Arguments are still checked first, by the public methods.
    """

    url: str

    def _no_state(self, *_: object) -> NoReturn:
        raise UnsupportedOperationError(
            f"{self.url} has no state store; set state_url (or ARBITER_STATE_URL) to a "
            "backend that has one, e.g. redis://localhost:6379/0"
        )

    _get = _get_many = _transition = _delete = _no_state
    _heartbeat = _live_workers = _remove_worker = _no_state


class _InFlight:
    """Receipt -> record key of the bound deliveries a composed node handed out.

    An entry leaves when its delivery is acked, nacked or dead-lettered, or when a
    renew finds the lease lost. A consumer that does none of these (it died, or let the
    lease run out) leaves its entry behind; those are dropped by a sweep, once
    :data:`STALE_AFTER` seconds past the end of their lease, and a sweep runs whenever
    the map has doubled since the last (from :data:`SWEEP_AT` entries). So its size
    stays below twice the entries the last sweep kept (those in flight or abandoned
    within :data:`STALE_AFTER` seconds then), or below :data:`SWEEP_AT`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[str, float]] = {}
        self._sweep_at = SWEEP_AT

    def add(self, receipt: str, key: str, lease: float) -> None:
        ends = time.monotonic() + lease
        with self._lock:
            self._entries[receipt] = (key, ends)
            if len(self._entries) >= self._sweep_at:
                stale = time.monotonic() - STALE_AFTER
                self._entries = {r: e for r, e in self._entries.items() if e[1] > stale}
                self._sweep_at = max(SWEEP_AT, 2 * len(self._entries))

    def key(self, receipt: str) -> str | None:
        with self._lock:
            entry = self._entries.get(receipt)
        return None if entry is None else entry[0]

    def forget(self, receipt: str) -> None:
        if self._entries:  # a plain read: nothing to take when nothing is bound
            with self._lock:
                self._entries.pop(receipt, None)

    def renewed(self, deliveries: Sequence[Delivery], held: Sequence[bool], lease: float) -> None:
        if not self._entries:
            return
        ends = time.monotonic() + lease
        with self._lock:
            for delivery, still in zip(deliveries, held, strict=False):
                entry = self._entries.pop(delivery.receipt, None)
                if entry is not None and still:
                    self._entries[delivery.receipt] = (entry[0], ends)


class _OwnCall(threading.local):
    """Per thread: the burials reported during this thread's call to the broker, if any."""

    waits: list[threading.Event] | None = None


_Burial = tuple[str, str, threading.Event | None]
"""A record to end: its key, the reason, and what to set once it is done (or None)."""


class _BurialThread:
    """Ends the records of burials the broker reports, on a daemon thread of its own.

    The broker's callback must be quick and must not call the broker back (it may run
    on the broker's I/O thread, or under its lock), and the state store may be slow or
    remote: so the callback only queues the work here. The thread starts with the first
    burial and stops on :meth:`close`, after the work queued before.
    """

    def __init__(self, end: Callable[[str, str], None], name: str) -> None:
        self._end = end
        self._name = name
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[_Burial | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, key: str, reason: str, done: threading.Event | None) -> bool:
        """Queue the end of ``key``'s record; False once closed (nothing will end it)."""
        with self._lock:
            if self._closed:
                return False
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
                self._thread.start()
            self._jobs.put((key, reason, done))
            return True

    def close(self, timeout: float) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._jobs.put(None)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            key, reason, done = job
            try:
                self._end(key, reason)
            except Exception:  # the record stays as it was; the next burials still end
                log.exception("could not end the record %r of a buried message", key)
            finally:
                if done is not None:
                    done.set()


class ComposedNode(EventNode):
    """Broadcast and work queues from ``broker``, the state store from ``state``.

    Closing the composed node closes both, so give it nodes of its own (the broker
    keeps one ``watch_burials`` callback: this node's). Both should use the same
    namespace. Arguments are checked once, by this node's public methods; it hands them on to
    the protected methods of the other two. ``server_info`` is the broker's, with the
    state store's under ``state_*`` keys.

    **Binding and burial.** ``transition_and_push`` (and its batch form) writes the
    record in ``state``, then pushes the body bound to the record's key
    (:mod:`~arbiter_core.node.bound_body`). A pull hands out the original body, and
    remembers which record each delivery is bound to while it is in flight. Then the
    rules of :mod:`~arbiter_core.node.burial` hold, in two steps rather than one:

    * ``dead_letter`` buries the message on the broker, then ends its record (unless
      it is gone or final: state ``dead``, :func:`buried_data`) and emits
      ``BURIED_EVENT`` with its key, before it returns.
    * A message the broker buries on its own (spent, or dropped by ``purge`` with
      reason ``PURGED``) ends its record the same way, when the broker reports it
      through :meth:`~EventNode.watch_burials`: on a thread of this node, and before
      the call of this node that buried it returns (a pull, a nack, a purge...); a
      burial made by another node's call on the broker ends its record moments later.
      :attr:`buries_records` says whether the broker reports them; if not, such a
      burial leaves the record as it was.
    * ``dead_letters`` shows the original bodies, with ``DeadLetter.record`` set to
      the key; ``requeue_dead_letters`` requeues the bound bodies, then revives each
      requeued letter's record that is ``dead`` (state ``queued``, :func:`revived_data`).

    A record this node ends or revives lives ``record_ttl`` seconds from then (the
    ``result_ttl`` setting through :func:`~arbiter_core.connect.connect`): the state
    store cannot tell another node a record's remaining expiry, so it is not kept as a
    single-store backend keeps it. Claims are not made: ``pull_and_claim`` leaves every
    ``Delivery.claim`` None, and the worker transitions the record itself.
    """

    def __init__(
        self, broker: EventNode, state: EventNode, *, record_ttl: float = DEFAULT_RESULT_TTL
    ) -> None:
        broker.require(QUEUE, "the work queues of a composed node")
        state.require(STATE, "the state store of a composed node")
        super().__init__(namespace=broker.namespace)
        self.broker = broker
        self.state = state
        self.capabilities = broker.capabilities | {STATE}
        require_positive(record_ttl, "record_ttl")
        self.record_ttl = record_ttl
        self._in_flight = _InFlight()
        self._own_call = _OwnCall()
        self._burials = _BurialThread(self._end_record, f"arbiter-composed-burials-{id(self):x}")
        self._buries_records = broker.watch_burials(self._on_burial)

    @property
    def url(self) -> str:
        return f"{self.broker.url} (state: {self.state.url})"

    @property
    def buries_records(self) -> bool:
        """Whether a message the broker buries on its own (spent, purged) ends its record.

        True when the broker's :meth:`~EventNode.watch_burials` accepted this node's
        callback. Either way, ``dead_letter`` ends the record and
        ``requeue_dead_letters`` revives it.
        """
        return self._buries_records

    def close(self) -> None:
        try:
            self._burials.close(CLOSE_TIMEOUT)
        finally:
            try:
                self.broker.close()
            finally:
                self.state.close()

    # binding: what this node adds to the broker's queues
    def _broker_call(self, method: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """``method(*args)`` of the broker; the records of the burials it reports on this
        thread meanwhile are ended (by the burial thread) before this returns."""
        own = self._own_call
        if not self._buries_records or own.waits is not None:  # nothing to wait for, or nested
            return method(*args, **kwargs)
        waits: list[threading.Event] = []
        own.waits = waits
        try:
            return method(*args, **kwargs)
        finally:
            own.waits = None
            for done in waits:
                done.wait()

    def _on_burial(self, letter: DeadLetter) -> None:
        """The broker's ``watch_burials`` callback: quick, and never calls the broker."""
        bound = unbind(letter.body)
        if bound is None:
            return  # pushed alone: no record to end
        waits = self._own_call.waits
        done = None if waits is None else threading.Event()
        if self._burials.submit(bound[0], letter.reason, done) and done is not None:
            assert waits is not None
            waits.append(done)

    def _end_record(self, key: str, reason: str) -> None:
        """Unless it is gone or final: state DEAD with the reason in front, then announce it."""
        current = self.state._get(key)
        for _ in range(_CAS_ATTEMPTS):
            if current is None or current.state in FINAL_STATES:
                return
            buried = Record(DEAD, buried_data(reason, current.data))
            written, current = self.state._transition(
                key, buried, self.record_ttl, (current.state,)
            )
            if written:
                self.broker._emit(BURIED_EVENT, key.encode())
                return
        log.warning("gave up ending the record %r of a buried message: it kept changing", key)

    def _revive_record(self, key: str) -> None:
        """A DEAD record back to REQUEUED with the data it had before its burial."""
        current = self.state._get(key)
        for _ in range(_CAS_ATTEMPTS):
            if current is None or current.state != DEAD:
                return
            revived = Record(REQUEUED, revived_data(current.data))
            written, current = self.state._transition(key, revived, self.record_ttl, (DEAD,))
            if written:
                return

    def _unbound(self, delivery: Delivery, lease: float) -> Delivery:
        bound = unbind(delivery.body)
        if bound is None:
            return delivery
        key, body = bound
        self._in_flight.add(delivery.receipt, key, lease)
        return replace(delivery, body=body)

    @staticmethod
    def _unbound_letter(letter: DeadLetter) -> DeadLetter:
        bound = unbind(letter.body)
        if bound is None:
            return letter
        key, body = bound
        return replace(letter, body=body, record=key)

    # broadcast and queues: the broker
    def _emit(self, event: str, payload: bytes) -> None:
        self.broker._emit(event, payload)

    def _subscribe(self, event: str, callback: EventCallback) -> None:
        self.broker._subscribe(event, callback)

    def _unsubscribe(self, event: str, callback: EventCallback) -> None:
        self.broker._unsubscribe(event, callback)

    def _push(self, queue: str, body: bytes, not_before: float | None, priority: int = 0) -> str:
        """The broker's push; the level reaches it only if it orders by level (its
        capabilities are this node's)."""
        return self._broker_call(self.broker._push_at, queue, body, not_before, priority)

    def _transition_and_push(self, item: TransitionPush) -> bool:
        """The record first, in the state node; then the body bound to it, on the broker."""
        written, _ = self.state._transition(item.key, item.record, item.ttl, item.expect)
        if written:
            self._push_at(item.queue, bind(item.key, item.body), item.not_before, item.priority)
        return written

    def _pull(
        self, queue: str, timeout: float | None, lease: float, max_messages: int
    ) -> list[Delivery]:
        batch = self._broker_call(self.broker._pull, queue, timeout, lease, max_messages)
        return [self._unbound(delivery, lease) for delivery in batch]

    def _ack(self, delivery: Delivery) -> bool:
        acked = self._broker_call(self.broker._ack, delivery)
        self._in_flight.forget(delivery.receipt)
        return acked

    def _nack(self, delivery: Delivery, delay: float) -> bool:
        released = self._broker_call(self.broker._nack, delivery, delay)
        self._in_flight.forget(delivery.receipt)
        return released

    def _renew(self, deliveries: Sequence[Delivery], lease: float) -> list[bool]:
        held = self._broker_call(self.broker._renew, deliveries, lease)
        self._in_flight.renewed(deliveries, held, lease)
        return held

    def _dead_letter(self, delivery: Delivery, reason: str) -> bool:
        key = self._in_flight.key(delivery.receipt)
        buried = self._broker_call(self.broker._dead_letter, delivery, reason)
        self._in_flight.forget(delivery.receipt)
        if buried and key is not None:
            self._end_record(key, reason)
        return buried

    def _dead_letters(self, queue: str, limit: int) -> list[DeadLetter]:
        letters = self._broker_call(self.broker._dead_letters, queue, limit)
        return [self._unbound_letter(letter) for letter in letters]

    def _queue_size(self, queue: str) -> int:
        return self._broker_call(self.broker._queue_size, queue)

    def _queue_stats(self, queue: str) -> QueueStats:
        return self._broker_call(self.broker._queue_stats, queue)

    def _known_queues(self) -> set[str]:
        return self.broker._known_queues()

    def _purge(self, queue: str) -> int:
        return self._broker_call(self.broker._purge, queue)

    def _requeue_dead_letters(self, queue: str, message_ids: list[str] | None) -> list[str]:
        """The letters' records are read first, so "all" means the letters listed then: a
        letter buried while this runs stays dead rather than coming back with its record
        left ``dead``. Each requeued letter's record is revived after the requeue."""
        letters = self._dead_letters(queue, _ALL_LETTERS)
        keys = {letter.message_id: letter.record for letter in letters if letter.record}
        if not keys:
            return self._broker_call(self.broker._requeue_dead_letters, queue, message_ids)
        if message_ids is None:
            message_ids = [letter.message_id for letter in letters]
        requeued = self._broker_call(self.broker._requeue_dead_letters, queue, message_ids)
        for message_id in requeued:
            key = keys.get(message_id)
            if key is not None:
                self._revive_record(key)
        return requeued

    def _purge_dead_letters(self, queue: str) -> int:
        return self.broker._purge_dead_letters(queue)

    def _server_info(self) -> dict[str, str]:
        info = self.broker._server_info()
        info.update({f"state_{key}": value for key, value in self.state._server_info().items()})
        return info

    # state: the state node
    def _get(self, key: str) -> Record | None:
        return self.state._get(key)

    def _get_many(self, keys: list[str]) -> dict[str, Record]:
        return self.state._get_many(keys)

    def _transition(
        self, key: str, record: Record, ttl: float, expect: Expect
    ) -> tuple[bool, Record | None]:
        return self.state._transition(key, record, ttl, expect)

    def _transition_many(
        self, items: list[tuple[str, Record, float, Expect]]
    ) -> list[tuple[bool, Record | None]]:
        return self.state._transition_many(items)

    def _delete(self, key: str) -> None:
        self.state._delete(key)

    def _heartbeat(self, worker_id: str, info: bytes, ttl: float) -> None:
        self.state._heartbeat(worker_id, info, ttl)

    def _live_workers(self) -> dict[str, bytes]:
        return self.state._live_workers()

    def _remove_worker(self, worker_id: str) -> None:
        self.state._remove_worker(worker_id)

    def _now(self) -> float:  # the records' clock: what schedules on them is timed by it
        return self.state._now()
