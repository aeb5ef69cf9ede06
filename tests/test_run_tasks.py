"""run_tasks end to end: results, retries, delays, timeouts, processes and progress."""

from __future__ import annotations

import io
import itertools
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from support import pid_alive, read_pid, wait_until, write_pid

from arbiter import Result, Task, create_task, result_of, run_tasks
from arbiter.exceptions import (
    DuplicateTaskError,
    FailedDependencyError,
    RemoteTaskError,
    RunInterrupted,
    SerializationError,
    TaskCancelledError,
    TaskDefinitionError,
    TaskTimeoutError,
    UnsatisfiedDependencyError,
    WorkerLostError,
)

# ------------------------------------------------------------ task functions
# Module level, so that they pickle for processes=True.


def add(a: int, b: int) -> int:
    return a + b


def scale(value: int, *, factor: int) -> int:
    return value * factor


def identity(value: object) -> object:
    return value


def keywords(**kwargs: object) -> list[str]:
    return sorted(kwargs)


def make_lock() -> object:
    return threading.Lock()


def raise_value_error(message: str) -> None:
    raise ValueError(message)


class Unrebuildable(Exception):
    """Pickles, but cannot be unpickled: __init__ needs two arguments, args holds one."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"code {code}: {detail}")


class Unpicklable(Exception):
    def __init__(self) -> None:
        super().__init__("carries a lock")
        self.lock = threading.Lock()


def raise_unrebuildable() -> None:
    raise Unrebuildable(7, "cannot come back")


def raise_unpicklable() -> None:
    raise Unpicklable()


def return_unrebuildable() -> Exception:
    return Unrebuildable(1, "pickles in the child, cannot be rebuilt in the parent")


def raise_arbiter_error() -> None:
    raise FailedDependencyError("inner", dependency="upstream", via="middle")


def exit_hard(code: int) -> None:
    os._exit(code)


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def pid_then_sleep(path: str, seconds: float) -> None:
    write_pid(Path(path))
    time.sleep(seconds)


def my_pid() -> int:
    return os.getpid()


# ------------------------------------------------------------ helpers


class Timeline:
    """Thread-safe log of (label, time) events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[tuple[str, float]] = []

    def mark(self, label: str) -> None:
        with self._lock:
            self.events.append((label, time.monotonic()))

    @property
    def labels(self) -> list[str]:
        return [label for label, _ in self.events]

    def at(self, label: str) -> float:
        return dict(self.events)[label]


def flaky(failures: int, value: object = "ok") -> Callable[[], object]:
    """A function that raises ConnectionError ``failures`` times, then returns ``value``."""
    calls = itertools.count(1)

    def run() -> object:
        n = next(calls)
        if n <= failures:
            raise ConnectionError(f"attempt {n} failed")
        return value

    return run


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """An event that hung thread tasks wait on; set at teardown so their threads exit."""
    event = threading.Event()
    yield event
    event.set()


# ------------------------------------------------------------ results


def test_one_result_per_task_in_input_order() -> None:
    tasks = [
        create_task("z", add, args=(1, 2)),
        create_task("broken", raise_value_error, args=("nope",)),
        create_task("a", add, args=(result_of("z"), 1)),
        create_task("m", identity, args=(None,), dependencies=["broken"]),
        create_task("orphan", identity, args=(1,), dependencies=["ghost"]),
        create_task("b", identity, args=("b",)),
    ]
    for workers in (1, 3):
        results = run_tasks(tasks, max_workers=workers)
        assert list(results) == ["z", "broken", "a", "m", "orphan", "b"]
        for name, result in results.items():
            assert isinstance(result, Result)
            assert result.name == name


def test_empty_task_list() -> None:
    assert run_tasks([]) == {}
    assert run_tasks([], processes=True) == {}


def test_tasks_may_be_any_iterable() -> None:
    results = run_tasks(create_task(f"t{i}", identity, args=(i,)) for i in range(3))
    assert [r.value for r in results.values()] == [0, 1, 2]


