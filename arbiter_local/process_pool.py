"""A process pool that can time out or kill one call by terminating its process.

Each slot is a supervisor thread in this process plus one child process joined
by a pipe. The supervisor sends the pickled call, waits for the reply (a blocking
``poll`` bounded by the call's timeout), and on a timeout or kill terminates the
child and starts a fresh one, so one hung task never takes the pool down.

Start method: ``forkserver`` where the platform has it (Linux, macOS), else
``spawn``, unless ``mp_context`` names another. Never the platform default
``fork``: this process runs threads (the slots' supervisors, a Minion's lanes, a
broker's listener...), and a child forked from a multi-threaded process may inherit a
lock some other thread held, and deadlock; Python 3.12+ warns about exactly that, and
3.14 stops forking by default. A forkserver child is forked from a small
single-threaded server process instead. The server is told to preload this module
(added to, not replacing, any preload list the program set), so a child starts
with it already imported: on a 2-core Linux box with Python 3.11, a pool of 2 was
ready in about 16 ms, against 115 ms without the preload and 160 ms with
``spawn`` (``fork``: 5 ms); the first pool also starts the server (about 160 ms). Like
``spawn``, a child does not copy the parent's memory: functions and arguments
travel pickled by reference, so the child imports the function's module (and
imports the main script again, as ``__mp_main__``: give it an
``if __name__ == "__main__":`` guard, as for :mod:`concurrent.futures`). The child
takes the parent's ``sys.path``, working directory and (here, for the forkserver)
environment as they were when the child started. A call that the child cannot
load, or a child that dies while starting, fails that task with a message saying
so. ``mp_context="fork"`` still works, for a program that knows it has no threads.

Each fresh child says when it is ready; the call's timeout runs from then, so a
slow start (imports) does not eat into it, though a start that takes longer than
the timeout times the call out. Children ignore SIGINT: on Ctrl-C the parent
decides what to stop and kills them.
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
from arbiter_local.job import Job
from arbiter_local.pickling import dumps_call

_TERMINATE_GRACE = 1.0  # seconds between SIGTERM and SIGKILL for a process being stopped
_READY = b"ready"  # a fresh child's first message: it is running and can take a call


def default_context() -> BaseContext:
    """The start method used when the caller names none: forkserver, else spawn.

    See the module docstring for why never ``fork``.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


def _preload_in_forkserver(context: BaseContext) -> None:
    """Add this module to what the forkserver imports once, before it forks any child.

    Without it each child imports arbiter itself (~100 ms). The list only matters
    when the server starts; an entry the server cannot import is skipped by it.
    """
    import multiprocessing.forkserver  # noqa: PLC0415 - not on every platform

    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    preload = getattr(server, "_preload_modules", None)
    if not isinstance(preload, list) or __name__ in preload:
        return  # an implementation we do not know, or done already
    context.set_forkserver_preload([*preload, __name__])


