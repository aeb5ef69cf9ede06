"""Seed 000 (the original Arbiter README) runs as written, imports included.

Each test quotes one snippet of the seed verbatim and supplies only what the seed
leaves to the reader (the task functions and ``task_list``).
"""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta

import pytest

import arbiter.exceptions
from arbiter import create_task, run_tasks

calls: list[tuple[str, tuple[object, ...]]] = []
calls_lock = threading.Lock()


def foo_function(*args: object) -> str:
    with calls_lock:
        calls.append(("foo", args))
    return "-".join(str(a) for a in args)


def lorem_function() -> str:
    with calls_lock:
        calls.append(("lorem", ()))
    return "lorem"


def ipsum_function() -> str:
    with calls_lock:
        calls.append(("ipsum", ()))
    return "ipsum"


def function(*args: object, **kwargs: object) -> tuple[tuple[object, ...], dict[str, object]]:
    return args, kwargs


def sketchy_function() -> None:
    raise ConnectionError("sketchy")


def pid_function() -> int:
    return os.getpid()


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    calls.clear()


def test_readme_opening_example() -> None:
    from arbiter import create_task, run_tasks

    results = run_tasks(
        [
            create_task("foo", foo_function, args=("bar", "baz")),
            create_task("lorem", lorem_function, dependencies=["foo"]),
            create_task("ipsum", ipsum_function, dependencies=["foo"]),
        ]
    )

    assert list(results) == ["foo", "lorem", "ipsum"]
    assert all(r.success for r in results.values())
    assert results["foo"].value == "bar-baz"
    assert results["lorem"].value == "lorem"
    assert results["ipsum"].value == "ipsum"
    # foo ran first, with the seed's arguments; its two dependents after it.
    assert calls[0] == ("foo", ("bar", "baz"))
    assert sorted(name for name, _ in calls[1:]) == ["ipsum", "lorem"]


def test_create_task_forms() -> None:
    from arbiter import create_task

    task = create_task("name", function)
    assert task.name == "name"
    assert task.function is function

    task = create_task("name", function, args=("foo", "bar"), kwargs={"baz": "qux"})
    assert task.args == ("foo", "bar")
    assert dict(task.kwargs) == {"baz": "qux"}

    task = create_task("bar", function, dependencies=["foo"])
    assert task.dependencies == frozenset({"foo"})


def test_args_and_kwargs_reach_the_function() -> None:
    results = run_tasks([create_task("name", function, args=("foo", "bar"), kwargs={"baz": "qux"})])
    assert results["name"].success
    assert results["name"].value == (("foo", "bar"), {"baz": "qux"})


def test_seed_retry_line_has_a_typo_that_is_reported() -> None:
    # The seed writes ``replies=3``; it means ``retries=3``.
    with pytest.raises(TypeError, match="replies") as info:
        create_task("failable", sketchy_function, replies=3, delay=timedelta(seconds=5))
    assert "retries" in str(info.value)


def test_seed_retry_line_with_the_intended_keyword() -> None:
    task = create_task("failable", sketchy_function, retries=3, delay=timedelta(seconds=5))
    assert task.retries == 3
    assert task.delay == 5.0


def test_without_delay_a_retry_happens_at_once() -> None:
    results = run_tasks([create_task("failable", sketchy_function, retries=3)])
    assert not results["failable"].success
    assert isinstance(results["failable"].value, ConnectionError)
    assert results["failable"].attempts == 4


def test_run_tasks_on_a_task_list() -> None:
    from arbiter import run_tasks

    task_list = [
        create_task("foo", foo_function, args=("bar", "baz")),
        create_task("bar", function, dependencies=["foo"]),
    ]
    results = run_tasks(task_list)

    assert isinstance(results, dict)
    assert set(results) == {"foo", "bar"}
    assert results["foo"].success is True
    assert results["foo"].value == "bar-baz"


def test_default_is_one_worker_thread() -> None:
    active = 0
    most = 0
    threads: set[int] = set()
    lock = threading.Lock()

    def work() -> None:
        nonlocal active, most
        with lock:
            active += 1
            most = max(most, active)
            threads.add(threading.get_ident())
        time.sleep(0.02)  # were a second worker running, it would enter meanwhile
        with lock:
            active -= 1

    results = run_tasks([create_task(f"t{i}", work) for i in range(6)])
    assert all(r.success for r in results.values())
    assert most == 1
    assert len(threads) == 1
    assert threading.get_ident() not in threads  # not in the caller's thread


def test_processes_true_uses_worker_processes() -> None:
    results = run_tasks(
        [create_task("a", pid_function), create_task("b", pid_function)],
        max_workers=2,
        processes=True,
    )
    assert all(r.success for r in results.values())
    assert os.getpid() not in {r.value for r in results.values()}


def test_result_success_and_value() -> None:
    results = run_tasks(
        [create_task("ok", function, args=(1,)), create_task("bad", sketchy_function)]
    )
    assert results["ok"].success is True
    assert results["ok"].value == ((1,), {})
    assert results["bad"].success is False
    assert isinstance(results["bad"].value, ConnectionError)


def test_seed_exceptions_are_importable_and_reported() -> None:
    from arbiter.exceptions import FailedDependencyError, UnsatisfiedDependencyError

    assert arbiter.exceptions.FailedDependencyError is FailedDependencyError
    assert arbiter.exceptions.UnsatisfiedDependencyError is UnsatisfiedDependencyError

    results = run_tasks(
        [
            create_task("broken", sketchy_function),
            create_task("after-broken", function, dependencies=["broken"]),
            create_task("orphan", function, dependencies=["nowhere"]),
            create_task("loop-a", function, dependencies=["loop-b"]),
            create_task("loop-b", function, dependencies=["loop-a"]),
        ]
    )
    assert isinstance(results["after-broken"].value, FailedDependencyError)
    assert isinstance(results["orphan"].value, UnsatisfiedDependencyError)
    assert isinstance(results["loop-a"].value, UnsatisfiedDependencyError)
    assert isinstance(results["loop-b"].value, UnsatisfiedDependencyError)
