"""How worker processes are started: never forked from this (multi-threaded) process.

The pools run supervisor threads, a Minion runs lanes, a broker a listener: forking
then can copy a lock another thread holds into the child. Python 3.12+ warns about it
(a DeprecationWarning from ``os.fork``); the process pool starts its children through a
forkserver (or spawn) instead, so nothing is warned and nothing can deadlock. A child
is a fresh interpreter, so what it must find by import is tested here too.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
import time
import types
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import wait_until

from arbiter import Arbiter, Minion, create_task, run_tasks
from arbiter.exceptions import SerializationError, TaskTimeoutError, WorkerLostError
from arbiter_local import ProcessPool
from arbiter_local.process_pool import default_context

WARNS_ON_FORK_WITH_THREADS = sys.version_info >= (3, 12)


def add(a: int, b: int = 0) -> int:
    return a + b


def my_pid() -> int:
    return os.getpid()


def getenv(name: str) -> str | None:
    return os.environ.get(name)


async def async_double(x: int) -> int:
    return 2 * x


@pytest.fixture
def threads_running() -> Iterator[None]:
    """Extra threads in this process, as a Minion or a broker listener would have."""
    stop = threading.Event()
    extra = [threading.Thread(target=stop.wait, daemon=True) for _ in range(2)]
    for thread in extra:
        thread.start()
    yield
    stop.set()
    for thread in extra:
        thread.join()


def fork_warnings(exercise: Callable[[], None]) -> list[str]:
    """The fork-with-threads warnings raised, from any thread, while ``exercise`` runs."""
    with warnings.catch_warnings(record=True) as caught:  # warnings state is process-wide
        warnings.simplefilter("always")
        exercise()
    return [
        str(w.message)
        for w in caught
        if issubclass(w.category, DeprecationWarning) and "fork" in str(w.message)
    ]


def exercise_pool(mp_context: str | None) -> Callable[[], None]:
    """Start a pool, run calls, and have a supervisor thread replace killed processes."""

    def run() -> None:
        pool = ProcessPool(2, mp_context=mp_context)
        try:
            assert [pool.submit(add, (i, 1)).result(timeout=60) for i in range(4)] == [1, 2, 3, 4]
            for _ in range(2):  # each kill makes a supervisor start a fresh process
                future = pool.submit(time.sleep, (60,))
                assert wait_until(future.running, 30)
                assert pool.kill(future)
                future.exception(timeout=30)
            assert pool.submit(my_pid).result(timeout=60) != os.getpid()
        finally:
            pool.shutdown(cancel=True)

    return run


# ------------------------------------------------------------ the start method


def test_the_default_start_method_is_not_fork() -> None:
    expected = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    assert default_context().get_start_method() == expected
    pool = ProcessPool(1)
    try:
        assert pool.context.get_start_method() == expected
        assert pool.submit(add, (1, 2)).result(timeout=60) == 3
    finally:
        pool.shutdown()


@pytest.mark.parametrize("given", ["spawn", multiprocessing.get_context("spawn")], ids=str)
def test_an_explicit_mp_context_is_used(given: object) -> None:
    pool = ProcessPool(1, mp_context=given)  # type: ignore[arg-type]
    try:
        assert pool.context.get_start_method() == "spawn"
        assert pool.submit(add, (2, 2)).result(timeout=60) == 4
    finally:
        pool.shutdown()


def test_no_fork_warning_from_a_multi_threaded_process(threads_running: None) -> None:
    assert threading.active_count() >= 3
    assert fork_warnings(exercise_pool(None)) == []

    def dag() -> None:
        tasks = [create_task(f"t{i}", add, args=(i,)) for i in range(4)]
        tasks.append(create_task("slow", time.sleep, args=(30,), timeout=0.5))
        tasks.append(create_task("after", my_pid, dependencies=["slow"]))
        results = run_tasks(tasks, max_workers=2, processes=True)
        assert [results[f"t{i}"].value for i in range(4)] == [0, 1, 2, 3]
        assert isinstance(results["slow"].value, TaskTimeoutError)
        assert results["after"].value != os.getpid()

    assert fork_warnings(dag) == []


def test_the_check_does_see_a_fork_warning(threads_running: None) -> None:
    """The check above would catch the warning, were the pool still forking."""
    warned = fork_warnings(exercise_pool("fork"))
    if WARNS_ON_FORK_WITH_THREADS:
        assert warned and "multi-threaded" in warned[0], warned
    else:
        assert warned == []  # Python < 3.12 forks silently


# ------------------------------------------------------------ what a fresh child finds


def test_the_worker_sees_the_environment_of_the_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The forkserver runs already (from other tests, or this warm-up) with an older
    # environment; a worker started now must see this process's, as with fork or spawn.
    warm = ProcessPool(1)
    warm.submit(add, (1,)).result(timeout=60)
    warm.shutdown()
    value = uuid.uuid4().hex
    monkeypatch.setenv("ARBITER_TEST_START_ENV", value)
    monkeypatch.delenv("ARBITER_TEST_GONE", raising=False)
    pool = ProcessPool(1)
    try:
        assert pool.submit(getenv, ("ARBITER_TEST_START_ENV",)).result(timeout=60) == value
        assert pool.submit(getenv, ("ARBITER_TEST_GONE",)).result(timeout=60) is None
    finally:
        pool.shutdown()


def test_a_module_on_a_path_added_at_run_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"late_module_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text("import os\n\ndef where():\n    return os.getpid()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__(name)
    pool = ProcessPool(1)
    try:
        assert pool.submit(module.where).result(timeout=60) != os.getpid()
    finally:
        pool.shutdown()
        sys.modules.pop(name, None)


def test_a_function_the_worker_cannot_import_fails_clearly() -> None:
    # Pickles by reference here (the module is in sys.modules), but no file backs it.
    module = types.ModuleType(f"made_up_{uuid.uuid4().hex[:8]}")
    exec("def phantom():\n    return 1\n", module.__dict__)
    sys.modules[module.__name__] = module
    pool = ProcessPool(1)
    try:
        error = pool.submit(module.phantom, label="phantom-task").exception(timeout=60)
        assert isinstance(error, SerializationError), error
        message = str(error)
        assert "'phantom-task'" in message
        assert f"{module.__name__}.phantom" in message
        assert "ModuleNotFoundError" in message
        assert "top level of an importable module" in message
        # The worker survives a call it could not load.
        assert pool.submit(add, (3, 4)).result(timeout=60) == 7
    finally:
        pool.shutdown()
        del sys.modules[module.__name__]


def test_minion_tasks_on_the_process_pool() -> None:
    url = f"memory://start-{uuid.uuid4().hex[:8]}"
    app = Minion(url, queue="default")
    app.task(name="add")(add)
    app.task(name="double")(async_double)
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            app.run(workers=2, pool="process", handle_signals=False)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    server = threading.Thread(target=serve, daemon=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        server.start()
        try:
            arbiter = Arbiter(url)
            keys = arbiter.apply("add", tasks_count=2, task_args=[1, 2])
            keys += arbiter.apply("double", task_args=[21])
            messages = list(arbiter.wait_for_tasks(keys, timeout=60))
        finally:
            app.stop()
            server.join(60)
    assert not errors, errors
    assert sorted(m["result"] for m in messages) == [3, 3, 42], messages
    assert all(m["state"] == "succeeded" for m in messages), messages
    assert not [w for w in caught if "fork" in str(w.message)]


# ------------------------------------------------------------ a __main__ script


def run_script(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "main_script.py"
    script.write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", str(script)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


MAIN_SCRIPT = """
    import os
    import threading

    from arbiter import create_task, run_tasks
    from arbiter_local import ProcessPool


    def square(x):
        return x * x


    def pid():
        return os.getpid()


    if __name__ == "__main__":
        threading.Thread(target=threading.Event().wait, daemon=True).start()

        def nested():  # not importable by name: lives in the guarded block
            return 1

        results = run_tasks(
            [create_task("sq", square, args=(7,)), create_task("pid", pid),
             create_task("nested", nested)],
            max_workers=2,
            processes=True,
        )
        print("SQUARE", results["sq"].value)
        print("OTHER", results["pid"].value != os.getpid())
        print("NESTED", type(results["nested"].value).__name__, results["nested"].value)
        pool = ProcessPool(1)
        print("POOL", pool.submit(square, (3,)).result(timeout=60))
        pool.shutdown()
"""


def test_functions_in_a_main_script(tmp_path: Path) -> None:
    done = run_script(tmp_path, MAIN_SCRIPT)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert lines["SQUARE"] == "49"
    assert lines["OTHER"] == "True"
    assert lines["POOL"] == "9"
    nested = lines["NESTED"]
    assert nested.startswith("SerializationError "), nested
    assert "__main__.nested" in nested and "if __name__ == '__main__':" in nested, nested
    assert "Warning" not in done.stderr, done.stderr


UNGUARDED_SCRIPT = """
    from arbiter import create_task, run_tasks


    def square(x):
        return x * x


    results = run_tasks([create_task("sq", square, args=(7,))], processes=True)
    print("RESULT", type(results["sq"].value).__name__, results["sq"].value)
"""


def test_a_main_script_without_a_guard_fails_clearly(tmp_path: Path) -> None:
    done = run_script(tmp_path, UNGUARDED_SCRIPT)
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.startswith("RESULT")]
    assert line.startswith(f"RESULT {WorkerLostError.__name__} "), line
    assert "'sq'" in line and "while starting" in line and "__main__" in line, line
    assert "bootstrapping phase" in done.stderr  # multiprocessing's own explanation
