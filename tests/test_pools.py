"""ThreadPool and ProcessPool used directly, through the WorkerPool contract."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import CancelledError, Future
from pathlib import Path

import pytest
from support import live_processes, pid_alive, read_pid, wait_until, write_pid

from arbiter.exceptions import (
    SerializationError,
    TaskCancelledError,
    TaskTimeoutError,
    WorkerLostError,
)
from arbiter_core import WorkerPool
from arbiter_core.pool import Call, InlinePool
from arbiter_local import ProcessPool, ThreadPool

needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def add(a: int, b: int = 0) -> int:
    return a + b


def fail(message: str) -> None:
    raise ValueError(message)


def my_pid() -> int:
    return os.getpid()


def pid_then_sleep(path: str, seconds: float) -> None:
    write_pid(Path(path))
    time.sleep(seconds)


def exit_hard() -> None:
    os._exit(9)


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Blocked thread calls wait on this; set at teardown so their threads exit."""
    event = threading.Event()
    yield event
    event.set()


def blocker(release: threading.Event, started: threading.Event | None = None) -> str:
    if started is not None:
        started.set()
    release.wait(60)
    return "released"


@pytest.fixture
def thread_pool() -> Iterator[ThreadPool]:
    pool = ThreadPool(1)
    yield pool
    pool.shutdown(cancel=True)


@pytest.fixture
def process_pool() -> Iterator[ProcessPool]:
    pool = ProcessPool(1)
    yield pool
    pool.shutdown(cancel=True)


# ------------------------------------------------------------ both pools


@pytest.mark.parametrize("pool_type", [ThreadPool, ProcessPool])
def test_pools_implement_the_protocol(pool_type: type) -> None:
    pool = pool_type(2)
    try:
        assert isinstance(pool, WorkerPool)
        assert pool.slots == 2
    finally:
        pool.shutdown()


@pytest.mark.parametrize("pool_type", [ThreadPool, ProcessPool])
@pytest.mark.parametrize("slots", [0, -1, True, 1.5, "2", None])
def test_slots_are_validated(pool_type: type, slots: object) -> None:
    with pytest.raises(ValueError, match="slot"):
        pool_type(slots)


@pytest.mark.parametrize("pool_type", [ThreadPool, ProcessPool])
def test_submit_and_result(pool_type: type) -> None:
    pool = pool_type(2)
    try:
        futures = [pool.submit(add, (i,), {"b": 10}) for i in range(5)]
        assert [f.result(timeout=30) for f in futures] == [10, 11, 12, 13, 14]
        assert pool.submit(add, (1, 2)).result(timeout=30) == 3
        failing = pool.submit(fail, ("nope",))
        error = failing.exception(timeout=30)
        assert isinstance(error, ValueError) and str(error) == "nope"
        # A finished call cannot be killed.
        assert pool.kill(futures[0]) is False
    finally:
        pool.shutdown()


@pytest.mark.parametrize("pool_type", [ThreadPool, ProcessPool])
def test_submit_after_shutdown_raises(pool_type: type) -> None:
    pool = pool_type(1)
    pool.submit(add, (1,)).result(timeout=30)
    pool.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(add, (1,))
    pool.shutdown()  # a second shutdown is harmless
    never_started = pool_type(1)
    never_started.shutdown(cancel=True)
    with pytest.raises(RuntimeError):
        never_started.submit(add, (1,))


# ------------------------------------------------------------ ThreadPool


def test_thread_kill_pending_and_running(thread_pool: ThreadPool, release: threading.Event) -> None:
    started = threading.Event()
    running = thread_pool.submit(blocker, (release, started), label="blocker")
    pending = thread_pool.submit(add, (1,))
    assert started.wait(10)
    assert thread_pool.kill(pending) is True
    assert pending.cancelled()
    assert thread_pool.kill(running) is True
    error = running.exception(timeout=10)
    assert isinstance(error, TaskCancelledError)
    assert error.task == "blocker"
    assert not release.is_set()
    # The slot was handed to a new thread: work goes on while the old call still blocks.
    assert thread_pool.submit(add, (2, 3)).result(timeout=10) == 5
    assert thread_pool.kill(running) is False


