"""Where our API meets the original arbiter's (seed 000, invenia/Arbiter 5ba563f), it behaves so.

One section per point: ``create_task``'s positional order, ``Result`` and ``Task``
as the original's tuples, KeyboardInterrupt/SystemExit in a task, the exceptions'
``args``, and the original's module paths. ``tests/test_seed_000_original.py``
runs the original's own tests; these pin down the details and our extras.
"""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
from collections import namedtuple
from datetime import timedelta
from pathlib import Path

import pytest

import arbiter
from arbiter import Result, RetryPolicy, Task, create_task, run_tasks
from arbiter.exceptions import (
    ArbiterError,
    DependencyError,
    DependencyException,
    DuplicateTaskError,
    FailedDependencyError,
    RunInterrupted,
    TaskCancelledError,
    TaskDefinitionError,
    UnsatisfiedDependencyError,
)

OriginalTask = namedtuple("OriginalTask", ["name", "function", "dependencies", "args", "kwargs"])
OriginalResult = namedtuple("OriginalResult", ["success", "value"])


def noop(*args: object, **kwargs: object) -> tuple[tuple[object, ...], dict[str, object]]:
    return args, kwargs


# ------------------------------------------------------ 1. create_task's positional order
def test_the_third_positional_argument_is_dependencies() -> None:
    task = create_task("foo", noop, {"bar", "baz"})
    assert task.dependencies == frozenset({"bar", "baz"})
    assert task.args == ()


def test_positional_order_is_the_originals() -> None:
    task = create_task("t", noop, ["d"], (1, 2), {"k": 3}, 2, timedelta(seconds=4))
    assert task.dependencies == {"d"}
    assert task.args == (1, 2)
    assert dict(task.kwargs) == {"k": 3}
    assert (task.retries, task.delay) == (2, 4.0)


def test_dependencies_none_means_none() -> None:
    assert create_task("t", noop, None).dependencies == frozenset()


def test_our_additions_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        create_task("t", noop, None, (), None, 0, None, 5)  # type: ignore[misc]
    task = create_task("t", noop, timeout=5, retry=RetryPolicy(retries=1, backoff=2))
    assert task.timeout == 5.0
    assert task.retry.backoff == 2


def test_positional_dependencies_run_in_order() -> None:
    order: list[str] = []
    results = run_tasks(
        [
            create_task("second", order.append, ["first"], ("second",)),
            create_task("first", order.append, None, ("first",)),
        ]
    )
    assert order == ["first", "second"]
    assert all(r.success for r in results.values())


# -------------------------------------------------------------------- 2. Result
def test_result_is_the_two_field_tuple() -> None:
    result = Result(True, 42)
    assert result == (True, 42) == OriginalResult(True, 42)
    assert OriginalResult(True, 42) == result
    assert len(result) == 2 and result[0] is True and result[1] == 42
    success, value = result
    assert (success, value) == (True, 42)
    assert Result._fields == ("success", "value")
    assert hash(result) == hash((True, 42))
    assert result._asdict() == {"success": True, "value": 42}


def test_a_result_from_run_tasks_equals_the_plain_form() -> None:
    results = run_tasks([create_task("t", noop, args=(1,))])
    result = results["t"]
    assert result == Result(True, ((1,), {}))
    assert result == OriginalResult(True, ((1,), {}))
    # ...while our metadata is still there, outside the tuple.
    assert (result.name, result.attempts) == ("t", 1)
    assert result.duration >= 0.0 and result.error is None
    assert tuple(result) == (True, ((1,), {}))


def test_result_metadata_is_keyword_only_and_not_part_of_equality() -> None:
    one = Result(False, "x", name="a", attempts=3, duration=1.5)
    other = Result(False, "x", name="b", attempts=1)
    assert one == other and hash(one) == hash(other)
    assert one.metadata() == {"name": "a", "attempts": 3, "duration": 1.5}
    assert Result(True, 1).metadata() == {"name": None, "attempts": 0, "duration": 0.0}
    with pytest.raises(TypeError):
        Result(True, 1, "a")  # type: ignore[misc]
    assert one.error == "x"


def test_result_is_immutable_and_copies_keep_the_metadata() -> None:
    result = Result(True, [1], name="a", attempts=2, duration=0.5)
    with pytest.raises(AttributeError):
        result.value = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        result.name = "b"  # type: ignore[misc]
    for clone in (pickle.loads(pickle.dumps(result)), copy.copy(result), copy.deepcopy(result)):
        assert clone == result
        assert clone.metadata() == result.metadata()
    changed = result._replace(value=[2])
    assert changed == Result(True, [2]) and changed.name == "a"
    assert Result._make([False, 0]) == Result(False, 0)


