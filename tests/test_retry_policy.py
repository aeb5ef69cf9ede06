"""RetryPolicy: one retry rule, with backoff, for create_task, @app.task and the local runner."""

from __future__ import annotations

import dataclasses
import itertools
import math
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

import arbiter
import arbiter_core
from arbiter import RetryPolicy, create_task, run_tasks
from arbiter.exceptions import TaskDefinitionError
from arbiter_core.minion.registry import TaskDefinition, TaskRegistry
from arbiter_core.retry import retry_policy


def noop() -> None:
    return None


# ------------------------------------------------------------ delays


def test_the_default_policy_never_retries_and_never_waits() -> None:
    policy = RetryPolicy()
    assert (policy.retries, policy.delay, policy.backoff, policy.max_delay, policy.jitter) == (
        0,
        0.0,
        1.0,
        None,
        0.0,
    )
    assert not policy.allows(1)
    assert policy.delay_after(1) == 0.0


def test_allows_counts_the_attempt_that_just_failed_from_one() -> None:
    policy = RetryPolicy(retries=2)
    assert [policy.allows(attempt) for attempt in (1, 2, 3, 4)] == [True, True, False, False]


@pytest.mark.parametrize("attempt", [0, -1, True, 1.0])
def test_attempts_are_numbered_from_one(attempt: object) -> None:
    with pytest.raises(ValueError, match="numbered from 1"):
        RetryPolicy(retries=1).allows(attempt)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="numbered from 1"):
        RetryPolicy(retries=1).delay_after(attempt)  # type: ignore[arg-type]


def test_a_constant_delay() -> None:
    policy = RetryPolicy(retries=5, delay=0.5)
    assert [policy.delay_after(n) for n in range(1, 6)] == [0.5] * 5
    assert policy.is_constant


