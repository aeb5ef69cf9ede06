"""Lanes: one thread per slot that pulls a message, runs it, stores its outcome, takes the next.

Guarantees:

* A lane pulls only while it is free, so a minion never holds more leases than
  it has slots; finishing a task and taking the next message are one call (one
  round trip on Redis).
* Whatever goes wrong with one message stays with that message (see
  :mod:`~arbiter_core.minion.starting` and :mod:`~arbiter_core.minion.outcome`):
  a broker error leaves it to its lease, anything else dead-letters it with the
  reason, and the lane goes on. While the broker keeps failing, a lane backs off
  (capped) instead of spinning.
* A lane stuck in a task that timed out or was killed is abandoned (Python cannot
  stop a thread): the pool settles the task's future, and a new lane stores its
  outcome and takes the slot.
* A lane ends only with the run, or on a bug in arbiter itself, which is logged
  at CRITICAL and stops the minion.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import wait

from arbiter_core.backoff import Backoff
from arbiter_core.errors import BrokerError
from arbiter_core.minion.describe import describe
from arbiter_core.minion.inflight import InFlight, InFlightTasks
from arbiter_core.minion.starting import Starter
from arbiter_core.node import Delivery
from arbiter_core.pool import InlinePool

log = logging.getLogger("arbiter.minion")

PULL_WAIT = 1.0
"""Seconds one blocking pull waits before the loop re-checks whether it should stop."""
PULL_BACKOFF = (0.1, 5.0)
"""Base and cap, in seconds, of the waits between pulls while the broker keeps failing."""


class Lanes:
    """The lane threads of one run; ``crashed`` holds what stopped one (a bug)."""

    def __init__(
        self,
        starter: Starter,
        inflight: InFlightTasks,
        stopping: threading.Event,
        on_crash: Callable[[], None],
    ) -> None:
        context = starter.context
        self.node = context.node
        self.queue = context.queue
        self.lease = context.settings.lease
        self.starter = starter
        self.outcomes = starter.outcomes
        self.claim = starter.outcomes.claim
        self.inflight = inflight
        self.stopping = stopping
        self.on_crash = on_crash
        self.inline: InlinePool | None = starter.inline
        self.crashed: BaseException | None = None
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Condition()

    def start(self, count: int) -> None:
        for _ in range(count):
            self._spawn()

    def wait_until_exited(self) -> None:
        """Until every lane has left (abandoned ones, stuck in a task, are not waited for)."""
        with self._lock:
            self._lock.wait_for(lambda: not self._threads)

    # ------------------------------------------------------------------ one lane
    def _spawn(self, first: InFlight | None = None) -> None:
        """Start a lane; ``first``: the abandoned task whose outcome it stores first."""
        lane = threading.Thread(target=self._lane, args=(first,), daemon=True)
        lane.name = f"arbiter-lane-{id(lane):x}"
        with self._lock:
            self._threads.add(lane)
        lane.start()

    def _lane(self, first: InFlight | None) -> None:
        try:
            self._serve(first)
        except BaseException as exc:  # a bug, not the broker: stop the minion, loudly
            log.critical(
                "a worker lane crashed: this is a bug in arbiter, please report it with "
                "this traceback; stopping the minion",
                exc_info=True,
            )
            self.crashed = exc
            self.on_crash()
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())
                self._lock.notify_all()

    def _serve(self, first: InFlight | None) -> None:
        """One slot: pull a message, run it, store its outcome while taking the next."""
        backoff = Backoff(*PULL_BACKOFF)
        deliveries = [] if first is None else self._finish(first)
        while not self.stopping.is_set():
            if not deliveries:
                try:
                    deliveries = self.node.pull_and_claim(
                        self.queue, timeout=PULL_WAIT, lease=self.lease, claim=self.claim
                    )
                except BrokerError as exc:  # the node reconnects; back off rather than die
                    wait_for = backoff.next()
                    log.warning("pull failed (%s); retrying in %.1fs", exc, wait_for)
                    self.stopping.wait(wait_for)
                    continue
                if backoff.failures:
                    log.info("pulls from queue %r work again: the broker is back", self.queue)
                    backoff.reset()
                continue
            if self.stopping.is_set():
                break
            item = self.starter.begin(deliveries.pop(0))
            if item is None:
                continue
            if not item.inline:
                wait([item.future])
            elif not self._run_here(item):
                return  # abandoned (timed out or killed): a new lane took this slot
            deliveries += self._finish(item)
        for unstarted in deliveries:
            try:
                self.node.nack(unstarted)
            except BrokerError as exc:  # its lease runs out instead
                log.warning("could not release message %s (%s)", unstarted.message_id, exc)

    def _run_here(self, item: InFlight) -> bool:
        assert self.inline is not None
        return self.inline.run_here(item.future, functools.partial(self._abandoned, item))

    def _abandoned(self, item: InFlight) -> None:
        """The pool gave up on the task this lane runs: a new lane stores it, takes the slot.

        The old lane runs on inside the function and exits when it returns, its
        result discarded.
        """
        with self._lock:
            if item.lane is not None:
                self._threads.discard(item.lane)
                self._lock.notify_all()
        self._spawn(first=item)

    def _finish(self, item: InFlight) -> list[Delivery]:
        """Store the outcome of a finished task; the next messages, if that took any."""
        try:
            if not self.inflight.requeued(item):
                return self.outcomes.settle(item, take_next=not self.stopping.is_set())
        except BrokerError:  # the lease runs out and another minion retries
            log.exception("could not store the outcome of task %s", item.envelope.id)
        except Exception as exc:  # it would fail again: this message only
            log.exception("could not store the outcome of task %s", item.envelope.id)
            reason = f"its outcome could not be stored: {describe(exc)}"
            self.starter.reject(item.delivery, item.envelope, reason, advance=True)
        finally:
            self.inflight.remove(item)
        return []
