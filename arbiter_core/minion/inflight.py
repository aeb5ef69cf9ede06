"""The tasks a minion's run holds leases for, behind one lock.

What the keeper renews, a kill looks up, the drain waits for and the heartbeat
counts is this one map, so they can never disagree about what is running. A task
is admitted only while the run is not stopping (checked under the same lock the
drain takes), so the drain sees every task that started.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from arbiter_core.minion.registry import TaskDefinition
from arbiter_core.node import Delivery
from arbiter_core.wire import Envelope


@dataclass
class InFlight:
    """A running task: its lease, its envelope and the pool's future."""

    delivery: Delivery
    envelope: Envelope
    definition: TaskDefinition
    future: Future[Any]
    started_at: float
    cancel: threading.Event | None = None  # set on kill, for in-process tasks to notice
    requeue: bool = False  # shutdown gave it back to the queue: store no outcome
    inline: bool = False  # the lane that started it runs it (the pool's run_here)
    lane: threading.Thread | None = None  # that lane
    described: bool = True  # False: a pull claimed the record; it lacks start time and worker


class KilledBeforeStart(Exception):
    """A kill came for a task before it was admitted here: it is not to run at all."""


EARLY_KILLS = 10_000
"""Kills remembered at most for tasks this run has not started (yet); the oldest go first."""
EARLY_KILL_TTL = 60.0
"""Seconds a kill for a task not running here is remembered: a pull that has just taken
the task's message, but not yet started it, finds the kill when it does."""


class InFlightTasks:
    """Task id → :class:`InFlight`; ``lock`` is also what a stopping run notifies.

    A kill that finds no task here is remembered for a while (:meth:`for_kill`): its
    message may have been pulled already, its record claimed, with the task about to
    start. :meth:`admit` checks for it under the same lock, so a kill is never lost
    between the pull and the start: the task is then not launched at all.
    """

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self._items: dict[str, InFlight] = {}
        self._early_kills: dict[str, float] = {}  # task id -> time.monotonic() of the kill
        self.on_change: Callable[[], None] = lambda: None
        """Called, outside the lock, after a task was admitted or removed (the keeper's
        :meth:`~arbiter_core.minion.keeper.Keeper.changed`)."""

    def admit(
        self, task_id: str, launch: Callable[[], InFlight], stopping: threading.Event
    ) -> InFlight | None:
        """Launch a task and add it, unless the run is stopping (the drain has begun: None).

        ``launch`` runs under the lock, so the drain, which takes it after the run
        started stopping, either sees the task or it was never launched; and so does a
        kill (:meth:`for_kill`): a task killed before this raises
        :class:`KilledBeforeStart` instead of being launched.
        """
        with self.lock:
            if stopping.is_set():
                return None
            if self._early_kills and self._take_early_kill(task_id):
                raise KilledBeforeStart(task_id)
            item = launch()
            self._items[item.envelope.id] = item
        self.on_change()
        return item

    def get(self, task_id: str) -> InFlight | None:
        with self.lock:
            return self._items.get(task_id)

    def for_kill(self, task_id: str) -> InFlight | None:
        """The running task a kill is for; if it is not running here, the kill is
        remembered for a start to come (see the class docstring)."""
        with self.lock:
            item = self._items.get(task_id)
            if item is None:
                self._early_kills[task_id] = time.monotonic()
                if len(self._early_kills) > EARLY_KILLS:
                    del self._early_kills[next(iter(self._early_kills))]
            return item

    def take_early_kill(self, task_id: str) -> bool:
        """Whether a kill came for ``task_id``, not running here (then forgotten): a task
        about to be sent back to the queue instead of started asks this."""
        with self.lock:
            return bool(self._early_kills) and self._take_early_kill(task_id)

    def _take_early_kill(self, task_id: str) -> bool:
        """Whether a kill came for ``task_id`` before it started here (then forgotten);
        the caller holds the lock."""
        at = self._early_kills.pop(task_id, None)
        return at is not None and time.monotonic() - at < EARLY_KILL_TTL

    def remove(self, item: InFlight) -> None:
        with self.lock:
            self._items.pop(item.envelope.id, None)
            self.lock.notify_all()
        self.on_change()

    def requeued(self, item: InFlight) -> bool:
        with self.lock:
            return item.requeue

    def busy(self) -> int:
        with self.lock:
            return len(self._items)

    def leased(self) -> list[Delivery]:
        with self.lock:
            return [item.delivery for item in self._items.values()]

    def undescribed(self) -> list[InFlight]:
        """Tasks whose record a pull claimed and nobody has described yet; now they are."""
        with self.lock:
            items = [i for i in self._items.values() if not i.described and not i.requeue]
            for item in items:
                item.described = True
        return items

    def wait_then_requeue(
        self, grace: float, cut_short: Callable[[], bool] = lambda: False
    ) -> list[InFlight]:
        """Wait up to ``grace`` seconds for every task to finish (or until ``cut_short()``
        holds when the lock is notified); mark the rest requeued."""
        with self.lock:
            self.lock.wait_for(lambda: not self._items or cut_short(), timeout=grace)
            leftovers = list(self._items.values())
            for item in leftovers:
                item.requeue = True
        return leftovers

    def notify(self) -> None:
        with self.lock:
            self.lock.notify_all()