def test_thread_kill_right_after_running(thread_pool: ThreadPool, release: threading.Event) -> None:
    """Once a future reports running, kill() must find it (no window where it says False)."""
    for _ in range(50):
        future = thread_pool.submit(blocker, (release,))
        spin_until_running(future)
        assert thread_pool.kill(future) is True
        assert isinstance(future.exception(timeout=10), TaskCancelledError)


def test_thread_timeout_replaces_the_slot(
    thread_pool: ThreadPool, release: threading.Event
) -> None:
    hung = thread_pool.submit(blocker, (release,), timeout=0.2)
    after = thread_pool.submit(add, (4,))
    error = hung.exception(timeout=10)
    assert isinstance(error, TaskTimeoutError)
    assert error.task == "blocker"  # the function's name when no label is given
    assert after.result(timeout=10) == 4
    assert not release.is_set()


def test_thread_shutdown_finishes_queued_work() -> None:
    pool = ThreadPool(1)
    done: list[int] = []
    futures = [pool.submit(done.append, (i,)) for i in range(20)]
    pool.shutdown(cancel=False)
    assert all(f.done() and not f.cancelled() for f in futures)
    assert done == list(range(20))


def test_thread_shutdown_cancel(release: threading.Event) -> None:
    pool = ThreadPool(1)
    started = threading.Event()
    running = pool.submit(blocker, (release, started))
    queued = [pool.submit(add, (i,)) for i in range(5)]
    assert started.wait(10)
    begun = time.monotonic()
    pool.shutdown(cancel=True)
    assert time.monotonic() - begun < 5  # does not wait for the blocked call
    assert isinstance(running.exception(timeout=5), TaskCancelledError)
    for future in queued:
        with pytest.raises(CancelledError):
            future.result(timeout=5)


def test_thread_shutdown_cancel_waits_for_nothing_even_if_never_released() -> None:
    pool = ThreadPool(2)
    never = threading.Event()
    futures = [pool.submit(never.wait, (5,)) for _ in range(3)]
    assert wait_until(lambda: sum(f.running() for f in futures) == 2, 10)
    pool.shutdown(cancel=True)
    assert all(f.done() for f in futures)
    never.set()


# ------------------------------------------------------------ ThreadPool, on the caller's thread


def test_only_the_thread_pool_runs_calls_inline() -> None:
    """The minion asks the pool what it can do; only an in-process pool can run here."""
    thread, process = ThreadPool(1), ProcessPool(1)
    try:
        assert isinstance(thread, InlinePool)
        assert not isinstance(process, InlinePool)
    finally:
        thread.shutdown()
        process.shutdown()


def test_run_here_runs_on_the_calling_thread(thread_pool: ThreadPool) -> None:
    future = thread_pool.prepare_here(Call(threading.get_ident))
    assert thread_pool.run_here(future, on_abandon=pytest.fail) is True
    assert future.result(timeout=0) == threading.get_ident()
    failing = thread_pool.prepare_here(Call(fail, ("boom",)))
    assert thread_pool.run_here(failing, on_abandon=pytest.fail) is True
    assert isinstance(failing.exception(timeout=0), ValueError)
    assert not thread_pool._threads, "no pool thread was started for calls run inline"


def test_run_here_times_out_and_abandons_the_caller(
    thread_pool: ThreadPool, release: threading.Event
) -> None:
    """The pool's own deadline settles the future at once and tells the caller to replace
    itself; the caller's thread learns it was abandoned when the function returns."""
    abandoned = threading.Event()
    future = thread_pool.prepare_here(Call(blocker, (release,), timeout=0.2, label="inline"))
    outcome: list[bool] = []
    caller = threading.Thread(
        target=lambda: outcome.append(thread_pool.run_here(future, abandoned.set))
    )
    caller.start()
    error = future.exception(timeout=10)
    assert isinstance(error, TaskTimeoutError) and error.task == "inline"
    assert abandoned.wait(10)
    release.set()
    caller.join(10)
    assert outcome == [False], "the abandoned caller no longer owns its slot"


