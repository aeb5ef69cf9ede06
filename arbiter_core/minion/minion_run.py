"""One ``Minion.run``: the parts of a serving minion, assembled, started and stopped.

The life cycle, and where each step lives:

1. :mod:`~arbiter_core.minion.lanes`: one lane per slot pulls a message when free.
2. :mod:`~arbiter_core.minion.starting`: decode, check, gate, hand to the pool.
3. :mod:`~arbiter_core.minion.keeper`: leases and the heartbeat are renewed.
4. :mod:`~arbiter_core.minion.outcome`: the outcome (or a retry) is stored, the
   waiter woken, follow-ups (:mod:`~arbiter_core.minion.follow_ups`) pushed,
   and only then the message acked.
5. :mod:`~arbiter_core.minion.control`: kills arrive as control events;
   :mod:`~arbiter_core.minion.burials`: tasks the backend buried are logged;
   :mod:`~arbiter_core.periodic.ticker`: periodic tasks are fired when due.
6. :mod:`~arbiter_core.minion.shutdown`: a stop drains within the grace period
   and gives the rest back; a cold stop gives it back at once.

What it tells: :mod:`~arbiter_core.minion.task_log` logs each task's end,
:mod:`~arbiter_core.minion.counts` tallies them for the heartbeat.

Each run has its own state (nothing is shared between runs or minions); the
in-flight map (:mod:`~arbiter_core.minion.inflight`) is the one record of what
it holds.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time

from arbiter_core import records
from arbiter_core.backoff import Backoff
from arbiter_core.errors import BrokerError
from arbiter_core.minion.burials import BurialWatch
from arbiter_core.minion.control import Control
from arbiter_core.minion.follow_ups import Advance, FollowUps
from arbiter_core.minion.inflight import InFlightTasks
from arbiter_core.minion.keeper import Keeper
from arbiter_core.minion.lanes import Lanes
from arbiter_core.minion.outcome import Outcomes
from arbiter_core.minion.registry import TaskRegistry
from arbiter_core.minion.run_context import RunContext
from arbiter_core.minion.shutdown import Shutdown
from arbiter_core.minion.starting import Starter
from arbiter_core.node import Claim
from arbiter_core.periodic.table import PeriodicTable
from arbiter_core.periodic.ticker import Ticker
from arbiter_core.pool import WorkerPool
from arbiter_core.rpc import DEFAULT_RPC_WORKERS, RpcFunctions, RpcServer

log = logging.getLogger("arbiter.minion")

CONNECT_BACKOFF = (0.5, 10.0)
"""Base and cap, in seconds, of the waits between tries to reach a broker at start."""


class MinionRun:
    """The state of one run: slots, lanes, in-flight tasks, the keeper; nothing shared."""

    def __init__(
        self,
        context: RunContext,
        tasks: TaskRegistry,
        advance: Advance,
        pool: WorkerPool,
        *,
        slots: int,
        grace: float,
        pool_name: str = "",
        rpc: RpcFunctions | None = None,
        rpc_workers: int = DEFAULT_RPC_WORKERS,
        periodic: PeriodicTable | None = None,
    ) -> None:
        self.context = context
        self.pool_name = pool_name
        self.node = context.node
        self.tasks = tasks
        self.slots = slots
        self.grace = grace
        self.started_at = time.time()
        self.stopping = threading.Event()
        self.inflight = InFlightTasks()
        # Pulls move a task's record to running with the lease (on backends that can),
        # so a start costs no round trip of its own.
        claim = Claim(records.RUNNING, records.CLAIMABLE, context.settings.result_ttl)
        self.outcomes = Outcomes(context, FollowUps(context, advance), claim)
        self.shutdown = Shutdown(self.outcomes, self.inflight, pool)
        starter = Starter(
            tasks, self.outcomes, self.inflight, pool,
            stopping=self.stopping, give_back=self.shutdown.give_back,
        )  # fmt: skip
        self.lanes = Lanes(starter, self.inflight, self.stopping, on_crash=self.stop)
        self.keeper = Keeper(
            context.node, context.worker_id, context.settings.lease,
            leased=self.inflight.leased, info=self.heartbeat_info, busy=self.inflight.busy,
            after_beat=self.describe_running,
        )  # fmt: skip
        self.inflight.on_change = self.keeper.changed  # workers() sees busy slots at once
        self.control = Control(context, self.inflight, pool, watch=self.keeper.watch)
        # RPC calls run on threads of their own, never in a task slot (see arbiter_core.rpc)
        self.rpc = RpcServer(
            context,
            RpcFunctions() if rpc is None else rpc,
            workers=rpc_workers,
            stopping=self.stopping,
        )
        self.burials = BurialWatch(context, self.outcomes.counts)
        self.periodic = PeriodicTable() if periodic is None else periodic
        self.ticker = Ticker(context, self.periodic, self.stopping)

    @property
    def crashed(self) -> BaseException | None:
        """What stopped a lane (a bug in arbiter), raised again by :meth:`run`."""
        return self.lanes.crashed

    def run(self) -> None:
        """Serve until :meth:`stop`; then drain, and give back what did not finish.

        A broker that does not answer yet is waited for (see :meth:`_reach_broker`),
        so a minion may start before its broker, as under a process manager.
        """
        context = self.context
        if not self._reach_broker():
            self.rpc.stop()
            self.burials.close()
            self.control.close()
            return  # stopped before the broker ever answered: nothing else to clean up
        self.keeper.start()
        self.ticker.start()  # after the first beat: the table is published before a tick
        context.registry.notify(
            "arbiter_minion_started",
            worker_id=context.worker_id,
            queue=context.queue,
            slots=self.slots,
            pool=self.pool_name,
            node=context.node,
            settings=context.settings,
        )
        try:
            self.lanes.start(self.slots)
            self.stopping.wait()  # this (main) thread stays free for signals and the drain
        finally:
            try:
                self.stop()
                self.shutdown.drain(self.grace)
                self.lanes.wait_until_exited()
            finally:
                self.rpc.stop()
                self.ticker.join()  # ends at once: it waits on ``stopping``
                self.keeper.stop()
                self.burials.close()
                self.control.close()
                self.node.remove_worker(context.worker_id)
                context.registry.notify(
                    "arbiter_minion_stopped", worker_id=context.worker_id, queue=context.queue
                )
        if self.crashed is not None:
            raise self.crashed

    def _reach_broker(self) -> bool:
        """Beat once, retrying with capped backoff until the broker answers; False if the
        run was stopped first. Each failed try is logged with the wait before the next."""
        backoff = Backoff(*CONNECT_BACKOFF)
        url = self.context.node.url
        while not self.stopping.is_set():
            try:
                # All before the first beat: a minion listed live hears kills (a kill
                # broadcast the moment ``workers()`` lists it is not missed) and serves rpc.
                self.control.listen()
                self.burials.listen()
                self.rpc.start()
                self.keeper.beat()
            except BrokerError as exc:
                wait = backoff.next()
                log.warning(
                    "cannot reach the broker at %s (try %d: %s); retrying in %.1fs",
                    url, backoff.failures, exc, wait,
                )  # fmt: skip
                self.stopping.wait(wait)
                continue
            if backoff.failures:
                log.info("reached the broker at %s after %d tries", url, backoff.failures + 1)
            return True
        return False

    def stop(self) -> None:
        """Stop pulling; in-flight tasks get the grace period (see :meth:`run`)."""
        self.stopping.set()
        self.inflight.notify()

    def stop_now(self) -> None:
        """Stop pulling and give back what still runs without waiting (a cold stop).

        Called on a second signal, from the ``arbiter-signals`` thread.
        """
        self.shutdown.go_cold()
        self.stop()

    def describe_running(self) -> None:
        """Give tasks whose record a pull claimed their full running record (start time,
        worker). The keeper calls this after each beat and each change it publishes (see
        :mod:`~arbiter_core.minion.keeper`): a start costs its lane no round trip, and a
        running task shows who runs it since when, a moment after it started."""
        for item in self.inflight.undescribed():
            self.node.transition(
                records.task_key(item.envelope.id),
                self.outcomes.record(item.envelope, records.RUNNING, started_at=item.started_at),
                ttl=self.outcomes.settings.result_ttl,
                expect=(records.RUNNING,),
            )

    def heartbeat_info(self) -> bytes:
        """The heartbeat's payload, a JSON object, as ``Arbiter.workers()`` reads it.

        ``id``, ``host``, ``pid``; ``queue`` served; ``pool`` (its name) and ``slots``;
        ``busy`` (slots running a task now); ``tasks`` (registered names);
        ``started_at`` and ``beat_at`` (``time.time()`` of the run's start and of
        this beat); ``signing``, ``{"on": bool, "keys": int}`` (how many secrets
        verify, never the secrets); ``periodic`` (only when it has any), the periodic
        tasks it fires, as ``arbiter periodic`` lists them; ``rpc`` (only when it has
        any), the names of the RPC functions it answers; ``counts``, how this run's tasks ended so
        far: ``{"succeeded", "failed", "retried", "dead", "cancelled"}`` → int;
        ``recent_failures``, the last ten failed tasks, oldest first:
        ``{"id", "task", "error", "at"}`` (``error`` is ``Type: message``, ``at`` a
        ``time.time()``).
        """
        periodic = (
            {"periodic": self.periodic.published(self.context.queue)} if self.periodic else {}
        )
        rpc = {"rpc": sorted(self.rpc.functions)} if len(self.rpc.functions) else {}
        wire = self.context.wire
        return json.dumps(
            {
                "id": self.context.worker_id,
                "queue": self.context.queue,
                "pool": self.pool_name,
                "slots": self.slots,
                "busy": self.inflight.busy(),
                "tasks": sorted(self.tasks),
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "started_at": self.started_at,
                "beat_at": time.time(),
                "signing": {"on": wire.signing, "keys": wire.verifying_keys},
                **self.outcomes.counts.snapshot(),
                **periodic,
                **rpc,
            }
        ).encode()
