"""``run_tasks``: run a dependency graph of tasks on a local thread or process pool."""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from concurrent.futures import CancelledError, Future
from multiprocessing.context import BaseContext
from queue import Empty, SimpleQueue
from typing import TYPE_CHECKING, Any

from arbiter_core.errors import (
    RunInterrupted,
    TaskCancelledError,
    TaskDefinitionError,
    TaskTimeoutError,
)
from arbiter_core.pool import WorkerPool
from arbiter_core.progress import progress_bar
from arbiter_core.result import Result
from arbiter_core.scheduler import Scheduler
from arbiter_core.task import Seconds, Task, to_seconds
from arbiter_local.process_pool import ProcessPool
from arbiter_local.thread_pool import ThreadPool

if TYPE_CHECKING:
    from tqdm import tqdm


SIGNAL_CHECK = 0.1
"""Longest wait, in seconds, of the run loop between two looks at pending signals.

A Ctrl-C can be lost to a thread blocked in a lock wait: the signal lands on another
thread, or just before the wait begins, and the main thread sleeps on. Waking this
often bounds how late the ``KeyboardInterrupt`` can be; it is not a poll for work."""


def run_tasks(
    tasks: Iterable[Task],
    max_workers: int = 1,
    processes: bool = False,
    *,
    timeout: Seconds | None = None,
    progress: bool | None = None,
    mp_context: BaseContext | str | None = None,
) -> dict[Hashable, Result]:
    """Run ``tasks`` in dependency order and return ``{name: Result}`` for every task.

    Tasks run on ``max_workers`` threads, or worker processes with
    ``processes=True`` (functions and arguments must then be picklable, and
    importable by a fresh interpreter; ``mp_context`` picks the start method,
    by default forkserver, else spawn, never fork: see
    :mod:`arbiter_local.process_pool`). Failures, unsatisfied or failed
    dependencies and timeouts all arrive as failed Results. ``timeout`` bounds the
    whole run: what has not finished by then gets a :class:`TaskTimeoutError`
    result, and the call returns.

    The exceptions that mean "stop" are not failures, as in the original arbiter:
    a task that raises ``SystemExit`` or ``KeyboardInterrupt`` is not retried, and
    ends the run as Ctrl-C does (below). ``SystemExit`` then propagates as itself;
    a ``KeyboardInterrupt`` arrives as :class:`~arbiter_core.errors.RunInterrupted`
    (a ``KeyboardInterrupt``, with the task's own exception as ``__cause__``).

    ``progress``: ``None`` shows a bar on stderr when it is a terminal and the run
    lasts over a second; ``True`` always, ``False`` never.

    Ctrl-C cancels what has not started, stops the pool (terminating worker
    processes) and raises :class:`~arbiter_core.errors.RunInterrupted`, a
    ``KeyboardInterrupt`` whose ``results`` holds what finished.

    Duplicate task names raise :class:`~arbiter_core.errors.DuplicateTaskError`
    before anything runs.
    """
    task_list = list(tasks)
    for task in task_list:
        if not isinstance(task, Task):
            raise TypeError(f"run_tasks() takes tasks made by create_task(), got {task!r}")
        if isinstance(task.function, str):
            raise TaskDefinitionError(
                f"task {task.name!r}: function {task.function!r} is the name of a task "
                f"registered on minions: run it with Arbiter.run_tasks(), or give "
                f"run_tasks() a callable"
            )
    if not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1:
        raise ValueError(f"max_workers must be an int >= 1, got {max_workers!r}")
    run_timeout = to_seconds(timeout, "run_tasks() timeout")
    scheduler = Scheduler(task_list)  # raises on duplicate names, before any pool starts
    if not task_list:
        return {}
    pool: WorkerPool = (
        ProcessPool(max_workers, mp_context=mp_context) if processes else ThreadPool(max_workers)
    )
    with progress_bar(len(task_list), progress) as bar:
        return _DagRun(scheduler, pool, run_timeout, bar).run()