def test_return_values_and_exceptions_are_values() -> None:
    results = run_tasks(
        [
            create_task("sum", add, args=(2, 3)),
            create_task("none", identity, args=(None,)),
            create_task("bad", raise_value_error, args=("bad input",)),
            create_task("lookup", raise_lookup_error),
        ]
    )
    assert results["sum"].success and results["sum"].value == 5
    assert results["sum"].error is None
    assert results["sum"].attempts == 1
    assert results["none"].success and results["none"].value is None
    bad = results["bad"]
    assert bad.success is False
    assert isinstance(bad.value, ValueError) and str(bad.value) == "bad input"
    assert bad.error is bad.value
    assert bad.attempts == 1
    # Any Exception is a failed Result; KeyboardInterrupt and SystemExit stop the run
    # instead (tests/test_seed_000_fidelity.py).
    assert isinstance(results["lookup"].value, LookupError)
    assert repr(results["sum"]) == "Result(success=True, value=5, name='sum', attempts=1)"
    assert repr(bad).startswith("Result(success=False, value=ValueError('bad input')")


def raise_lookup_error() -> None:
    raise LookupError("from the task")


def test_results_are_immutable() -> None:
    result = run_tasks([create_task("a", add, args=(1, 1))])["a"]
    with pytest.raises(AttributeError):
        result.value = 3  # type: ignore[misc]


# ------------------------------------------------------------ retries and delay


def test_retries_until_success_counts_attempts() -> None:
    results = run_tasks([create_task("flaky", flaky(2), retries=3)])
    assert results["flaky"].success
    assert results["flaky"].value == "ok"
    assert results["flaky"].attempts == 3


def test_retries_exhausted_reports_the_last_exception() -> None:
    results = run_tasks(
        [
            create_task("flaky", flaky(10), retries=2),
            create_task("after", identity, args=(1,), dependencies=["flaky"]),
        ]
    )
    flaky_result = results["flaky"]
    assert not flaky_result.success
    assert flaky_result.attempts == 3
    assert isinstance(flaky_result.value, ConnectionError)
    assert str(flaky_result.value) == "attempt 3 failed"
    assert isinstance(results["after"].value, FailedDependencyError)


def test_no_retries_means_one_attempt() -> None:
    results = run_tasks([create_task("flaky", flaky(1))])
    assert results["flaky"].attempts == 1
    assert not results["flaky"].success


@pytest.mark.parametrize("delay", [0.2, timedelta(milliseconds=200)])
def test_delay_is_honoured_between_attempts(delay: float | timedelta) -> None:
    timeline = Timeline()
    inner = flaky(2)

    def run() -> object:
        timeline.mark(f"start-{len(timeline.events)}")
        return inner()

    results = run_tasks([create_task("flaky", run, retries=2, delay=delay)])
    assert results["flaky"].success
    assert results["flaky"].attempts == 3
    starts = [t for _, t in timeline.events]
    assert len(starts) == 3
    assert starts[1] - starts[0] >= 0.2
    assert starts[2] - starts[1] >= 0.2
    assert results["flaky"].duration >= 0.4


def test_a_waiting_retry_does_not_hold_a_worker_slot() -> None:
    """max_workers=1: while A waits 0.5 s for its retry, B and C (after B) use the slot."""
    timeline = Timeline()
    attempts = itertools.count(1)

    def a() -> bool:
        n = next(attempts)
        timeline.mark(f"a{n}-start")
        if n == 1:
            timeline.mark("a1-failed")
            raise ConnectionError("first attempt fails")
        return "c-end" in timeline.labels  # did the others run while we waited?

    def b() -> None:
        timeline.mark("b-start")
        timeline.mark("b-end")

    def c() -> None:
        timeline.mark("c-start")
        timeline.mark("c-end")

    results = run_tasks(
        [
            create_task("a", a, retries=1, delay=0.5),
            create_task("b", b),
            create_task("c", c, dependencies=["b"]),  # only becomes ready during the wait
        ],
        max_workers=1,
    )
    assert all(r.success for r in results.values())
    assert results["a"].value is True
    assert timeline.labels == [
        "a1-start",
        "a1-failed",
        "b-start",
        "b-end",
        "c-start",
        "c-end",
        "a2-start",
    ]
    assert timeline.at("a2-start") - timeline.at("a1-failed") >= 0.5
    assert timeline.at("c-end") < timeline.at("a2-start")


def test_retries_of_several_tasks_interleave() -> None:
    results = run_tasks(
        [create_task(f"t{i}", flaky(2, i), retries=2, delay=0.05) for i in range(5)],
        max_workers=2,
    )
    assert [r.value for r in results.values()] == [0, 1, 2, 3, 4]
    assert all(r.attempts == 3 for r in results.values())


# ------------------------------------------------------------ per-task timeouts


