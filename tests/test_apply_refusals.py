"""Every ``apply`` refusal is a SerializationError or ValueError naming the argument (DESIGN §6).

Whatever the arguments, ``apply`` either queues the task or raises SerializationError,
ValueError or TypeError, with nothing queued, and the explanation itself never fails:
no bare RecursionError from a deep value, no ValueError from ``repr()`` of a huge int,
no UnicodeEncodeError from the broker much later.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbiter_core.client import Arbiter
from arbiter_core.errors import SerializationError
from arbiter_core.node.arguments import require_name


def _nested(depth: int, inner: object = None) -> object:
    value = inner
    for _ in range(depth):
        value = [value]
    return value


def _nested_dict(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = {"k": value}
    return value


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class Unpicklable(BrokenRepr):
    def __reduce__(self) -> Any:
        raise TypeError("cannot pickle an Unpicklable")


@pytest.fixture(params=["json", "pickle"])
def arbiter(request: pytest.FixtureRequest) -> Iterator[Arbiter]:
    if request.param == "json":
        client = Arbiter("memory://refusals")
    else:
        client = Arbiter("memory://refusals", serializer="pickle", signing_secret="k")
    try:
        yield client
    finally:
        assert client.node.queue_size("default") == 0, "a refused apply queued something"
        client.close()


@pytest.fixture
def json_arbiter() -> Iterator[Arbiter]:
    client = Arbiter("memory://refusals")
    try:
        yield client
    finally:
        client.close()


DEEP = _nested(10_000)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ({"task_args": [DEEP]}, "args[0]: list value is nested too deeply to be encoded as"),
        ({"task_args": [1, _nested_dict(10_000)]}, "args[1]: dict value is nested too deeply"),
        ({"task_kwargs": {"tree": [1, DEEP]}}, "kwargs['tree'][1]: list value is nested too"),
        ({"task_args": [2, 3], "task_kwargs": {"a": 1, "b": {"c": DEEP}}}, "kwargs['b']: dict"),
    ],
    ids=["list", "dict", "kwarg", "kwarg-in-dict"],
)
def test_a_value_nested_too_deeply_is_named(
    arbiter: Arbiter, call: dict[str, Any], message: str
) -> None:
    with pytest.raises(SerializationError) as info:
        arbiter.apply("t", **call)
    assert str(info.value).startswith(f"task 't': {message}")
    assert "flatten it" in str(info.value)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ({"task_args": [10**5000]}, "args[0]: int value with 5001 digits cannot be encoded as"),
        ({"task_args": [0, [-(10**4300)]]}, "args[1][0]: int value with 4301 digits"),
        ({"task_kwargs": {"n": {"m": 7**10_000}}}, "kwargs['n']['m']: int value with 8451 digits"),
        ({"task_args": [{10**5000: "key"}]}, "args[0][<int with 5001 digits>] (key): int value"),
        ({"task_args": [math.nan]}, "args[0]: float value nan cannot be encoded as JSON"),
        ({"task_args": [1, math.inf]}, "args[1]: float value inf cannot be encoded as JSON"),
        ({"task_kwargs": {"x": [-math.inf]}}, "kwargs['x'][0]: float value -inf"),
        ({"task_args": [{"nan": {math.nan: 1}}]}, "args[0]['nan'][nan] (key): float value nan"),
        ({"task_args": [BrokenRepr()]}, "args[0]: BrokenRepr value <BrokenRepr instance at"),
        ({"task_kwargs": {1: "x"}}, "kwargs[1] (key): keyword argument names must be str"),
    ],
    ids=[
        *("huge-int", "huge-negative", "huge-kwarg", "huge-key", "nan", "inf", "-inf"),
        *("nan-key", "broken-repr", "int-kwarg-name"),
    ],
)
def test_an_unencodable_value_is_named(
    json_arbiter: Arbiter, call: dict[str, Any], message: str
) -> None:
    with pytest.raises(SerializationError) as info:
        json_arbiter.apply("t", **call)
    assert str(info.value).startswith(f"task 't': {message}")
    assert json_arbiter.node.queue_size("default") == 0


def test_a_huge_int_says_what_to_do(json_arbiter: Arbiter) -> None:
    with pytest.raises(
        SerializationError, match=r"at most 4300 digits to text\); pass it as a str"
    ):
        json_arbiter.apply("t", task_args=[10**5000])


def test_pickle_carries_what_json_cannot_but_names_what_it_cannot() -> None:
    with Arbiter("memory://refusals", serializer="pickle", signing_secret="k") as arbiter:
        _pickle_refusals(arbiter)


def _pickle_refusals(arbiter: Arbiter) -> None:
    with pytest.raises(SerializationError, match=r"^task 't': args\[1\]: function value"):
        arbiter.apply("t", task_args=[1, lambda: 2])
    with pytest.raises(SerializationError, match=r"^task 't': kwargs\[1\] \(key\)"):
        arbiter.apply("t", task_kwargs={1: "x"})  # type: ignore[dict-item]
    with pytest.raises(SerializationError) as info:
        arbiter.apply("t", task_args=[{"x": Unpicklable()}])
    assert str(info.value).startswith(
        "task 't': args[0]['x']: Unpicklable value <Unpicklable instance at 0x"
    )
    assert str(info.value).endswith("cannot be encoded as pickle (cannot pickle an Unpicklable)")
    assert arbiter.node.queue_size("default") == 0
    before = arbiter.node.queue_size("pickled")
    arbiter.apply("t", task_args=[10**5000, math.nan, {1: math.inf}], queue="pickled")
    assert arbiter.node.queue_size("pickled") == before + 1


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        ({"queue": "q\ud800"}, ValueError, "queue name 'q\\ud800' is not valid text"),
        ({"name": "t\udc00"}, ValueError, "task name 't\\udc00' is not valid text"),
        ({"queue": ""}, ValueError, "queue name must not be empty"),
        ({"name": ""}, ValueError, "task name must not be empty"),
        ({"queue": 5}, TypeError, "queue name must be a str, got int"),
        ({"name": None}, TypeError, "task name must be a str, got NoneType"),
    ],
    ids=["queue-surrogate", "task-surrogate", "empty-queue", "empty-task", "int-queue", "no-task"],
)
def test_a_name_no_broker_can_store_is_refused(
    arbiter: Arbiter, call: dict[str, Any], error: type[Exception], message: str
) -> None:
    call = dict(call)  # shared by both serializers' runs
    name = call.pop("name", "t")
    with pytest.raises(error) as info:
        arbiter.apply(name, **call)
    assert str(info.value).startswith(message)


def test_require_name() -> None:
    assert require_name("default", "queue") == "default"
    assert require_name("café-☕", "queue") == "café-☕"
    with pytest.raises(TypeError, match=r"^queue must be a str, got bytes"):
        require_name(b"q", "queue")
    with pytest.raises(ValueError, match=r"^queue must not be empty"):
        require_name("", "queue")
    with pytest.raises(
        ValueError, match=r"lone surrogate \('\\udfff' at index 2\).*real characters"
    ):
        require_name("ab\udfff", "queue")
    with pytest.raises(ValueError) as info:
        require_name("x" * 1000 + "\ud800", "task name")
    assert len(str(info.value)) < 400


surrogate_text = st.text(
    st.characters() | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
)
anything = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([5000, 4301, 4300]).map(lambda digits: -(10**digits))
    | st.sampled_from([2**63, math.nan, math.inf, -math.inf, -0.0])
    | st.floats(allow_nan=True, allow_infinity=True)
    | surrogate_text
    | st.builds(BrokenRepr)
    | st.builds(object)
    | st.sampled_from([10, 2_000, 10_000]).map(_nested)
    | st.sampled_from([{1, 2}, b"bytes"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(surrogate_text | st.integers() | st.floats(), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    name=st.sampled_from(["t", "", "t\ud800"]) | surrogate_text,
    args=st.lists(anything, max_size=3),
    kwargs=st.dictionaries(surrogate_text | st.integers(), anything, max_size=3),
    queue=st.sampled_from(["default", "", "q\udfff"]),
)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_apply_only_ever_queues_or_refuses_cleanly(
    name: str, args: list[Any], kwargs: dict[Any, Any], queue: str
) -> None:
    with Arbiter("memory://refusals-anything") as client:
        before = client.node.queue_size("default")
        try:
            ids = client.apply(name, task_args=args, task_kwargs=kwargs, queue=queue)
        except (SerializationError, ValueError, TypeError) as exc:
            assert str(exc)
            assert client.node.queue_size("default") == before
        else:
            assert len(ids) == 1
