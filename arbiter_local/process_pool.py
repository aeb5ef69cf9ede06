"""A process pool that can time out or kill one call by terminating its process.

Each slot is a supervisor thread in this process plus one child process joined
by a pipe. The supervisor sends the pickled call, waits for the reply (a blocking
``poll`` bounded by the call's timeout), and on a timeout or kill terminates the
child and starts a fresh one, so one hung task never takes the pool down.

The start method is multiprocessing's default for the platform (as for
``concurrent.futures.ProcessPoolExecutor``) unless ``mp_context`` says otherwise.
Children ignore SIGINT: on Ctrl-C the parent decides what to stop and kills them.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from queue import SimpleQueue
from typing import Any

from arbiter_core.deadlines import MAX_WAIT
from arbiter_core.errors import (
    RemoteTaskError,
    SerializationError,
    TaskCancelledError,
    TaskTimeoutError,
    WorkerLostError,
)
from arbiter_core.futures import settle
from arbiter_local.pickling import dumps_call

_TERMINATE_GRACE = 1.0  # seconds between SIGTERM and SIGKILL for a process being stopped


class _Job:
    __slots__ = ("args", "fn", "future", "kill_reason", "kwargs", "label", "timeout")

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        timeout: float | None,
        label: str,
    ) -> None:
        self.future: Future[Any] = Future()
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.timeout = timeout
        self.label = label
        self.kill_reason: str | None = None


def _child_main(conn: Connection, inherited: list[Connection]) -> None:
    """Worker process loop: run calls until the parent closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for other in inherited:  # fork copies the parent's ends of every pipe; drop them so
        other.close()  # each child sees EOF when the parent goes away
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        reply = _run_call(data)
        try:
            conn.send_bytes(reply)
        except (BrokenPipeError, OSError):
            return


def _run_call(data: bytes) -> bytes:
    try:
        fn, args, kwargs = pickle.loads(data)
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        return pickle.dumps(
            (False, SerializationError(f"the worker process could not unpickle the call: {exc!r}"))
        )
    try:
        outcome: tuple[bool, Any] = (True, fn(*args, **kwargs))
    except BaseException as exc:  # noqa: BLE001 - the task's failure is its result
        outcome = (False, exc)
    try:
        reply = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        if not outcome[0]:
            pickle.loads(reply)  # an exception that pickles but cannot be rebuilt
        return reply
    except Exception as exc:  # noqa: BLE001 - replaced by a describable error
        if outcome[0]:
            error: BaseException = SerializationError(
                f"the return value of {getattr(fn, '__qualname__', fn)!r} cannot be pickled "
                f"back from the worker process ({type(exc).__name__}: {exc})"
            )
        else:
            original = outcome[1]
            error = RemoteTaskError(
                type(original).__name__,
                str(original),
                "".join(traceback.format_exception(original)),
            )
        return pickle.dumps((False, error))


def _poll(conn: Connection, timeout: float | None) -> bool:
    """``conn.poll(timeout)`` for any timeout: the OS caps one wait at about 24 days."""
    if timeout is None:
        return conn.poll(None)
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if conn.poll(max(0.0, min(remaining, MAX_WAIT))):
            return True
        if remaining <= MAX_WAIT:
            return False


