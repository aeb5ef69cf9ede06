"""The Minion: registers tasks and runs them from a queue, on any EventNode."""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import timedelta, tzinfo
from typing import TYPE_CHECKING, Any, TypeVar, overload

from arbiter_core import composition
from arbiter_core.endpoint import Endpoint, NodeLike
from arbiter_core.errors import TaskDefinitionError
from arbiter_core.minion.banner import log_banner
from arbiter_core.minion.minion_run import MinionRun
from arbiter_core.minion.registry import TaskRegistry, default_task_name
from arbiter_core.minion.run_context import RunContext
from arbiter_core.minion.stop_signals import StopSignals
from arbiter_core.minion.task_function import P, R, TaskFunction, plain_function
from arbiter_core.node import require_name
from arbiter_core.periodic.schedule import parse_schedule
from arbiter_core.periodic.table import (
    TICK_KEYWORD,
    Missed,
    PeriodicTable,
    PeriodicTask,
    check_missed,
    takes_tick,
)
from arbiter_core.plugins import PluginRegistry
from arbiter_core.retry import RetryPolicy
from arbiter_core.rpc import DEFAULT_RPC_WORKERS, RpcFunctions
from arbiter_core.task import Seconds
from arbiter_core.task_priority import task_level
from arbiter_core.wire import Envelope

if TYPE_CHECKING:
    from arbiter_core.client import Arbiter

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("arbiter.minion")

DEFAULT_GRACE = 30.0
"""Seconds a stopping minion lets in-flight tasks finish before requeueing them."""