def test_thread_timeout_is_reported_and_the_pool_keeps_working(
    release: threading.Event,
) -> None:
    def hang() -> str:
        release.wait(60)
        return "too late"

    started = time.monotonic()
    results = run_tasks(
        [
            create_task("hang", hang, timeout=0.3),
            create_task("after", identity, args=("served",)),
            create_task("dependent", add, args=(result_of("after"), "!")),
            create_task("blocked", identity, args=(1,), dependencies=["hang"]),
        ],
        max_workers=1,
    )
    elapsed = time.monotonic() - started
    assert not release.is_set(), "the hung function must still be running"
    error = results["hang"].value
    assert isinstance(error, TaskTimeoutError)
    assert isinstance(error, TimeoutError)
    assert error.task == "hang"
    assert error.seconds == pytest.approx(0.3)
    assert error.whole_run is False
    assert results["hang"].duration >= 0.3
    assert results["after"].value == "served"
    assert results["dependent"].value == "served!"
    assert isinstance(results["blocked"].value, FailedDependencyError)
    assert elapsed < 10


def test_thread_timeout_is_retried(release: threading.Event) -> None:
    calls = itertools.count(1)

    def slow_first() -> str:
        if next(calls) == 1:
            release.wait(60)
        return "second try"

    results = run_tasks([create_task("t", slow_first, timeout=0.2, retries=1)])
    assert results["t"].success
    assert results["t"].value == "second try"
    assert results["t"].attempts == 2


def test_a_fast_task_with_a_timeout_succeeds() -> None:
    results = run_tasks([create_task("t", add, args=(1, 2), timeout=5)], processes=True)
    assert results["t"].value == 3


def test_process_timeout_terminates_the_process(tmp_path: Path) -> None:
    pid_file = tmp_path / "hung.pid"
    started = time.monotonic()
    results = run_tasks(
        [
            create_task("hang", pid_then_sleep, args=(str(pid_file), 60), timeout=1.0),
            create_task("after", my_pid),
        ],
        max_workers=1,
        processes=True,
    )
    assert time.monotonic() - started < 15
    hung_pid = read_pid(pid_file, timeout=0)
    error = results["hang"].value
    assert isinstance(error, TaskTimeoutError)
    assert error.task == "hang"
    assert error.whole_run is False
    assert results["after"].success
    assert results["after"].value != hung_pid  # served by a fresh process
    assert results["after"].value != os.getpid()
    assert wait_until(lambda: not pid_alive(hung_pid), 5), "the timed-out process survived"


# ------------------------------------------------------------ whole-run timeout


def test_run_timeout_on_threads_returns_promptly(release: threading.Event) -> None:
    def stuck() -> None:
        release.wait(60)

    started = time.monotonic()
    results = run_tasks(
        [
            create_task("quick", identity, args=("done",)),
            create_task("waiting-retry", flaky(5), retries=5, delay=30),
            create_task("stuck", stuck),
            create_task("queued", identity, args=(1,)),
            create_task("child", identity, args=(2,), dependencies=["stuck"]),
        ],
        max_workers=1,
        timeout=0.5,
    )
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 5
    assert results["quick"].value == "done"
    for name in ("waiting-retry", "stuck", "queued", "child"):
        error = results[name].value
        assert isinstance(error, TaskTimeoutError), name
        assert error.whole_run is True
        assert error.task == name
        assert error.seconds == pytest.approx(0.5)
        assert "run" in str(error)
    assert results["waiting-retry"].attempts == 1
    assert results["queued"].attempts <= 1
    assert results["child"].attempts == 0


def test_run_timeout_as_timedelta() -> None:
    results = run_tasks([create_task("a", identity, args=(1,))], timeout=timedelta(seconds=5))
    assert results["a"].value == 1


def test_run_timeout_on_processes_kills_the_workers(tmp_path: Path) -> None:
    pid_file = tmp_path / "stuck.pid"
    started = time.monotonic()
    results = run_tasks(
        [
            create_task("stuck", pid_then_sleep, args=(str(pid_file), 60)),
            create_task("queued", my_pid),
        ],
        max_workers=1,
        processes=True,
        timeout=1.5,
    )
    assert time.monotonic() - started < 10
    assert results["stuck"].value.whole_run is True
    assert isinstance(results["queued"].value, TaskTimeoutError)
    pid = read_pid(pid_file, timeout=0)
    assert wait_until(lambda: not pid_alive(pid), 5), "the worker process survived"


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_huge_and_infinite_timeouts_mean_no_practical_limit(processes: bool) -> None:
    # 30 days is beyond what one poll() may wait; inf is beyond any clock.
    tasks = [
        create_task("month", add, args=(1, 2), timeout=timedelta(days=30)),
        create_task("forever", add, args=(3, 4), timeout=float("inf")),
        create_task("century", add, args=(5, 6), timeout=100 * 365 * 86400),
    ]
    for run_timeout in (None, float("inf"), 1e12):
        results = run_tasks(tasks, processes=processes, timeout=run_timeout)
        assert [r.value for r in results.values()] == [3, 7, 11], run_timeout


