"""A thread pool whose calls can time out or be killed without starving the pool.

Python cannot stop a thread. When a call times out or is killed, its future is
settled at once (``TaskTimeoutError`` / ``TaskCancelledError``), the thread is
*abandoned* (it exits as soon as the function returns, its result discarded) and
a replacement thread takes the slot. Threads are daemons, so an abandoned call
that never returns does not keep the interpreter alive.

It is also an :class:`~arbiter_core.pool.InlinePool`: a call can run on the thread
that asks (a Minion's lane), under the same timeouts and kills; an abandoned caller
is told through ``on_abandon``, and its replacement is the caller's to start. One
implementation of timeouts and abandonment serves both ways of running.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from queue import Empty, SimpleQueue
from typing import Any

from arbiter_core.deadlines import DeadlineWatch
from arbiter_core.errors import TaskCancelledError, TaskTimeoutError
from arbiter_core.futures import settle
from arbiter_core.pool import Call
from arbiter_local.job import Job


class ThreadPool:
    """:class:`~arbiter_core.pool.InlinePool` on threads: the default for local runs."""

    def __init__(self, slots: int, *, name: str = "arbiter-thread") -> None:
        if not isinstance(slots, int) or isinstance(slots, bool) or slots < 1:
            raise ValueError(f"a pool needs at least one slot, got {slots!r}")
        self.slots = slots
        self._name = name
        self._jobs: SimpleQueue[Job | None] = SimpleQueue()
        self._lock = threading.Lock()
        self._all_exited = threading.Condition(self._lock)
        self._threads: set[threading.Thread] = set()  # live, not abandoned
        self._idle = threading.Semaphore(0)  # released by a thread about to wait for work
        self._running: dict[Future[Any], Job] = {}
        self._watch = DeadlineWatch(f"{name}-deadlines")
        self._closed = False
        self._cancelled = False  # set by shutdown(cancel=True)
        self._spawned = 0

    def submit(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        label: str = "",
    ) -> Future[Any]:
        job = Job(fn, args, kwargs, timeout, label)
        with self._lock:
            self._check_open()
            self._jobs.put(job)
            # As in concurrent.futures: a new thread when none is idle, up to the slots.
            # Threads all started up front would leave a burst of short calls to one
            # of them (the one running keeps the GIL and drains the queue).
            if len(self._threads) < self.slots and not self._idle.acquire(blocking=False):
                self._spawn()
        return job.future

    def prepare_here(self, call: Call) -> Future[Any]:
        job = Job(call.fn, call.args, call.kwargs, call.timeout, call.label)
        with self._lock:
            self._check_open()
        self._running[job.future] = job
        return job.future

    def run_here(self, future: Future[Any], on_abandon: Callable[[], None]) -> bool:
        job = self._running.get(future)
        if job is None:
            if future.done():  # killed before it ran; kill() forgot it already
                return True
            raise ValueError("run_here() takes a future that prepare_here() returned")
        job.thread = threading.current_thread()
        job.on_abandon = on_abandon  # before it runs: a kill may come at any moment now
        if self._cancelled or not future.set_running_or_notify_cancel():
            future.cancel()
            self._running.pop(future, None)
            return True
        won = self._call(job)
        if won:
            self._running.pop(future, None)
        return won

    def kill(self, future: Future[Any]) -> bool:
        if future.cancel():
            self._running.pop(future, None)
            return True
        job = self._running.get(future)
        if job is None:
            return False
        return self._abandon(job, TaskCancelledError(job.label, "killed while running"))

    def shutdown(self, *, cancel: bool = False) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._cancelled = cancel
            threads = list(self._threads)
        if cancel:
            while not self._jobs.empty():
                job = self._jobs.get_nowait()
                if job is not None:
                    job.future.cancel()
            for job in list(self._running.values()):
                if not job.future.cancel():
                    self._abandon(job, TaskCancelledError(job.label, "the pool was shut down"))
        for _ in threads:
            self._jobs.put(None)
        if not cancel:
            # Wait for the live workers, not for abandoned threads that may never return.
            with self._all_exited:
                self._all_exited.wait_for(lambda: not self._threads)
        self._watch.stop()

    # ------------------------------------------------------------------ internals
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("cannot submit to a pool that was shut down")

    def _spawn(self) -> None:
        """Start one worker thread; the caller holds ``self._lock``."""
        self._spawned += 1
        thread = threading.Thread(
            target=self._work, name=f"{self._name}-{self._spawned}", daemon=True
        )
        self._threads.add(thread)
        thread.start()

    def _abandon(self, job: Job, error: BaseException) -> bool:
        """Settle a running call with ``error`` and give its slot to a fresh thread."""
        if not settle(job.future.set_exception, error):
            return False
        self._running.pop(job.future, None)
        if job.on_abandon is not None:  # its caller's thread: the caller replaces it
            job.on_abandon()
            return True
        with self._lock:
            if job.thread is not None:
                self._threads.discard(job.thread)
            self._spawn()  # even when closing: queued work still needs a thread
        return True

    def _expire(self, job: Job) -> None:
        assert job.timeout is not None
        self._abandon(job, TaskTimeoutError(job.label, job.timeout))

    def _call(self, job: Job) -> bool:
        """Run a started job on this thread under its deadline; False if it was abandoned."""
        deadline = None
        if job.timeout is not None:
            deadline = self._watch.add(
                time.monotonic() + job.timeout, functools.partial(self._expire, job)
            )
        future = job.future
        try:
            value = job.fn(*job.args, **job.kwargs)
        except BaseException as exc:  # noqa: BLE001 - delivered through the future
            won = settle(future.set_exception, exc)
        else:
            won = settle(future.set_result, value)
        if deadline is not None:
            self._watch.cancel(deadline)
        return won

    def _work(self) -> None:
        me = threading.current_thread()
        jobs = self._jobs
        running = self._running
        while True:
            try:
                job = jobs.get_nowait()
            except Empty:
                self._idle.release()  # a submit may now count on this thread
                job = jobs.get()
            if job is None:
                with self._lock:
                    self._threads.discard(me)
                    self._all_exited.notify_all()
                return
            future = job.future
            job.thread = me
            running[future] = job  # before it runs, so that kill() finds every running job
            if self._cancelled or not future.set_running_or_notify_cancel():
                future.cancel()  # shutdown(cancel=True) came after this job was dequeued
                running.pop(future, None)
                continue
            if not self._call(job):
                return  # timed out or killed meanwhile: a replacement holds the slot
            running.pop(future, None)
            del job, future
