"""The Minion: registers tasks and runs them from a queue, on any EventNode."""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

from arbiter_core import composition
from arbiter_core.endpoint import Endpoint, NodeLike
from arbiter_core.minion.banner import log_banner
from arbiter_core.minion.minion_run import MinionRun
from arbiter_core.minion.registry import TaskRegistry
from arbiter_core.minion.run_context import RunContext
from arbiter_core.node import require_name
from arbiter_core.plugins import PluginRegistry
from arbiter_core.retry import RetryPolicy
from arbiter_core.task import Seconds

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
        self.tasks = TaskRegistry(queue)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._run: MinionRun | None = None
        self._lock = threading.Lock()

    def task(
        self,
        name: str | None = None,
        *,
        retries: int = 0,
        delay: Seconds | None = None,
        timeout: Seconds | None = None,
        retry: RetryPolicy | None = None,
    ) -> Callable[[F], F]:
        """Register the decorated function under ``name`` (default: ``module.qualname``).

        ``retries`` further attempts after a failure, each ``delay`` later, or a
        :class:`~arbiter_core.retry.RetryPolicy` as ``retry`` (backoff, cap,
        jitter); ``timeout`` bounds each attempt. ``async def`` functions are run
        on an event loop of their own.
        """
        if callable(name):  # used bare: @app.task
            function = name
            self.tasks.register(function)
            return function
        return self.tasks.decorator(
            name, retries=retries, delay=delay, timeout=timeout, retry=retry
        )

    def run(
        self,
        workers: int = 1,
        *,
        pool: str = "thread",
        grace: float = DEFAULT_GRACE,
        handle_signals: bool = True,
        queue: str | None = None,
    ) -> None:
        """Serve the queue with ``workers`` slots until stopped; blocks.

        ``pool`` names a registered worker pool (``thread``, ``process``, or a
        plugin's); ``queue`` serves another queue than the minion's own for this
        run (``arbiter minion --queue``). SIGTERM and SIGINT (when called from
        the main thread), or :meth:`stop` from another thread, stop it
        gracefully: no new pulls, in-flight tasks get ``grace`` seconds, and what
        is still running then is requeued for another minion. A second signal
        (or ``stop(cold=True)``) requeues what still runs at once.
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
            )
        log_banner(
            self.worker_id, self.node, self.settings,
            queue=served, pool=pool, slots=workers, tasks=self.tasks,
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

    @contextmanager
    def _signals_stop(self, enabled: bool) -> Iterator[None]:
        """SIGTERM/SIGINT: the first stops gracefully, a second one stops cold."""
        if not enabled or threading.current_thread() is not threading.main_thread():
            yield
            return
        received: list[int] = []

        def handler(signum: int, frame: FrameType | None) -> None:
            name = signal.Signals(signum).name
            received.append(signum)
            if len(received) == 1:
                log.info(
                    "received %s: stopping gracefully (send it again to requeue running "
                    "tasks and stop at once)",
                    name,
                )
                self.stop()
            elif len(received) == 2:
                log.warning("received %s again: cold shutdown, requeueing running tasks now", name)
                self.stop(cold=True)
            else:
                log.warning("received %s: already stopping cold", name)

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