def test_kill_running_inline_call(thread_pool: ThreadPool, release: threading.Event) -> None:
    started = threading.Event()
    abandoned = threading.Event()
    future = thread_pool.prepare_here(Call(blocker, (release, started), label="inline"))
    caller = threading.Thread(target=thread_pool.run_here, args=(future, abandoned.set))
    caller.start()
    assert started.wait(10)
    assert thread_pool.kill(future) is True
    assert isinstance(future.exception(timeout=10), TaskCancelledError)
    assert abandoned.wait(10)
    assert thread_pool.kill(future) is False
    release.set()
    caller.join(10)


def test_kill_before_run_here_means_it_never_runs(thread_pool: ThreadPool) -> None:
    ran: list[int] = []
    future = thread_pool.prepare_here(Call(ran.append, (1,)))
    assert thread_pool.kill(future) is True
    assert thread_pool.run_here(future, on_abandon=pytest.fail) is True
    assert future.cancelled() and ran == []


def test_shutdown_cancel_abandons_inline_calls(release: threading.Event) -> None:
    pool = ThreadPool(1)
    started = threading.Event()
    abandoned = threading.Event()
    future = pool.prepare_here(Call(blocker, (release, started)))
    caller = threading.Thread(target=pool.run_here, args=(future, abandoned.set))
    caller.start()
    assert started.wait(10)
    pool.shutdown(cancel=True)
    assert isinstance(future.exception(timeout=5), TaskCancelledError)
    assert abandoned.wait(5)
    with pytest.raises(RuntimeError):
        pool.prepare_here(Call(add, (1,)))
    release.set()
    caller.join(10)


def test_run_here_refuses_a_foreign_future(thread_pool: ThreadPool) -> None:
    with pytest.raises(ValueError, match="prepare_here"):
        thread_pool.run_here(Future(), on_abandon=pytest.fail)


# ------------------------------------------------------------ ProcessPool


def test_process_runs_elsewhere(process_pool: ProcessPool) -> None:
    assert process_pool.submit(my_pid).result(timeout=30) != os.getpid()


def test_process_serialization_error_arrives_through_the_future(
    process_pool: ProcessPool,
) -> None:
    future = process_pool.submit(lambda: 1, label="anonymous")
    error = future.exception(timeout=30)
    assert isinstance(error, SerializationError)
    assert "'anonymous'" in str(error)
    assert process_pool.submit(add, (1, 1)).result(timeout=30) == 2


def test_process_kill_pending_and_running(process_pool: ProcessPool, tmp_path: Path) -> None:
    pid_file = tmp_path / "running.pid"
    running = process_pool.submit(pid_then_sleep, (str(pid_file), 60), label="sleeper")
    pending = process_pool.submit(add, (1,))
    pid = read_pid(pid_file)
    assert process_pool.kill(pending) is True
    assert pending.cancelled()
    assert process_pool.kill(running) is True
    error = running.exception(timeout=10)
    assert isinstance(error, TaskCancelledError)
    assert error.task == "sleeper"
    assert wait_until(lambda: not pid_alive(pid), 10), "the killed process survived"
    # The slot gets a fresh process.
    new_pid = process_pool.submit(my_pid).result(timeout=30)
    assert new_pid != pid
    assert process_pool.kill(running) is False


def spin_until_running(future: Future[object], timeout: float = 10.0) -> None:
    """Busy-wait, to act in the first instant a future reports running."""
    deadline = time.monotonic() + timeout
    while not future.running():
        assert time.monotonic() < deadline, "the call never started"