def test_result_repr() -> None:
    assert repr(Result(True, 1)) == "Result(success=True, value=1)"
    assert repr(Result(False, None, name="a", attempts=2)) == (
        "Result(success=False, value=None, name='a', attempts=2)"
    )


# ---------------------------------------------------------------------- 2. Task
def test_task_is_the_five_field_tuple_in_the_originals_order() -> None:
    assert Task._fields == ("name", "function", "dependencies", "args", "kwargs")
    task = create_task("foo", noop, ["bar"], (1,), {"k": 2})
    name, function, dependencies, args, kwargs = task
    assert (name, function, dependencies, args, dict(kwargs)) == (
        "foo",
        noop,
        {"bar"},
        (1,),
        {"k": 2},
    )
    assert len(task) == 5 and task[0] == "foo"


def test_task_equals_the_originals_namedtuple_both_ways() -> None:
    task = create_task("foo", noop, {"bar", "baz"}, ("a",), {"b": 1})
    original = OriginalTask("foo", noop, frozenset({"bar", "baz"}), ("a",), {"b": 1})
    assert task == original and original == task
    assert not task != original  # noqa: SIM202 - __ne__ is ours too
    assert task == Task("foo", noop, frozenset({"bar", "baz"}), ("a",), {"b": 1})


def test_task_positional_construction_and_keyword_only_settings() -> None:
    task = Task("foo", noop, frozenset(), (), {}, retries=2, delay=1.0, timeout=3.0)
    assert (task.retries, task.delay, task.timeout) == (2, 1.0, 3.0)
    assert task.retry == RetryPolicy(2, 1.0)
    with pytest.raises(TypeError):
        Task("foo", noop, frozenset(), (), {}, 2)  # type: ignore[misc]
    plain = Task("foo", noop)
    assert (plain.dependencies, plain.args, dict(plain.kwargs)) == (frozenset(), (), {})


def test_two_tasks_differing_in_settings_are_not_equal() -> None:
    # In the original, retries wrapped the function, so such tasks differed too.
    assert create_task("t", noop, retries=2) != create_task("t", noop)
    assert create_task("t", noop, timeout=1) != create_task("t", noop)
    assert create_task("t", noop, retries=2) == create_task("t", noop, retries=2)
    # Against a plain tuple only the five fields count.
    assert create_task("t", noop, retries=2) == OriginalTask("t", noop, frozenset(), (), {})


def test_task_settings_survive_replace_and_make() -> None:
    task = create_task("t", noop, retries=1, delay=2, timeout=3)
    assert task.settings() == {
        "retries": 1,
        "delay": 2.0,
        "timeout": 3.0,
        "retry": RetryPolicy(1, 2.0),
    }
    assert task._replace(name="u").settings() == task.settings()
    assert task._replace(retries=4).retry == RetryPolicy(4, 2.0)
    assert Task._make(tuple(task)) == Task("t", noop, frozenset(), (), {})


def test_every_result_and_task_construction_in_the_code_uses_the_new_form() -> None:
    """No ``Result(name, success, ...)`` or keyword-built ``Task(name=...)`` is left."""
    import ast

    root = Path(__file__).resolve().parent.parent
    packages = ["arbiter", "arbiter_core", "arbiter_local", "arbiter_redis", "plugins", "tests"]
    bad = []
    for package in packages:
        for path in (root / package).rglob("*.py"):
            if path.name == Path(__file__).name:
                continue  # this file builds wrong ones on purpose, to see them refused
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                    continue
                if node.func.id == "Result" and len(node.args) > 2:
                    bad.append(f"{path.relative_to(root)}:{node.lineno}")
                if node.func.id == "Task" and len(node.args) > 5:
                    bad.append(f"{path.relative_to(root)}:{node.lineno}")
                if node.func.id == "create_task" and len(node.args) > 7:
                    bad.append(f"{path.relative_to(root)}:{node.lineno}")
    assert bad == []


# ------------------------------------------- 3. KeyboardInterrupt and SystemExit in a task
def count_and_raise(path: str, kind: str) -> None:
    """Append a line to ``path`` (so attempts can be counted, also in a process), then raise."""
    with open(path, "a", encoding="utf-8") as file:
        file.write("x\n")
    if kind == "exit":
        sys.exit(7)
    if kind == "interrupt":
        raise KeyboardInterrupt("from the task")
    if kind == "base":
        raise CustomBaseError("not a stop")
    raise LookupError("an ordinary failure")