@pytest.mark.parametrize("timeout", [-1, "10", float("nan")])
def test_run_timeout_is_validated(timeout: object) -> None:
    with pytest.raises(TaskDefinitionError):
        run_tasks([create_task("a", identity, args=(1,))], timeout=timeout)  # type: ignore[arg-type]


# ------------------------------------------------------------ passing results


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_result_of_passes_values_downstream(processes: bool) -> None:
    results = run_tasks(
        [
            create_task("two", add, args=(1, 1)),
            create_task("three", add, args=(1, 2)),
            create_task("five", add, args=(result_of("two"), result_of("three"))),
            create_task("ten", scale, args=(result_of("five"),), kwargs={"factor": 2}),
            create_task("by-kwarg", scale, kwargs={"value": result_of("ten"), "factor": 3}),
            create_task("mixed", add, args=(result_of("two"),), kwargs={"b": result_of("ten")}),
        ],
        max_workers=2,
        processes=processes,
    )
    values = {name: r.value for name, r in results.items()}
    assert values == {"two": 2, "three": 3, "five": 5, "ten": 10, "by-kwarg": 30, "mixed": 12}


def test_result_of_a_failed_task_is_a_failed_dependency() -> None:
    results = run_tasks(
        [
            create_task("bad", raise_value_error, args=("x",)),
            create_task("user", identity, args=(result_of("bad"),)),
        ]
    )
    assert isinstance(results["user"].value, FailedDependencyError)
    assert results["user"].value.dependency == "bad"


def test_result_of_is_the_value_itself_not_a_copy_on_threads() -> None:
    shared: list[int] = []
    results = run_tasks(
        [
            create_task("make", identity, args=(shared,)),
            create_task("use", identity, args=(result_of("make"),)),
        ]
    )
    assert results["use"].value is shared


# ------------------------------------------------------------ argument checks


@pytest.mark.parametrize("workers", [0, -1, True, 1.5, "2", None])
def test_max_workers_is_validated(workers: object) -> None:
    with pytest.raises(ValueError, match="max_workers"):
        run_tasks([create_task("a", identity, args=(1,))], max_workers=workers)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [identity, ("a", identity), "a", None])
def test_non_task_input_is_a_type_error(bad: object) -> None:
    called: list[int] = []
    tasks = [create_task("ok", called.append, args=(1,)), bad]
    with pytest.raises(TypeError, match="create_task"):
        run_tasks(tasks)  # type: ignore[list-item]
    assert called == []


# ------------------------------------------------------------ processes


def test_processes_run_in_other_processes_with_max_workers() -> None:
    results = run_tasks(
        [create_task(f"t{i}", my_pid) for i in range(4)], max_workers=2, processes=True
    )
    pids = {r.value for r in results.values()}
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2


def test_process_exception_arrives_as_itself() -> None:
    results = run_tasks(
        [create_task("bad", raise_value_error, args=("in a child",))], processes=True
    )
    assert type(results["bad"].value) is ValueError
    assert str(results["bad"].value) == "in a child"