def test_process_kill_right_after_running(process_pool: ProcessPool) -> None:
    """kill() of a running call always ends it, even while its process is being replaced."""
    for _ in range(100):
        future = process_pool.submit(time.sleep, (60,))
        spin_until_running(future)
        assert process_pool.kill(future) is True
        assert isinstance(future.exception(timeout=10), TaskCancelledError)


def test_process_timeout_terminates(process_pool: ProcessPool, tmp_path: Path) -> None:
    pid_file = tmp_path / "hung.pid"
    hung = process_pool.submit(pid_then_sleep, (str(pid_file), 60), timeout=1.0)
    error = hung.exception(timeout=30)
    assert isinstance(error, TaskTimeoutError)
    pid = read_pid(pid_file, timeout=0)
    assert wait_until(lambda: not pid_alive(pid), 10)
    assert process_pool.submit(add, (7,)).result(timeout=30) == 7


def test_process_worker_lost(process_pool: ProcessPool) -> None:
    error = process_pool.submit(exit_hard, label="crasher").exception(timeout=30)
    assert isinstance(error, WorkerLostError)
    assert "'crasher'" in str(error) and "9" in str(error)
    assert process_pool.submit(add, (5,)).result(timeout=30) == 5


def descendant_pids() -> set[int]:
    """Live (non-zombie) descendants of this process, from /proc.

    Worker processes are the forkserver's children, not ours: a pool's processes
    are the descendants it adds.
    """
    children: dict[int, list[int]] = {}
    for pid, parent in live_processes().items():
        children.setdefault(parent, []).append(pid)
    found: set[int] = set()
    todo = [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


@pytest.fixture
def before() -> set[int]:
    """This process's descendants once the start method's helpers (forkserver...) run."""
    warm = ProcessPool(1)
    warm.submit(add, (1,)).result(timeout=30)
    warm.shutdown()
    return descendant_pids()


@needs_proc
def test_process_shutdown_cancel_leaves_no_child(tmp_path: Path, before: set[int]) -> None:
    pool = ProcessPool(2)
    files = [tmp_path / "a.pid", tmp_path / "b.pid"]
    running = [pool.submit(pid_then_sleep, (str(f), 60)) for f in files]
    queued = [pool.submit(add, (i,)) for i in range(3)]
    pids = [read_pid(f) for f in files]
    assert descendant_pids() - before >= set(pids)
    begun = time.monotonic()
    pool.shutdown(cancel=True)
    assert time.monotonic() - begun < 10
    for future in running:
        assert isinstance(future.exception(timeout=5), TaskCancelledError)
    for future in queued:
        assert future.cancelled()
    assert descendant_pids() - before == set()
    assert not any(pid_alive(pid) for pid in pids)


@needs_proc
def test_process_shutdown_finishes_queued_work(before: set[int]) -> None:
    pool = ProcessPool(2)
    futures: list[Future[int]] = [pool.submit(add, (i, 1)) for i in range(10)]
    pool.shutdown(cancel=False)
    assert [f.result(timeout=0) for f in futures] == list(range(1, 11))
    assert descendant_pids() - before == set()


def test_process_pool_that_fails_to_start_leaves_nothing_half_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A child that cannot be started fails the submit; shutdown then has nothing to join."""
    from arbiter_local import process_pool

    real_start = process_pool._Slot.start_process
    started: list[object] = []

    def second_fails(slot: process_pool._Slot) -> None:
        if started:
            raise OSError("no more processes")
        started.append(slot)
        real_start(slot)

    monkeypatch.setattr(process_pool._Slot, "start_process", second_fails)
    pool = ProcessPool(2)
    with pytest.raises(OSError, match="no more processes"):
        pool.submit(add, (1,))
    pool.shutdown(cancel=True)  # before the fix: "cannot join thread before it is started"
    [slot] = started
    assert slot.process is None, "the child that did start was stopped again"  # type: ignore[attr-defined]