class _DagRun:
    """The state of one ``run_tasks`` call; a fresh object per call, nothing shared."""

    def __init__(
        self, scheduler: Scheduler, pool: WorkerPool, timeout: float | None, bar: tqdm[Any]
    ) -> None:
        self.scheduler = scheduler
        self.pool = pool
        self.timeout = timeout
        self.bar = bar
        self.results: dict[Hashable, Result] = {}
        self.values: dict[Hashable, Any] = {}
        self.attempts: dict[Hashable, int] = {}
        self.first_start: dict[Hashable, float] = {}
        self.inflight: dict[Future[Any], Hashable] = {}
        self.finished: SimpleQueue[Future[Any]] = SimpleQueue()
        self.retries: list[tuple[float, int, Hashable]] = []  # (not before, tiebreak, name)
        self.sequence = itertools.count()

    def run(self) -> dict[Hashable, Result]:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        try:
            self._loop(deadline)
        except KeyboardInterrupt:  # Ctrl-C
            self.pool.shutdown(cancel=True)
            self._close_unfinished(lambda name: TaskCancelledError(name, "the run was interrupted"))
            raise RunInterrupted(self._ordered()) from None
        except _TaskStopped as stopped:
            self.pool.shutdown(cancel=True)
            error = stopped.error
            if isinstance(error, KeyboardInterrupt):  # ends the run as Ctrl-C does
                reason = f"task {stopped.task!r} raised KeyboardInterrupt"
                self._close_unfinished(lambda name: TaskCancelledError(name, reason))
                raise RunInterrupted(self._ordered()) from error
            raise error from None  # SystemExit, as the task raised it
        self.pool.shutdown(cancel=deadline is not None and self.scheduler.is_active())
        return self._ordered()

    def _loop(self, deadline: float | None) -> None:
        scheduler = self.scheduler
        finished = self.finished
        while True:
            for name, error in scheduler.get_blocked():
                self._record(name, False, error)
            for task in scheduler.get_ready():
                self._start(task)
            if not scheduler.is_active():
                return
            wake = self._next_wake(deadline)
            try:
                future = finished.get(
                    timeout=SIGNAL_CHECK if wake is None else max(0.0, min(wake, SIGNAL_CHECK))
                )
            except Empty:
                pass
            else:
                self._finish(future)
                while not finished.empty():  # drain what else finished, without blocking
                    self._finish(finished.get_nowait())
            # Checked on every pass, so a steady stream of completions cannot delay them.
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                self._expire_run()
                return
            if self.retries and self.retries[0][0] <= now:
                self._start_due_retries()

    def _next_wake(self, deadline: float | None) -> float | None:
        """Seconds until the next retry is due or the run's deadline, whichever is first."""
        times = [
            t for t in (deadline, self.retries[0][0] if self.retries else None) if t is not None
        ]
        return min(times) - time.monotonic() if times else None

    def _start(self, task: Task) -> None:
        name = task.name
        self.attempts[name] = self.attempts.get(name, 0) + 1
        self.first_start.setdefault(name, time.monotonic())
        args: tuple[Any, ...]
        kwargs: Mapping[str, Any]
        if task.uses_results:
            args, kwargs = task.bind_results(self.values)
        else:
            args, kwargs = task.args, task.kwargs
        label = name if isinstance(name, str) else repr(name)  # a pool labels with strings
        function = task.function
        assert callable(function)  # run_tasks() refused the tasks named by a string
        future = self.pool.submit(function, args, kwargs, timeout=task.timeout, label=label)
        self.inflight[future] = name
        future.add_done_callback(self.finished.put)

    def _finish(self, future: Future[Any]) -> None:
        name = self.inflight.pop(future, None)
        if name is None:
            return  # settled after the run gave up on it
        try:
            error = future.exception()
        except CancelledError:
            error = TaskCancelledError(name)
        if error is None:
            value = future.result()
            self.values[name] = value
            self._record(name, True, value)
            self.scheduler.done(name, True)
            return
        if isinstance(error, STOPPING):
            self._record(name, False, error)
            raise _TaskStopped(name, error)
        task = self.scheduler.tasks[name]
        attempt = self.attempts[name]
        if task.retry.allows(attempt):
            wait = task.retry.delay_after(attempt)
            if wait > 0:
                not_before = time.monotonic() + wait
                heapq.heappush(self.retries, (not_before, next(self.sequence), name))
            else:
                self._start(task)
            return
        self._record(name, False, error)
        self.scheduler.done(name, False)

    def _start_due_retries(self) -> None:
        now = time.monotonic()
        while self.retries and self.retries[0][0] <= now:
            _, _, name = heapq.heappop(self.retries)
            self._start(self.scheduler.tasks[name])

    def _expire_run(self) -> None:
        seconds = self.timeout or 0.0
        self._close_unfinished(lambda name: TaskTimeoutError(name, seconds, whole_run=True))

    def _close_unfinished(self, error_for: Callable[[Hashable], BaseException]) -> None:
        """Give every task without a Result a failed one, after settling what finished."""
        while not self.finished.empty():
            future = self.finished.get_nowait()
            name = self.inflight.get(future)
            if name is not None and not future.cancelled() and future.exception() is None:
                self.inflight.pop(future)
                self.values[name] = future.result()
                self._record(name, True, self.values[name])
        self.inflight.clear()
        self.retries.clear()
        for name in self.scheduler.tasks:
            if name not in self.results:
                self._record(name, False, error_for(name))

    def _record(self, name: Hashable, success: bool, value: Any) -> None:
        started = self.first_start.get(name)
        self.results[name] = Result(
            success,
            value,
            name=name,
            attempts=self.attempts.get(name, 0),
            duration=0.0 if started is None else time.monotonic() - started,
        )
        self.bar.update(1)

    def _ordered(self) -> dict[Hashable, Result]:
        return {name: self.results[name] for name in self.scheduler.tasks}


STOPPING = (KeyboardInterrupt, SystemExit)
"""What a task may raise to stop the run rather than fail: never retried; the run ends."""


class _TaskStopped(Exception):
    """Carries a task's KeyboardInterrupt or SystemExit from the run loop to ``run``.

    Not a KeyboardInterrupt itself, so that ``run`` tells it from a Ctrl-C that lands
    in the loop.
    """

    def __init__(self, task: Hashable, error: BaseException) -> None:
        super().__init__(task, error)
        self.task = task
        self.error = error