class _Slot:
    """One child process and the supervisor thread that feeds it."""

    def __init__(self, pool: ProcessPool, index: int) -> None:
        self._pool = pool
        self._index = index
        self.process: multiprocessing.process.BaseProcess | None = None
        self.conn: Connection | None = None
        self.job: _Job | None = None
        self.thread = threading.Thread(
            target=self._supervise, name=f"arbiter-process-slot-{index}", daemon=True
        )

    def start_process(self) -> None:
        ctx = self._pool.context
        parent_end, child_end = ctx.Pipe(duplex=True)
        inherited: list[Connection] = []
        if ctx.get_start_method() == "fork":
            inherited = [parent_end, *self._pool.parent_ends()]
        process = ctx.Process(  # type: ignore[attr-defined]  # concrete contexts have it
            target=_child_main,
            args=(child_end, inherited),
            name=f"arbiter-process-{self._index}",
            daemon=True,
        )
        process.start()
        child_end.close()
        self.process, self.conn = process, parent_end

    def stop_process(self) -> None:
        """Terminate the child (SIGTERM, then SIGKILL) and reap it."""
        process, conn = self.process, self.conn
        self.process = self.conn = None
        if conn is not None:
            conn.close()
        if process is None:
            return
        if process.is_alive():
            process.terminate()
            process.join(_TERMINATE_GRACE)
            if process.is_alive():
                process.kill()
        process.join()

    def kill_running(self) -> None:
        """Kill the child mid-call; the supervisor sees EOF and reports the job."""
        process = self.process
        if process is not None and process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)

    def _supervise(self) -> None:
        jobs = self._pool.jobs
        while True:
            job = jobs.get()
            if job is None:
                break
            self.job = job  # before it runs, so that kill() finds every running job
            if not job.future.set_running_or_notify_cancel():
                self.job = None
                continue
            try:
                self._run(job)
            except Exception as exc:  # noqa: BLE001 - a dead supervisor would hang the caller
                self.stop_process()
                settle(job.future.set_exception, exc)
            finally:
                self.job = None
        self.stop_process()

    def _run(self, job: _Job) -> None:
        future = job.future
        try:
            payload = dumps_call(job.label, job.fn, job.args, job.kwargs)
        except SerializationError as exc:
            settle(future.set_exception, exc)
            return
        if self.process is None or not self.process.is_alive():
            self.stop_process()
            self.start_process()
        # A kill or shutdown(cancel=True) that came while no process could be
        # signalled (between jobs, or while one was being started) must still win.
        reason = job.kill_reason or self._pool.cancel_reason
        if reason is not None:
            settle(future.set_exception, TaskCancelledError(job.label, reason))
            return
        assert self.conn is not None
        started = time.monotonic()
        try:
            self.conn.send_bytes(payload)
            if _poll(self.conn, job.timeout):
                reply = self.conn.recv_bytes()
                try:
                    ok, value = pickle.loads(reply)
                except Exception as exc:  # noqa: BLE001 - pickles in the child, not here
                    ok, value = (
                        False,
                        SerializationError(
                            f"the outcome of task {job.label!r} cannot be unpickled back from "
                            f"the worker process ({type(exc).__name__}: {exc})"
                        ),
                    )
                settle(future.set_result if ok else future.set_exception, value)
                return
        except (EOFError, OSError):
            pass  # the child died: killed, crashed or OOM-killed
        if job.kill_reason is not None:
            error: BaseException = TaskCancelledError(job.label, job.kill_reason)
        elif job.timeout is not None and time.monotonic() - started >= job.timeout:
            error = TaskTimeoutError(job.label, job.timeout)
        else:
            code = self.process.exitcode if self.process is not None else None
            if self.process is not None and code is None:
                self.process.join(_TERMINATE_GRACE)
                code = self.process.exitcode
            error = WorkerLostError(
                f"the process running task {job.label!r} died (exit code {code}) "
                "before it reported a result"
            )
        self.stop_process()
        settle(future.set_exception, error)


class ProcessPool:
    """:class:`~arbiter_core.pool.WorkerPool` on child processes (``processes=True``)."""

    def __init__(self, slots: int, *, mp_context: BaseContext | str | None = None) -> None:
        if not isinstance(slots, int) or isinstance(slots, bool) or slots < 1:
            raise ValueError(f"a pool needs at least one slot, got {slots!r}")
        self.slots = slots
        if isinstance(mp_context, str) or mp_context is None:
            self.context: BaseContext = multiprocessing.get_context(mp_context)
        else:
            self.context = mp_context
        self.jobs: SimpleQueue[_Job | None] = SimpleQueue()
        self._lock = threading.Lock()
        self._slots: list[_Slot] = []
        self._closed = False
        self.cancel_reason: str | None = None  # set by shutdown(cancel=True)

    def parent_ends(self) -> list[Connection]:
        """This side's pipe ends, which a forked child must close."""
        return [s.conn for s in self._slots if s.conn is not None]

    def submit(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        label: str = "",
    ) -> Future[Any]:
        job = _Job(fn, args, kwargs or {}, timeout, label or getattr(fn, "__name__", "call"))
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot submit to a pool that was shut down")
            if not self._slots:
                self._start()
        self.jobs.put(job)
        return job.future

    def _start(self) -> None:
        # Fork every child from this thread before any supervisor runs, so the
        # children copy no lock held by one of our own threads.
        self._slots = [_Slot(self, i) for i in range(self.slots)]
        for slot in self._slots:
            slot.start_process()
        for slot in self._slots:
            slot.thread.start()

    def kill(self, future: Future[Any]) -> bool:
        if future.cancel():
            return True
        for slot in self._slots:
            job = slot.job
            if job is not None and job.future is future and not future.done():
                job.kill_reason = "killed while running"
                slot.kill_running()
                return True
        return False

    def shutdown(self, *, cancel: bool = False) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if cancel:
            self.cancel_reason = "the pool was shut down"
            while not self.jobs.empty():
                job = self.jobs.get_nowait()
                if job is not None:
                    job.future.cancel()
            for slot in self._slots:
                job = slot.job
                if job is not None and not job.future.cancel():
                    job.kill_reason = self.cancel_reason
                    slot.kill_running()
        for _ in self._slots:
            self.jobs.put(None)
        for slot in self._slots:
            slot.thread.join()
