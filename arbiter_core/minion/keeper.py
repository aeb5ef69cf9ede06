"""The keeper: renews in-flight leases and the minion's heartbeat every third of a lease.

This is what keeps a long task from being run twice (its lease never runs out
while its minion is alive) and what lets a crashed minion's tasks come back
within one lease period (nobody renews them any more). It knows nothing of the
minion beyond the few callables it is given.

While someone watches (``arbiter top`` broadcasts a ``watch`` control event, see
:mod:`~arbiter_core.minion.control`), it beats every :data:`WATCH_INTERVAL`
instead, for at most :data:`WATCH_CAP` seconds, so the view stays fresh without
every idle minion beating fast for nobody.

Between timed beats, a **change** (a task admitted or finished: :meth:`Keeper.changed`)
makes it publish what readers see, without renewing leases: the heartbeat, if the busy
count differs from the one last published, and the description of tasks a pull claimed
(their worker and start time). So ``Arbiter.workers()`` and a running task's status are
stale by at most :data:`CHANGE_DELAY` plus one round trip, not a third of a lease;
squads are admitted on fresh free slots. Changes are coalesced: at most one such
publication per :data:`CHANGE_DELAY`, and none when nothing a reader sees has changed
(a busy lane that takes its next task in the same round trip keeps the count), so a
minion under load pays a bounded handful of round trips per second for it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

from arbiter_core.node import Delivery, EventNode

log = logging.getLogger("arbiter.minion")

WATCH_INTERVAL = 1.0
"""Seconds between beats while watched."""
WATCH_CAP = 60.0
"""The longest one ``watch`` request makes the keeper beat fast; a watcher asks again."""
CHANGE_DELAY = 0.05
"""Seconds between two publications of changes at most (see the module docstring)."""


class Keeper:
    """A daemon thread that beats until stopped; a broker error skips one beat, not all.

    ``leased()`` lists the deliveries held now, ``info()`` is the heartbeat's
    payload, ``busy()`` the count in it that changes, and ``after_beat()`` runs at
    the end of each beat (the run uses it to describe tasks whose record a pull
    claimed; it returns whether it had any).
    """

    def __init__(
        self,
        node: EventNode,
        worker_id: str,
        lease: float,
        *,
        leased: Callable[[], list[Delivery]],
        info: Callable[[], bytes],
        busy: Callable[[], int] = lambda: 0,
        after_beat: Callable[[], object] = lambda: None,
    ) -> None:
        self.node = node
        self.worker_id = worker_id
        self.lease = lease
        self.interval = lease / 3
        self.watched_until = 0.0
        """``time.monotonic()`` until which it beats every :data:`WATCH_INTERVAL`."""
        self._leased = leased
        self._info = info
        self._busy = busy
        self._after_beat = after_beat
        self._published_busy: int | None = None  # the busy count of the last heartbeat
        self._changed = False
        self._due = 0.0  # time.monotonic() of the next timed beat
        self._stopped = False
        self._wake = threading.Condition()  # a stop or a watch request ends the wait early
        self._thread = threading.Thread(target=self._run, name="arbiter-keeper", daemon=True)

    def start(self) -> None:
        self.beat()  # registered before the first task is pulled
        self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify_all()
        if self._thread.is_alive():
            self._thread.join()

    def watch(self, seconds: float) -> None:
        """Beat now, then every :data:`WATCH_INTERVAL` for ``seconds`` (capped at WATCH_CAP)."""
        if not math.isfinite(seconds) or seconds <= 0:
            raise ValueError(f"watch needs a positive number of seconds, got {seconds!r}")
        with self._wake:
            self.watched_until = time.monotonic() + min(seconds, WATCH_CAP)
            self._due = time.monotonic()
            self._wake.notify_all()

    def changed(self) -> None:
        """A task was admitted or finished: publish what readers see soon (coalesced)."""
        if self._changed:
            return  # already on its way: no lock, no wake-up, on the task's hot path
        with self._wake:
            self._changed = True
            self._wake.notify_all()

    def next_wait(self) -> float:
        """Seconds until the next beat: a third of the lease, or less while watched."""
        if time.monotonic() < self.watched_until:
            return min(self.interval, WATCH_INTERVAL)
        return self.interval

    def beat(self) -> None:
        leased = self._leased()
        if leased:
            held = self.node.renew(leased, self.lease)
            lost = [d for d, ok in zip(leased, held, strict=True) if not ok]
            if lost:  # a task that finished and was acked meanwhile is not lost
                still_running = {d.receipt for d in self._leased()}
                for delivery in lost:
                    if delivery.receipt in still_running:
                        log.warning(
                            "lost the lease of message %s: it may run twice (the final "
                            "state is written once)",
                            delivery.message_id,
                        )
        self._heartbeat()
        self._after_beat()

    def publish_change(self) -> None:
        """What a change shows readers: the heartbeat if the busy count moved, and the
        description of newly claimed tasks. Leases are left to the timed beat."""
        if self._busy() != self._published_busy:
            self._heartbeat()
        self._after_beat()

    def _heartbeat(self) -> None:
        busy = self._busy()
        self.node.heartbeat(self.worker_id, self._info(), ttl=self.lease)
        self._published_busy = busy

    def _run(self) -> None:
        with self._wake:
            self._due = time.monotonic() + self.next_wait()
        while True:
            with self._wake:
                while not self._stopped and not self._changed and time.monotonic() < self._due:
                    self._wake.wait(self._due - time.monotonic())
                if self._stopped:
                    return
                change_only = time.monotonic() < self._due
                self._changed = False
            try:
                if change_only:
                    self.publish_change()
                else:
                    self.beat()
            except Exception:  # a broker hiccup: try again next beat, the lease has slack
                log.exception("keeper beat failed")
            finally:
                if not change_only:  # failed or not, the next timed beat is an interval away
                    with self._wake:
                        self._due = time.monotonic() + self.next_wait()
            if change_only:  # coalesce: changes meanwhile wait for the next publication
                with self._wake:
                    self._wake.wait_for(lambda: self._stopped, timeout=CHANGE_DELAY)