def test_an_exponential_delay() -> None:
    policy = RetryPolicy(retries=5, delay=1, backoff=2)
    assert [policy.delay_after(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert not policy.is_constant


def test_a_capped_exponential_delay() -> None:
    policy = RetryPolicy(retries=6, delay=1, backoff=3, max_delay=timedelta(seconds=10))
    assert policy.max_delay == 10.0
    assert [policy.delay_after(n) for n in range(1, 6)] == [1.0, 3.0, 9.0, 10.0, 10.0]


def test_a_huge_attempt_number_is_the_cap_not_an_overflow() -> None:
    assert RetryPolicy(retries=1, delay=1, backoff=2, max_delay=60).delay_after(10_000) == 60.0
    assert RetryPolicy(retries=1, delay=1, backoff=2).delay_after(10_000) == math.inf
    assert RetryPolicy(retries=1, delay=1, backoff=2, jitter=0.5).delay_after(10_000) == math.inf


def test_delays_take_timedeltas_and_store_seconds() -> None:
    policy = RetryPolicy(retries=1, delay=timedelta(milliseconds=250), max_delay=2)
    assert policy.delay == 0.25 and isinstance(policy.delay, float)
    assert policy.max_delay == 2.0 and isinstance(policy.max_delay, float)


def test_jitter_spreads_the_waits_below_the_computed_delay() -> None:
    policy = RetryPolicy(retries=3, delay=1.0, backoff=2, jitter=0.5)
    waits = {policy.delay_after(2) for _ in range(200)}
    assert all(1.0 <= wait <= 2.0 for wait in waits)
    assert len(waits) > 100  # random, not one fixed value


def test_jitter_never_exceeds_the_cap() -> None:
    policy = RetryPolicy(retries=3, delay=1.0, backoff=10, max_delay=5, jitter=1.0)
    assert all(0.0 <= policy.delay_after(3) <= 5.0 for _ in range(100))


def test_jitter_draws_with_random_uniform(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("arbiter_core.retry.random.uniform", lambda low, high: high)
    assert RetryPolicy(retries=1, delay=4.0, jitter=0.25).delay_after(1) == 3.0


policies = st.builds(
    RetryPolicy,
    retries=st.integers(0, 10),
    delay=st.floats(0, 100, allow_nan=False),
    backoff=st.floats(1, 10, allow_nan=False),
    jitter=st.floats(0, 1, allow_nan=False),
)


@given(policies, st.integers(1, 50))
def test_every_wait_lies_between_its_jittered_floor_and_the_backoff_formula(
    policy: RetryPolicy, attempt: int
) -> None:
    formula = policy.delay * policy.backoff ** (attempt - 1)
    wait = policy.delay_after(attempt)
    assert wait <= formula * (1 + 1e-9)
    assert wait >= formula * (1 - policy.jitter) * (1 - 1e-9)


@given(
    st.floats(0, 100, allow_nan=False),
    st.floats(1, 10, allow_nan=False),
    st.floats(0, 1000, allow_nan=False),
)
def test_without_jitter_the_waits_never_shrink_and_never_pass_the_cap(
    delay: float, backoff: float, extra: float
) -> None:
    policy = RetryPolicy(retries=30, delay=delay, backoff=backoff, max_delay=delay + extra)
    waits = [policy.delay_after(n) for n in range(1, 31)]
    assert waits == sorted(waits)
    assert all(wait <= delay + extra for wait in waits)
    assert waits[0] == delay


@given(st.integers(0, 20), st.integers(1, 40))
def test_allows_exactly_the_retries(retries: int, attempt: int) -> None:
    assert RetryPolicy(retries=retries).allows(attempt) == (attempt <= retries)


# ------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retries": -1}, "retries must be an int >= 0, got -1"),
        ({"retries": True}, "retries must be an int >= 0, got True"),
        ({"retries": 1.5}, "retries must be an int >= 0, got 1.5"),
        ({"retries": "3"}, "retries must be an int >= 0, got '3'"),
        ({"delay": -1}, "delay must not be negative, got -1"),
        ({"delay": math.nan}, "delay must not be negative"),
        ({"delay": timedelta(seconds=-1)}, "delay must not be negative"),
        ({"delay": "5"}, "delay must be a number of seconds or a datetime.timedelta"),
        ({"delay": None}, "delay must be a number of seconds or a timedelta, got None"),
        ({"max_delay": -2}, "max_delay must not be negative, got -2"),
        ({"max_delay": "10"}, "max_delay must be a number of seconds"),
        ({"delay": 10, "max_delay": 5}, "max_delay (5s) must not be shorter than delay (10s)"),
        ({"backoff": 0.5}, "backoff must be a finite number >= 1"),
        ({"backoff": 0}, "backoff must be a finite number >= 1"),
        ({"backoff": math.nan}, "backoff must be a finite number >= 1"),
        ({"backoff": math.inf}, "backoff must be a finite number >= 1"),
        ({"backoff": True}, "backoff must be a finite number >= 1"),
        ({"backoff": "2"}, "backoff must be a finite number >= 1"),
        ({"jitter": -0.1}, "jitter must be a fraction between 0 and 1"),
        ({"jitter": 1.5}, "jitter must be a fraction between 0 and 1"),
        ({"jitter": math.nan}, "jitter must be a fraction between 0 and 1"),
        ({"jitter": False}, "jitter must be a fraction between 0 and 1"),
    ],
)
def test_a_bad_policy_is_refused_with_a_clear_message(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(TaskDefinitionError) as caught:
        RetryPolicy(**options)  # type: ignore[arg-type]
    assert message in str(caught.value)


def test_a_policy_is_frozen_hashable_and_rebuilt_checked_by_replace() -> None:
    policy = RetryPolicy(retries=2, delay=1, backoff=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.retries = 3  # type: ignore[misc]
    assert policy == RetryPolicy(2, 1.0, 2.0) and hash(policy) == hash(RetryPolicy(2, 1.0, 2.0))
    assert dataclasses.replace(policy, retries=5).retries == 5
    with pytest.raises(TaskDefinitionError, match="jitter"):
        dataclasses.replace(policy, jitter=2)


def test_retry_policy_is_exported_from_the_core_and_the_public_package() -> None:
    assert arbiter.RetryPolicy is arbiter_core.RetryPolicy is RetryPolicy
    assert "RetryPolicy" in arbiter.__all__ and "RetryPolicy" in arbiter_core.__all__


# ------------------------------------------------------------ from retries=/delay=


def test_retry_policy_builds_from_todays_arguments() -> None:
    assert retry_policy("task 't'") == RetryPolicy()
    assert retry_policy("task 't'", 3, timedelta(seconds=5)) == RetryPolicy(3, 5.0)
    given_policy = RetryPolicy(2, 1, backoff=2)
    assert retry_policy("task 't'", retry=given_policy) is given_policy


def test_retry_policy_errors_name_the_task() -> None:
    with pytest.raises(TaskDefinitionError, match=r"^task 't': retries must be an int >= 0"):
        retry_policy("task 't'", -1)
    with pytest.raises(TaskDefinitionError, match=r"^task 't': delay must not be negative"):
        retry_policy("task 't'", 1, -1)


@pytest.mark.parametrize("others", [{"retries": 2}, {"delay": 1}, {"retries": 1, "delay": 0}])
def test_retry_with_retries_or_delay_is_refused(others: dict[str, object]) -> None:
    with pytest.raises(TaskDefinitionError, match="not both") as caught:
        create_task("t", noop, retry=RetryPolicy(retries=1), **others)  # type: ignore[arg-type]
    assert "task 't'" in str(caught.value)


def test_retry_must_be_a_policy_and_a_number_suggests_retries() -> None:
    with pytest.raises(TypeError, match=r"'retry' takes a RetryPolicy, got 3.*'retries'"):
        create_task("t", noop, retry=3)  # type: ignore[arg-type]


# ------------------------------------------------------------ create_task and Task


def test_create_task_with_a_policy() -> None:
    policy = RetryPolicy(retries=3, delay=0.5, backoff=2, max_delay=4, jitter=0.1)
    task = create_task("t", noop, retry=policy)
    assert task.retry is policy
    assert (task.retries, task.delay, task.attempts_allowed) == (3, 0.5, 4)


def test_create_task_with_a_policy_that_has_no_delay() -> None:
    task = create_task("t", noop, retry=RetryPolicy(retries=2))
    assert (task.retries, task.delay) == (2, 0.0)


@pytest.mark.parametrize(
    ("options", "retries", "delay", "policy"),
    [
        ({}, 0, None, RetryPolicy()),
        ({"retries": 3}, 3, None, RetryPolicy(3)),
        ({"retries": 3, "delay": timedelta(seconds=5)}, 3, 5.0, RetryPolicy(3, 5.0)),
        ({"delay": 0}, 0, 0.0, RetryPolicy()),
    ],
)
def test_retries_and_delay_work_as_before_and_make_a_constant_policy(
    options: dict[str, object], retries: int, delay: float | None, policy: RetryPolicy
) -> None:
    task = create_task("t", noop, **options)  # type: ignore[arg-type]
    assert (task.retries, task.delay) == (retries, delay)
    assert task.retry == policy


def test_retries_and_delay_keep_their_positions() -> None:
    task = create_task("t", noop, (), (), None, 2, 1.5, timeout=3)
    assert (task.retries, task.delay, task.timeout) == (2, 1.5, 3.0)


def test_a_variant_with_other_retries_or_delay_rebuilds_a_constant_policy() -> None:
    task = create_task("t", noop, retries=1, delay=2)
    more = task._replace(retries=5)
    assert (more.retries, more.delay, more.retry) == (5, 2.0, RetryPolicy(5, 2.0))
    sooner = task._replace(delay=None)
    assert (sooner.delay, sooner.retry) == (None, RetryPolicy(1))


def test_a_variant_may_swap_the_policy_with_its_numbers() -> None:
    task = create_task("t", noop, retries=1)
    policy = RetryPolicy(retries=4, delay=1, backoff=2)
    swapped = task._replace(retry=policy, retries=4, delay=1.0)
    assert swapped.retry is policy


def test_a_variant_that_contradicts_a_backoff_policy_is_refused() -> None:
    task = create_task("t", noop, retry=RetryPolicy(retries=2, delay=1, backoff=2))
    with pytest.raises(TaskDefinitionError, match=r"task 't': retries=5 .* disagree with retry="):
        task._replace(retries=5)


# ------------------------------------------------------------ the minion's registry


def test_a_task_definition_holds_a_policy_and_reads_like_before() -> None:
    definition = TaskDefinition("t", noop)
    assert definition.retry == RetryPolicy()
    assert (definition.retries, definition.delay) == (0, 0.0)


def test_register_with_retries_and_delay_builds_a_constant_policy() -> None:
    registry = TaskRegistry("default")
    definition = registry.register(noop, "t", retries=2, delay=timedelta(seconds=3))
    assert definition.retry == RetryPolicy(2, 3.0)
    assert (definition.retries, definition.delay) == (2, 3.0)
    assert registry.register(noop, "u").retry == RetryPolicy()


def test_register_and_decorator_take_a_policy() -> None:
    registry = TaskRegistry("default")
    policy = RetryPolicy(retries=3, delay=1, backoff=2, max_delay=3)
    assert registry.register(noop, "t", retry=policy).retry is policy

    @registry.decorator("u", retry=policy, timeout=5)
    def decorated() -> None:
        return None

    definition = registry.get("u")
    assert definition.retry is policy and definition.timeout == 5.0
    assert [definition.retry.delay_after(n) for n in (1, 2, 3)] == [1.0, 2.0, 3.0]
    assert [definition.retry.allows(n) for n in (3, 4)] == [True, False]


def test_register_refuses_what_create_task_refuses() -> None:
    registry = TaskRegistry("default")
    with pytest.raises(TaskDefinitionError, match="task 't': retries must be an int >= 0"):
        registry.register(noop, "t", retries=-1)
    with pytest.raises(TaskDefinitionError, match="task 't': delay must not be negative"):
        registry.register(noop, "t", delay=-1)
    with pytest.raises(TaskDefinitionError, match="not both"):
        registry.register(noop, "t", retries=1, retry=RetryPolicy(retries=1))
    with pytest.raises(TaskDefinitionError, match="not both"):
        registry.decorator("t", delay=1, retry=RetryPolicy(retries=1))(noop)
    assert len(registry) == 0


# ------------------------------------------------------------ the local runner


class Starts:
    """Thread-safe log of when each attempt of a task started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[tuple[str, float]] = []

    def failing(self, name: str, failures: int) -> Callable[[], str]:
        calls = itertools.count(1)

        def run() -> str:
            n = next(calls)
            with self._lock:
                self.events.append((f"{name}{n}", time.monotonic()))
            if n <= failures:
                raise ConnectionError(f"{name}: attempt {n} failed")
            return "ok"

        return run

    def logging(self, name: str) -> Callable[[], None]:
        def run() -> None:
            with self._lock:
                self.events.append((name, time.monotonic()))

        return run

    @property
    def labels(self) -> list[str]:
        return [label for label, _ in self.events]

    def gap(self, first: str, second: str) -> float:
        times = dict(self.events)
        return times[second] - times[first]


def test_run_tasks_waits_longer_before_each_retry() -> None:
    starts = Starts()
    policy = RetryPolicy(retries=3, delay=0.02, backoff=3)  # waits 0.02, 0.06, 0.18
    results = run_tasks([create_task("t", starts.failing("t", 3), retry=policy)])
    assert results["t"].success and results["t"].attempts == 4
    assert starts.labels == ["t1", "t2", "t3", "t4"]
    assert starts.gap("t1", "t2") >= 0.02
    assert starts.gap("t2", "t3") >= 0.06
    assert starts.gap("t3", "t4") >= 0.18
    assert results["t"].duration >= 0.26


def test_run_tasks_gives_up_when_the_policy_has_no_retries_left() -> None:
    starts = Starts()
    policy = RetryPolicy(retries=2, delay=0.01, backoff=2, max_delay=0.02, jitter=0.5)
    results = run_tasks([create_task("t", starts.failing("t", 10), retry=policy)])
    assert not results["t"].success and results["t"].attempts == 3
    assert str(results["t"].value) == "t: attempt 3 failed"


def test_other_work_fills_the_growing_waits_of_a_backed_off_task() -> None:
    """One worker: ``a``, ``b`` and ``c`` run in the waits, and the last retry waits longest."""
    starts = Starts()
    policy = RetryPolicy(retries=2, delay=0.05, backoff=20)  # waits 0.05 then 1.0
    results = run_tasks(
        [
            create_task("t", starts.failing("t", 2), retry=policy),
            create_task("a", starts.logging("a")),
            create_task("b", starts.logging("b"), dependencies=["a"]),
            create_task("c", starts.logging("c"), dependencies=["b"]),
        ],
        max_workers=1,
    )
    assert all(result.success for result in results.values())
    assert results["t"].attempts == 3
    assert starts.labels.index("t1") < starts.labels.index("a") < starts.labels.index("t3")
    assert starts.labels[-1] == "t3"  # the second, longer wait outlasted b and c
    assert starts.gap("t2", "t3") >= 1.0


def test_a_policy_without_delay_retries_at_once() -> None:
    starts = Starts()
    results = run_tasks([create_task("t", starts.failing("t", 2), retry=RetryPolicy(retries=2))])
    assert results["t"].success and starts.labels == ["t1", "t2", "t3"]
