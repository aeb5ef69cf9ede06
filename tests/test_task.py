"""create_task checks every setting when the task is declared, not when it runs."""

from __future__ import annotations

import dataclasses
import math
from datetime import timedelta

import pytest

from arbiter import Task, create_task, result_of, run_tasks
from arbiter.exceptions import ArbiterError, TaskDefinitionError


def noop(*args: object, **kwargs: object) -> None:
    return None


def test_defaults() -> None:
    task = create_task("t", noop)
    assert isinstance(task, Task)
    assert task.args == ()
    assert dict(task.kwargs) == {}
    assert task.dependencies == frozenset()
    assert task.retries == 0
    assert task.attempts_allowed == 1
    assert task.delay is None
    assert task.timeout is None


def test_task_definition_error_is_a_value_error_and_an_arbiter_error() -> None:
    assert issubclass(TaskDefinitionError, ValueError)
    assert issubclass(TaskDefinitionError, ArbiterError)


@pytest.mark.parametrize("name", [[], {}, {"a"}, ("tuple", ["with a list"])])
def test_name_must_be_hashable(name: object) -> None:
    with pytest.raises(TaskDefinitionError, match="name must be hashable"):
        create_task(name, noop)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", None, 3, b"bytes", ("a", 1), frozenset({"x"})])
def test_any_hashable_is_a_task_name_as_in_the_original(name: object) -> None:
    assert create_task(name, noop).name == name  # type: ignore[arg-type]


@pytest.mark.parametrize("function", [None, 42, ""])
def test_function_must_be_callable(function: object) -> None:
    with pytest.raises(TaskDefinitionError, match="callable"):
        create_task("t", function)  # type: ignore[arg-type]


def test_a_registered_task_name_is_for_the_minions_only() -> None:
    """A string names a task registered on minions (Arbiter.run_tasks); run_tasks refuses it."""
    task = create_task("t", "noop")
    assert task.function == "noop"
    with pytest.raises(TaskDefinitionError, match="callable"):
        run_tasks([task])


@pytest.mark.parametrize("retries", [-1, True, False, 1.5, "3", None])
def test_retries_must_be_a_non_negative_int(retries: object) -> None:
    with pytest.raises(TaskDefinitionError, match="retries"):
        create_task("t", noop, retries=retries)  # type: ignore[arg-type]


def test_retries_counts_attempts() -> None:
    assert create_task("t", noop, retries=3).attempts_allowed == 4


def test_dependencies_as_a_string_is_refused_with_a_hint() -> None:
    with pytest.raises(TaskDefinitionError, match=r"\['foo'\]"):
        create_task("t", noop, dependencies="foo")


@pytest.mark.parametrize("dep", [[], {}, set()])
def test_dependency_names_must_be_hashable(dep: object) -> None:
    with pytest.raises(TaskDefinitionError, match="dependency name must be hashable"):
        create_task("t", noop, dependencies=["ok", dep])


def test_dependency_names_may_be_any_hashable() -> None:
    assert create_task("t", noop, dependencies=[1, None, "x"]).dependencies == {1, None, "x"}


def test_dependencies_accept_any_iterable_and_deduplicate() -> None:
    task = create_task("t", noop, dependencies=(d for d in ["a", "b", "a"]))
    assert task.dependencies == frozenset({"a", "b"})


@pytest.mark.parametrize("args", ["foo", b"foo"])
def test_args_as_a_string_is_refused_with_a_hint(args: object) -> None:
    with pytest.raises(TaskDefinitionError, match="args"):
        create_task("t", noop, args=args)  # type: ignore[arg-type]


def test_args_accept_any_iterable() -> None:
    assert create_task("t", noop, args=[1, 2]).args == (1, 2)
    assert create_task("t", noop, args=iter([3])).args == (3,)


