"""The ``arbiter-periodic`` thread of a running minion: fires each periodic task when due.

Every minion serving the app runs one; there is no beat process to keep single.
Each thread waits on the run's stopping Event until the next tick is due (a
wait with a deadline, not a poll), then fires every due task through the claim
(:mod:`~arbiter_core.periodic.claim`), which lets exactly one minion's firing of
a tick through. A minion that wakes late (suspended, overloaded) fires only the
latest due tick, not a burst of the ones it slept through.

At start, a task with ``missed="run_once"`` whose latest due tick is later than
its last-fired record fires that tick once (through the same claim, so minions
starting together fire it once). A task that never fired has missed nothing:
its first start fires nothing from the past. With ``missed="skip"`` only ticks
from the start on are fired.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from arbiter_core.errors import BrokerError
from arbiter_core.periodic.claim import LastFired, fire, last_fired_key
from arbiter_core.periodic.table import RUN_ONCE, PeriodicTable, PeriodicTask

if TYPE_CHECKING:  # the minion imports this package: no import of it at run time
    from arbiter_core.minion.run_context import RunContext

log = logging.getLogger("arbiter.periodic")

LONGEST_WAIT = 60.0
"""Seconds the thread waits at most before reading the wall clock again: a tick an hour
away is still fired on time after the clock was stepped (NTP, a resumed laptop)."""


class Ticker:
    """Fires ``table``'s due ticks for one run until ``stopping`` is set."""

    def __init__(
        self, context: RunContext, table: PeriodicTable, stopping: threading.Event
    ) -> None:
        self.context = context
        self.table = table
        self.stopping = stopping
        self._thread = threading.Thread(target=self._run, name="arbiter-periodic", daemon=True)

    def start(self) -> None:
        """Start the thread, if there is anything to fire."""
        if len(self.table):
            self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread to end (once ``stopping`` is set, it ends at once)."""
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self._fire_until_stopped()
        except BaseException:  # a bug: say it where the operator looks, then end the thread
            log.exception("the periodic ticker stopped: this minion fires no periodic task")
            raise

    def _fire_until_stopped(self) -> None:
        started = time.time()
        tasks = list(self.table)
        due = {task.name: task.schedule.next_after(started) for task in tasks}
        for task in tasks:
            if task.missed == RUN_ONCE:
                self._catch_up(task, started)
        while not self.stopping.is_set():
            now = time.time()
            soonest = min(due.values())
            if soonest > now:
                self.stopping.wait(min(soonest - now, LONGEST_WAIT))
                continue
            for task in tasks:
                if due[task.name] <= now and not self.stopping.is_set():
                    self._fire(task, task.schedule.latest_at(now))
                    due[task.name] = task.schedule.next_after(now)

    def _catch_up(self, task: PeriodicTask, now: float) -> None:
        """Fire the latest due tick once if it passed while no minion fired it."""
        try:
            record = self.context.node.get(last_fired_key(task.name))
        except BrokerError as exc:
            log.warning("periodic task %s: cannot read when it last fired: %s", task.name, exc)
            return
        last = LastFired.read(record, self.context.wire)
        if last is None:
            return  # never fired (or so long ago its record expired): nothing was missed
        latest = task.schedule.latest_at(now)
        if latest > last.tick:
            log.info("periodic task %s missed tick %s: firing it once", task.name, latest)
            self._fire(task, latest)

    def _fire(self, task: PeriodicTask, tick: float) -> None:
        """One claim; a broker error loses this minion's try, and another minion may win it."""
        try:
            fire(self.context, task, tick)
        except BrokerError as exc:
            log.warning("periodic task %s: cannot fire tick %s: %s", task.name, tick, exc)