@pytest.mark.parametrize(
    "error",
    [
        FailedDependencyError("t", dependency="d", via="v"),
        UnsatisfiedDependencyError("t", missing=["m"], cycle=["a", "b"], via="a"),
        TaskTimeoutError("t", 1.5, whole_run=True),
        TaskCancelledError("t", "why"),
        DuplicateTaskError(["x", "y"]),
        RemoteTaskError("KeyError", "'k'", "Traceback ..."),
        SerializationError("cannot pickle"),
        WorkerLostError("gone"),
        RunInterrupted({}),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_pickle_with_their_attributes(error: BaseException) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.args == error.args
    assert vars(copy) == vars(error)


def test_an_arbiter_error_raised_in_a_process_arrives_as_itself() -> None:
    results = run_tasks([create_task("t", raise_arbiter_error)], processes=True)
    error = results["t"].value
    assert type(error) is FailedDependencyError
    assert (error.task, error.dependency, error.via) == ("inner", "upstream", "middle")


def test_processes_with_unpicklable_parts_fail_alone() -> None:
    results = run_tasks(
        [
            create_task("lambda", lambda: 1),
            create_task("bad-arg", identity, args=(threading.Lock(),)),
            create_task("bad-kwarg", keywords, kwargs={"fine": 1, "handle": threading.Lock()}),
            create_task("bad-return", make_lock),
            create_task("bad-exception", raise_unrebuildable),
            create_task("unpicklable-exception", raise_unpicklable),
            create_task("bad-return-in-parent", return_unrebuildable),
            create_task("fine", add, args=(1, 2)),
            create_task("after-fine", add, args=(result_of("fine"), 1)),
        ],
        max_workers=2,
        processes=True,
    )
    assert results["fine"].value == 3
    assert results["after-fine"].value == 4

    def serialization_error(name: str) -> str:
        error = results[name].value
        assert isinstance(error, SerializationError), (name, error)
        assert isinstance(error, TypeError)
        return str(error)

    message = serialization_error("lambda")
    assert "'lambda'" in message and "the function" in message and "<lambda>" in message
    message = serialization_error("bad-arg")
    assert "argument 0" in message and "lock" in message
    message = serialization_error("bad-kwarg")
    assert "keyword argument 'handle'" in message
    assert "'fine'" not in message
    message = serialization_error("bad-return")
    assert "return value" in message and "make_lock" in message
    message = serialization_error("bad-return-in-parent")
    assert "'bad-return-in-parent'" in message

    for name, type_name, text in [
        ("bad-exception", "Unrebuildable", "code 7: cannot come back"),
        ("unpicklable-exception", "Unpicklable", "carries a lock"),
    ]:
        error = results[name].value
        assert isinstance(error, RemoteTaskError), (name, error)
        assert error.type_name == type_name
        assert error.message == text
        assert type_name in str(error)
        assert "Traceback" in error.traceback_text
        assert type_name in error.traceback_text


def test_process_worker_lost_and_the_pool_serves_later_tasks() -> None:
    results = run_tasks(
        [
            create_task("exit", exit_hard, args=(3,)),
            create_task("sigkill", kill_self),
            create_task("after", my_pid),
            create_task("dependent", add, args=(result_of("after"), 0)),
        ],
        max_workers=1,
        processes=True,
    )
    exit_error = results["exit"].value
    assert isinstance(exit_error, WorkerLostError)
    assert "'exit'" in str(exit_error) and "3" in str(exit_error)
    kill_error = results["sigkill"].value
    assert isinstance(kill_error, WorkerLostError)
    assert "'sigkill'" in str(kill_error) and "-9" in str(kill_error)
    assert results["after"].success
    assert results["dependent"].value == results["after"].value


def test_a_lost_worker_is_retried() -> None:
    results = run_tasks([create_task("exit", exit_hard, args=(1,), retries=1)], processes=True)
    assert isinstance(results["exit"].value, WorkerLostError)
    assert results["exit"].attempts == 2


def test_spawn_start_method() -> None:
    results = run_tasks(
        [
            create_task("a", add, args=(1, 2)),
            create_task("pid", os.getpid),
            create_task("b", add, args=(result_of("a"), 10)),
        ],
        max_workers=2,
        processes=True,
        mp_context="spawn",
    )
    assert results["b"].value == 13
    assert results["pid"].value != os.getpid()


# ------------------------------------------------------------ progress bar


def quick_tasks() -> list[Task]:
    return [create_task(f"t{i}", identity, args=(i,)) for i in range(3)]


def test_progress_true_draws_a_bar_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    results = run_tasks(quick_tasks(), progress=True)
    assert len(results) == 3
    captured = capsys.readouterr()
    assert "tasks" in captured.err
    assert "/3" in captured.err
    assert captured.out == ""


@pytest.mark.parametrize("progress", [False, None])
def test_no_progress_bar_when_off_or_not_a_terminal(
    progress: bool | None, capfd: pytest.CaptureFixture[str]
) -> None:
    run_tasks(quick_tasks(), progress=progress)
    captured = capfd.readouterr()
    assert captured.err == ""
    assert captured.out == ""


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_automatic_progress_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    run_tasks(quick_tasks())
    assert terminal.getvalue() == "", "a short run shows no bar"
    run_tasks([create_task("slow", time.sleep, args=(1.3,)), *quick_tasks()])
    assert "tasks" in terminal.getvalue(), "a run over a second shows the bar"


def test_progress_false_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    run_tasks(quick_tasks(), progress=False)
    assert terminal.getvalue() == ""