@pytest.mark.parametrize("option", ["delay", "timeout"])
@pytest.mark.parametrize("value", [-1, -0.001, timedelta(seconds=-1), math.nan, "5", True, [1]])
def test_bad_delay_and_timeout_are_refused(option: str, value: object) -> None:
    with pytest.raises(TaskDefinitionError, match=option):
        create_task("t", noop, **{option: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("option", ["delay", "timeout"])
@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (timedelta(seconds=5), 5.0),
        (timedelta(milliseconds=250), 0.25),
        (2, 2.0),
        (0.5, 0.5),
        (0, 0.0),
        (None, None),
    ],
)
def test_delay_and_timeout_as_timedelta_or_seconds(
    option: str, value: object, seconds: float | None
) -> None:
    task = create_task("t", noop, **{option: value})  # type: ignore[arg-type]
    assert getattr(task, option) == seconds
    if seconds is not None:
        assert isinstance(getattr(task, option), float)


def test_kwargs_are_copied_and_read_only() -> None:
    given = {"a": 1}
    task = create_task("t", noop, kwargs=given)
    given["a"] = 2
    assert dict(task.kwargs) == {"a": 1}
    with pytest.raises(TypeError):
        task.kwargs["a"] = 3  # type: ignore[index]


def test_task_is_frozen() -> None:
    task = create_task("t", noop, args=(1,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.retries = 5  # type: ignore[misc]
    with pytest.raises((AttributeError, TypeError)):
        task.extra = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        del task.timeout
    # Variants are built with _replace, leaving the original alone.
    other = task._replace(name="u", timeout=2)
    assert (task.name, other.name, task.timeout, other.timeout) == ("t", "u", None, 2)
    assert other.args == (1,)
    with pytest.raises(TypeError, match="no field"):
        task._replace(priority=1)


def test_result_of_adds_dependencies_from_args_and_kwargs() -> None:
    task = create_task(
        "t",
        noop,
        args=(result_of("a"), 1),
        kwargs={"x": result_of("b"), "y": 2},
        dependencies=["c"],
    )
    assert task.dependencies == frozenset({"a", "b", "c"})
    assert task.uses_results
    assert not create_task("u", noop, args=(1,)).uses_results


def test_result_of_binds_values() -> None:
    task = create_task("t", noop, args=(result_of("a"), 1), kwargs={"x": result_of("b")})
    args, kwargs = task.bind_results({"a": "A", "b": "B"})
    assert args == ("A", 1)
    assert kwargs == {"x": "B"}


def test_result_of_is_only_replaced_at_the_top_level() -> None:
    nested = [result_of("a")]
    task = create_task("t", noop, args=(nested,))
    assert task.dependencies == frozenset()
    assert task.bind_results({"a": 1})[0] == (nested,)


@pytest.mark.parametrize("bad", [[], {}, set()])
def test_result_of_needs_a_task_name(bad: object) -> None:
    with pytest.raises(TaskDefinitionError, match="hashable"):
        result_of(bad)  # type: ignore[arg-type]


def test_result_of_takes_any_hashable_name() -> None:
    assert create_task("t", noop, args=(result_of(7),)).dependencies == {7}


def test_result_of_repr() -> None:
    assert repr(result_of("a")) == "result_of('a')"


@pytest.mark.parametrize(
    ("keyword", "suggestion"),
    [
        ("replies", "retries"),
        ("retry", "retries"),
        ("dependencys", "dependencies"),
        ("depends", "dependencies"),
        ("timout", "timeout"),
        ("dealy", "delay"),
        ("arg", "args"),
        ("kwarg", "kwargs"),
    ],
)
def test_misspelt_keyword_is_a_type_error_naming_the_intended_one(
    keyword: str, suggestion: str
) -> None:
    with pytest.raises(TypeError) as info:
        create_task("t", noop, **{keyword: 1})
    message = str(info.value)
    assert repr(keyword) in message
    assert f"did you mean {suggestion!r}" in message
    assert not isinstance(info.value, TaskDefinitionError)


def test_unknown_keyword_without_a_close_match() -> None:
    with pytest.raises(TypeError) as info:
        create_task("t", noop, priority=5)
    message = str(info.value)
    assert "'priority'" in message
    assert "did you mean" not in message


def test_several_unknown_keywords_are_all_named() -> None:
    with pytest.raises(TypeError) as info:
        create_task("t", noop, replies=3, colour="red")
    message = str(info.value)
    assert "'replies'" in message
    assert "'colour'" in message