class CustomBaseError(BaseException):
    """A BaseException that is neither KeyboardInterrupt nor SystemExit."""


def attempts_in(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_system_exit_is_not_retried_and_propagates_as_itself(
    tmp_path: Path, processes: bool
) -> None:
    log = tmp_path / "attempts"
    with pytest.raises(SystemExit) as info:
        run_tasks(
            [create_task("leave", count_and_raise, args=(str(log), "exit"), retries=2)],
            processes=processes,
        )
    assert type(info.value) is SystemExit and info.value.code == 7
    assert attempts_in(log) == 1


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_keyboard_interrupt_is_not_retried_and_stops_the_run(
    tmp_path: Path, processes: bool
) -> None:
    log = tmp_path / "attempts"
    with pytest.raises(KeyboardInterrupt) as info:
        run_tasks(
            [
                create_task("stop", count_and_raise, args=(str(log), "interrupt"), retries=2),
                create_task("after", noop, ["stop"]),
            ],
            processes=processes,
        )
    assert attempts_in(log) == 1
    interrupted = info.value
    assert isinstance(interrupted, RunInterrupted)
    cause = interrupted.__cause__
    assert isinstance(cause, KeyboardInterrupt) and cause.args == ("from the task",)
    assert set(interrupted.results) == {"stop", "after"}
    assert interrupted.results["stop"].value is cause
    assert isinstance(interrupted.results["after"].value, TaskCancelledError)
    assert "'stop' raised KeyboardInterrupt" in str(interrupted.results["after"].value)


def test_a_stop_ends_the_run_without_waiting_for_the_rest(tmp_path: Path) -> None:
    import time

    log = tmp_path / "attempts"
    started = time.monotonic()
    with pytest.raises(SystemExit):
        run_tasks(
            [
                create_task("long", time.sleep, args=(30,)),
                create_task("leave", count_and_raise, args=(str(log), "exit")),
                create_task("queued", time.sleep, args=(30,)),
            ],
            max_workers=2,
            processes=True,
        )
    assert time.monotonic() - started < 15  # the sleeping process was terminated


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
@pytest.mark.parametrize("kind", ["base", "lookup"])
def test_everything_else_is_a_failed_result_and_is_retried(
    tmp_path: Path, processes: bool, kind: str
) -> None:
    log = tmp_path / "attempts"
    results = run_tasks(
        [create_task("t", count_and_raise, args=(str(log), kind), retries=2)],
        processes=processes,
    )
    result = results["t"]
    assert not result.success
    assert isinstance(result.value, CustomBaseError if kind == "base" else LookupError)
    assert attempts_in(log) == result.attempts == 3


# ------------------------------------------------------------------- 4. exceptions
def test_dependency_exception_is_the_common_base() -> None:
    assert DependencyException is DependencyError
    assert issubclass(FailedDependencyError, DependencyException)
    assert issubclass(UnsatisfiedDependencyError, DependencyException)
    assert issubclass(DependencyException, ArbiterError)
    assert arbiter.exceptions.DependencyException is DependencyException


def test_failed_dependency_args_name_the_failed_direct_dependency() -> None:
    results = run_tasks(
        [
            create_task("baz", count_and_raise, args=(os.devnull, "lookup")),
            create_task("qux", noop, ["baz"]),
            create_task("quux", noop, ["qux"]),
        ]
    )
    direct, indirect = results["qux"].value, results["quux"].value
    assert direct.args == ("baz",)
    assert indirect.args == ("qux",)  # the original saw qux's failed result
    # ...and our attributes and messages stay.
    assert (indirect.task, indirect.dependency, indirect.via) == ("quux", "baz", "qux")
    assert str(indirect) == "task 'quux' was not run: dependency 'baz' failed (through 'qux')"


def test_unsatisfied_dependency_args_are_the_tasks_own_unsatisfiable_dependencies() -> None:
    results = run_tasks(
        [
            create_task("bravo", noop, ["alpha"]),
            create_task("charlie", noop, ["bravo"]),
            create_task("bell", noop, ["charlie", "fine"]),
            create_task("fine", noop),
            create_task("cage", noop, ["travolta"]),
            create_task("travolta", noop, ["cage"]),
            create_task("both", noop, ["ghost", "cage", "fine"]),
        ]
    )
    expected = {
        "bravo": {"alpha"},
        "charlie": {"bravo"},
        "bell": {"charlie"},
        "cage": {"travolta"},
        "travolta": {"cage"},
        "both": {"ghost", "cage"},
    }
    for name, unsatisfied in expected.items():
        error = results[name].value
        assert isinstance(error, UnsatisfiedDependencyError)
        assert error.args == (unsatisfied,), name
        assert error.unsatisfied == unsatisfied
    charlie = results["charlie"].value
    assert (charlie.missing, charlie.cycle, charlie.via) == (("alpha",), (), "bravo")
    assert str(charlie) == (
        "task 'charlie' cannot run: missing dependency 'alpha' (through its dependency 'bravo')"
    )
    assert results["fine"].success


def test_errors_with_data_args_pickle_and_print_alike() -> None:
    for error in (
        FailedDependencyError("t", "d", via="v"),
        UnsatisfiedDependencyError("t", missing=["m"], via="a"),
        DuplicateTaskError(["x", "y"], first="y"),
    ):
        clone = pickle.loads(pickle.dumps(error))
        assert (clone.args, str(clone), vars(clone)) == (error.args, str(error), vars(error))
    assert UnsatisfiedDependencyError("t", missing=["m"], via="a").args == ({"m", "a"},)


def test_duplicate_names_are_a_type_error_too_naming_the_first_repeat() -> None:
    with pytest.raises(TypeError) as info:
        run_tasks([create_task(n, noop) for n in ("a", "b", "b", "a")])
    error = info.value
    assert isinstance(error, DuplicateTaskError)
    assert isinstance(error, TaskDefinitionError) and isinstance(error, ValueError)
    assert error.args == ("b",)  # the original raised TypeError(name) at the first repeat
    assert error.names == ("a", "b")
    assert str(error) == "duplicate task name(s): 'a', 'b'; task names must be unique in a run"


def test_any_hashable_is_a_task_name_even_mixed() -> None:
    results = run_tasks(
        [
            create_task(1, noop, args=("one",)),
            create_task(("pair", 2), noop, [1]),
            create_task("text", noop, [("pair", 2), None]),
            create_task(None, noop, ["missing", 3]),
            create_task(frozenset({"f"}), noop, [("pair", 2), 1]),
        ]
    )
    assert results[1].value == (("one",), {})
    assert results[("pair", 2)].success and results[frozenset({"f"})].success
    gone = results[None].value
    assert isinstance(gone, UnsatisfiedDependencyError)
    assert set(gone.missing) == {"missing", 3}
    assert gone.args == ({"missing", 3},)
    behind = results["text"].value
    assert behind.via is None and behind.args == ({None},)


def test_mixed_name_duplicates_are_reported() -> None:
    with pytest.raises(DuplicateTaskError) as info:
        run_tasks([create_task(n, noop) for n in (2, "a", 2, "a")])
    assert set(info.value.names) == {2, "a"} and info.value.args == (2,)


def test_unhashable_names_are_refused_when_declared() -> None:
    with pytest.raises(TaskDefinitionError, match="must be hashable"):
        create_task(["a"], noop)  # type: ignore[arg-type]
    with pytest.raises(TaskDefinitionError, match="dependency name must be hashable"):
        create_task("t", noop, [["a"]])


def test_a_non_string_name_is_labelled_in_a_timeout() -> None:
    import time

    result = run_tasks([create_task(5, time.sleep, args=(1,), timeout=0.05)])[5]
    assert "task '5' did not finish" in str(result.value)


# ------------------------------------------------------------------ 5. module paths
def test_the_originals_module_paths() -> None:
    from arbiter.runner import Result as RunnerResult
    from arbiter.runner import run_tasks as runner_run_tasks
    from arbiter.task import Task as TaskTask
    from arbiter.task import create_task as task_create_task

    assert runner_run_tasks is arbiter.run_tasks is run_tasks
    assert RunnerResult is arbiter.Result is Result
    assert task_create_task is arbiter.create_task
    assert TaskTask is arbiter.Task


def test_importing_arbiter_task_loads_no_local_backend() -> None:
    script = (
        "import sys\n"
        "from arbiter.task import create_task\n"
        "from arbiter.exceptions import DependencyException\n"
        "assert 'arbiter_local' not in sys.modules, sorted(sys.modules)\n"
        "from arbiter.runner import run_tasks\n"
        "assert 'arbiter_local.dag_runner' in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