def _child_main(
    conn: Connection, inherited: list[Connection], environ: dict[str, str] | None
) -> None:
    """Worker process loop: run calls until the parent closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for other in inherited:  # fork copies the parent's ends of every pipe; drop them so
        other.close()  # each child sees EOF when the parent goes away
    if environ is not None:  # a forkserver child has the server's, from its start
        os.environ.clear()
        os.environ.update(environ)
    try:
        conn.send_bytes(_READY)
    except OSError:
        return
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
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which names the task
        return pickle.dumps((None, f"{type(exc).__name__}: {exc}"))
    try:
        outcome: tuple[bool, Any] = (True, fn(*args, **kwargs))
    except BaseException as exc:  # noqa: BLE001 - the task's failure is its result
        _keep_traceback(exc)
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


def _keep_traceback(error: BaseException) -> None:
    """Carry the child's traceback as text: pickling keeps an exception's attributes but
    drops its ``__traceback__``, and the parent logs and stores ``traceback_text``."""
    if getattr(error, "traceback_text", None) is None:
        with contextlib.suppress(AttributeError, TypeError):  # a type that takes no attributes
            error.traceback_text = "".join(traceback.format_exception(error))  # type: ignore[attr-defined]


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
        self.ready = False  # the child has said it is running (see _await_ready)
        self.job: Job | None = None
        self.thread = threading.Thread(
            target=self._supervise, name=f"arbiter-process-slot-{index}", daemon=True
        )

    def start_process(self) -> None:
        ctx = self._pool.context
        parent_end, child_end = ctx.Pipe(duplex=True)
        method = ctx.get_start_method()
        inherited: list[Connection] = []
        if method == "fork":
            inherited = [parent_end, *self._pool.parent_ends()]
        environ = dict(os.environ) if method == "forkserver" else None
        process = ctx.Process(  # type: ignore[attr-defined]  # concrete contexts have it
            target=_child_main,
            args=(child_end, inherited, environ),
            name=f"arbiter-process-{self._index}",
            daemon=True,
        )
        process.start()
        child_end.close()
        self.process, self.conn, self.ready = process, parent_end, False

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

    def _run(self, job: Job) -> None:
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
        starting = not self.ready
        started = time.monotonic()
        try:
            if starting and self._await_ready(job.timeout):
                starting, started = False, time.monotonic()
            if not starting:
                self.conn.send_bytes(payload)
                if _poll(self.conn, job.timeout):
                    reply = self.conn.recv_bytes()
                    settle(*self._outcome(job, reply))
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
            if starting:
                error = WorkerLostError(
                    f"the worker process for task {job.label!r} died (exit code {code}) while "
                    "starting, before it could run the task; its error output says why (a "
                    "common cause: a main script without an `if __name__ == '__main__':` "
                    f"guard, which every {self._pool.context.get_start_method()} worker "
                    "imports again)"
                )
            else:
                error = WorkerLostError(
                    f"the process running task {job.label!r} died (exit code {code}) "
                    "before it reported a result"
                )
        self.stop_process()
        settle(future.set_exception, error)

    def _await_ready(self, timeout: float | None) -> bool:
        """Wait for a fresh child's ready message; False if ``timeout`` passed first.

        Raises EOFError or OSError if the child died on the way.
        """
        assert self.conn is not None
        if not _poll(self.conn, timeout):
            return False
        if self.conn.recv_bytes() != _READY:
            raise OSError("the worker process broke the protocol")
        self.ready = True
        return True

    def _outcome(self, job: Job, reply: bytes) -> tuple[Callable[[Any], None], Any]:
        """How to settle ``job``'s future with the child's ``reply``."""
        future = job.future
        try:
            ok, value = pickle.loads(reply)
        except Exception as exc:  # noqa: BLE001 - pickles in the child, not here
            return future.set_exception, SerializationError(
                f"the outcome of task {job.label!r} cannot be unpickled back from "
                f"the worker process ({type(exc).__name__}: {exc})"
            )
        if ok is None:  # the child could not unpickle the call: ``value`` says why
            return future.set_exception, SerializationError(
                f"task {job.label!r} cannot run in a process: the worker process could not "
                f"load the call to {_dotted(job.fn)} ({value}). A "
                f"{self._pool.context.get_start_method()} worker imports the function, and "
                "the classes of its arguments, by name: define them at the top level of an "
                "importable module, or of the main script outside its "
                "`if __name__ == '__main__':` block (not in an interactive session), "
                "or run the task on threads"
            )
        return (future.set_result if ok else future.set_exception), value


def _dotted(fn: Any) -> str:
    module = getattr(fn, "__module__", None)
    name = getattr(fn, "__qualname__", None) or repr(fn)
    return f"{module}.{name}" if module else name


class ProcessPool:
    """:class:`~arbiter_core.pool.WorkerPool` on child processes (``processes=True``).

    ``mp_context`` (a start method's name or a multiprocessing context) defaults to
    :func:`default_context`: forkserver, else spawn.
    """

    def __init__(self, slots: int, *, mp_context: BaseContext | str | None = None) -> None:
        if not isinstance(slots, int) or isinstance(slots, bool) or slots < 1:
            raise ValueError(f"a pool needs at least one slot, got {slots!r}")
        self.slots = slots
        if mp_context is None:
            self.context: BaseContext = default_context()
        elif isinstance(mp_context, str):
            self.context = multiprocessing.get_context(mp_context)
        else:
            self.context = mp_context
        if self.context.get_start_method() == "forkserver":
            _preload_in_forkserver(self.context)
        self.jobs: SimpleQueue[Job | None] = SimpleQueue()
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
        job = Job(fn, args, kwargs, timeout, label)
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot submit to a pool that was shut down")
            if not self._slots:
                self._start()
        self.jobs.put(job)
        return job.future

    def _start(self) -> None:
        # Start every child from this thread before any supervisor runs: they start
        # side by side, and under fork copy no lock held by one of our own threads.
        slots = self._slots = [_Slot(self, i) for i in range(self.slots)]
        try:
            for slot in slots:
                slot.start_process()
        except BaseException:  # no half-started pool: submit raises, shutdown has nothing
            self._slots = []
            for slot in slots:
                slot.stop_process()
            raise
        for slot in slots:
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