class Minion(Endpoint):
    """A worker: ``@app.task`` registers functions, ``app.run(workers=N)`` serves a queue.

    ``event_node`` is an :class:`~arbiter_core.node.EventNode`, a broker URL, or
    None for the configured broker (``ARBITER_BROKER_URL``, ``pyproject.toml``,
    else ``memory://``). Settings not given here come from the configuration.
    """

    def __init__(
        self,
        event_node: NodeLike = None,
        queue: str = "default",
        *,
        registry: PluginRegistry | None = None,
        **settings: Any,
    ) -> None:
        super().__init__(event_node, registry=registry, **settings)
        self.queue = require_name(queue, "queue")
        self.tasks = TaskRegistry(queue, self.wire.limits)  # names held to this minion's limit
        self.periodic_table = PeriodicTable()
        """What :meth:`periodic` scheduled; every running minion of the app fires it."""
        self.rpc_functions = RpcFunctions()
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._run: MinionRun | None = None
        self._lock = threading.Lock()
        self._arbiter: Arbiter | None = None  # see arbiter(): built on first use
        self._arbiter_lock = threading.Lock()

    @overload
    def task(self, name: Callable[P, R], /) -> TaskFunction[P, R]: ...

    @overload
    def task(
        self,
        name: str | None = None,
        *,
        retries: int = 0,
        delay: Seconds | None = None,
        timeout: Seconds | None = None,
        retry: RetryPolicy | None = None,
        priority: int = 0,
        rate_limit: str | float | None = None,
    ) -> Callable[[Callable[P, R]], TaskFunction[P, R]]: ...

    def task(
        self,
        name: str | Callable[..., Any] | None = None,
        *,
        retries: int = 0,
        delay: Seconds | None = None,
        timeout: Seconds | None = None,
        retry: RetryPolicy | None = None,
        priority: int = 0,
        rate_limit: str | float | None = None,
    ) -> Any:
        """Register the decorated function under ``name`` (default: ``module.qualname``).

        ``retries`` further attempts after a failure, each ``delay`` later, or a
        :class:`~arbiter_core.retry.RetryPolicy` as ``retry`` (backoff, cap,
        jitter); ``timeout`` bounds each attempt. ``rate_limit`` (``"100/m"``,
        ``"20/s"``, ``"5/h"``) caps how often the task starts, across every minion
        (see :mod:`arbiter_core.rate_limit`); a task waiting for its turn holds no
        worker slot. ``async def`` functions are run on an event loop of their own.
        ``priority`` (0 to 9, higher first) is the
        level ``add.delay()`` and ``add.apply()`` queue it at unless they pass one
        (``Arbiter.apply`` by name does not know it: pass ``priority=`` there).

        Returns a :class:`~arbiter_core.minion.task_function.TaskFunction`: callable
        exactly as the function (which stays its ``__wrapped__``), and also
        ``add.delay(1, 2)`` / ``add.apply(args=..., kwargs=..., queue=...)``, which
        queue it through :meth:`arbiter` and return a handle (``.get(timeout)``).
        """
        if callable(name):  # used bare: @app.task
            return self._register_task(name, None)
        level = task_level(priority, name)

        def register(function: Callable[P, R]) -> TaskFunction[P, R]:
            registered = self._register_task(
                function, name, retries=retries, delay=delay, timeout=timeout, retry=retry,
                rate_limit=rate_limit,
            )  # fmt: skip
            registered.priority = level
            return registered

        return register

    def periodic(
        self,
        cron: str | None = None,
        *,
        every: timedelta | float | None = None,
        tz: str | tzinfo = "UTC",
        name: str | None = None,
        missed: Missed = "skip",
        queue: str | None = None,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        retries: int = 0,
        delay: Seconds | None = None,
        timeout: Seconds | None = None,
        retry: RetryPolicy | None = None,
        rate_limit: str | float | None = None,
    ) -> Callable[[Callable[P, R]], TaskFunction[P, R]]:
        """Register the decorated function as a task (as :meth:`task` does, with the same
        ``name``, ``retries``, ``delay``, ``timeout``, ``retry`` and ``rate_limit``) fired
        on a schedule.

        Give a ``cron`` expression (``"*/5 * * * *"``, read in the zone ``tz``: an IANA
        name or a ``tzinfo``) or ``every`` (seconds or a timedelta, at least 1 s; the
        ticks fall on multiples of it since the Unix epoch). Each tick is fired exactly
        once across every running minion of the app, with ``args`` and ``kwargs``, on
        ``queue`` (default: the queue the firing minion serves); a function with a
        ``tick`` parameter gets the tick there (a ``time.time()`` float). ``missed``
        says what a minion starting after ticks nobody fired does: ``"skip"`` them, or
        fire the latest one once (``"run_once"``). See :mod:`arbiter_core.periodic`.
        Mistakes (a bad cron expression, both or neither of ``cron`` and ``every``)
        raise :class:`~arbiter_core.errors.TaskDefinitionError` here.
        """
        policy = check_missed(missed, "@app.periodic")
        if queue is not None:
            require_name(queue, "queue")
        call_args, call_kwargs = tuple(args), dict(kwargs or {})

        def register(function: Callable[P, R]) -> TaskFunction[P, R]:
            if not callable(function):
                raise TaskDefinitionError(f"a task must be callable, got {function!r}")
            task_name = self.tasks.check_name(name or default_task_name(function))
            what = f"periodic task {task_name!r}"
            schedule = parse_schedule(cron, every, tz, what)
            passes_tick = takes_tick(plain_function(function))
            if passes_tick and TICK_KEYWORD in call_kwargs:
                raise TaskDefinitionError(
                    f"{what}: kwargs holds {TICK_KEYWORD!r}, which the tick is passed as"
                )
            entry = PeriodicTask(
                task_name, schedule, policy, queue, call_args, call_kwargs, passes_tick
            )
            # arguments that would not encode fail here, naming the argument, not at a tick
            self.wire.encode(
                Envelope(task_name, call_args, entry.call_kwargs(0.0), queue=queue or self.queue)
            )
            self.periodic_table.check(entry)
            registered = self._register_task(
                function, task_name, retries=retries, delay=delay, timeout=timeout, retry=retry,
                rate_limit=rate_limit,
            )  # fmt: skip
            self.periodic_table.add(entry)
            return registered

        return register

    def _register_task(
        self, function: Callable[P, R], name: str | None, **options: Any
    ) -> TaskFunction[P, R]:
        if not callable(function):
            raise TaskDefinitionError(f"a task must be callable, got {function!r}")
        name = name or default_task_name(function)
        if name in self.tasks:  # the same function again: new options, the same object
            existing = self.tasks.get(name).function
            if isinstance(existing, TaskFunction) and function in (existing, existing.__wrapped__):
                self.tasks.register(existing, name, **options)
                return existing
        wrapped = TaskFunction(function, name, self)
        self.tasks.register(wrapped, name, **options)
        return wrapped

    def arbiter(self) -> Arbiter:
        """This app's Arbiter, what ``task.delay()`` queues through: built on first use,
        on this minion's own node (borrowed, so no connection of its own) and settings;
        the same object every time, closed by :meth:`close`. Inside a task this minion
        runs, it queues on the running minion's node."""
        with self._arbiter_lock:
            if self._arbiter is None:
                from arbiter_core.client import Arbiter  # noqa: PLC0415 - a client only if asked

                settings = asdict(self.settings)
                del settings["broker_url"], settings["namespace"]  # the node's own
                self._arbiter = Arbiter(self.node, registry=self.registry, **settings)
            return self._arbiter

    def close(self) -> None:
        """Close this app's Arbiter (if built), then the node if the minion opened it."""
        with self._arbiter_lock:
            arbiter, self._arbiter = self._arbiter, None
        try:
            if arbiter is not None:
                arbiter.close()
        finally:
            super().close()

    def run(
        self,
        workers: int = 1,
        *,
        pool: str = "thread",
        grace: float = DEFAULT_GRACE,
        handle_signals: bool = True,
        queue: str | None = None,
        rpc_workers: int = DEFAULT_RPC_WORKERS,
    ) -> None:
        """Serve the queue with ``workers`` slots until stopped; blocks.

        ``pool`` names a registered worker pool (``thread``, ``process``, or a
        plugin's); ``queue`` serves another queue than the minion's own for this
        run (``arbiter minion --queue``). SIGTERM and SIGINT (when called from
        the main thread), or :meth:`stop` from another thread, stop it
        gracefully: no new pulls, in-flight tasks get ``grace`` seconds, and what
        is still running then is requeued for another minion. A second signal
        (or ``stop(cold=True)``) requeues what still runs at once. Functions
        registered with :meth:`rpc` are served meanwhile on ``rpc_workers``
        threads of their own, apart from the task slots.
        """
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"workers must be an int >= 1, got {workers!r}")
        served = self.queue if queue is None else require_name(queue, "queue")
        with self._lock:
            if self._run is not None:
                raise RuntimeError("this minion is already running")
            context = RunContext(
                self.node, self.wire, self.settings, served, self.worker_id, self.registry
            )
            self._run = MinionRun(
                context,
                self.tasks,
                functools.partial(composition.advance, self),
                self.registry.create_pool(pool, workers),
                slots=workers,
                grace=grace,
                pool_name=pool,
                rpc=self.rpc_functions,
                rpc_workers=rpc_workers,
                periodic=self.periodic_table,
            )
        log_banner(
            self.worker_id, self.node, self.settings,
            queue=served, pool=pool, slots=workers, tasks=self.tasks,
            periodic=self.periodic_table.published(served),
            rate_limits=self.tasks.rate_limits(),
            rpc=self.rpc_functions, rpc_workers=rpc_workers,
        )  # fmt: skip
        try:
            with self._signals_stop(handle_signals):
                self._run.run()
        finally:
            with self._lock:
                self._run = None
        log.info("minion %s stopped", self.worker_id)

    def stop(self, *, cold: bool = False) -> None:
        """Ask a running :meth:`run` to stop; returns at once.

        Gracefully by default (in-flight tasks get the grace period); ``cold``:
        what still runs is requeued now, for another minion.
        """
        with self._lock:
            run = self._run
        if run is None:
            return
        if cold:
            run.stop_now()
        else:
            run.stop()

    def rpc(self, name: str | None = None) -> Callable[[F], F]:
        """Register the decorated function as an RPC function named ``name`` (default:
        ``module.qualname``), called with ``Arbiter.rpc(name, ...)`` while :meth:`run` lasts.

        A call is answered at most once, by one minion serving the queue, on the RPC
        threads (``run(rpc_workers=...)``), never in a task slot. Stack it with
        :meth:`task` to offer one function both ways. Also usable bare: ``@app.rpc``.
        """
        if callable(name):  # used bare: @app.rpc
            function = name
            self.rpc_functions.register(function, default_task_name(function))
            return function

        def register(function: F) -> F:
            self.rpc_functions.register(function, name or default_task_name(function))
            return function

        return register

    @contextmanager
    def _signals_stop(self, enabled: bool) -> Iterator[None]:
        """SIGTERM/SIGINT: the first stops gracefully, a second one stops cold (see
        :mod:`~arbiter_core.minion.stop_signals`, which misses none)."""
        if not enabled or threading.current_thread() is not threading.main_thread():
            yield
            return
        with StopSignals(lambda cold: self.stop(cold=cold)):
            yield
