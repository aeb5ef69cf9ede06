"""Arbiter.run_tasks: the create_task graph of the local runner, run on minions.

The same graphs and the same expected Results as the local runner's tests; only the
runner call differs. Minions run in threads here (memory:// and a throwaway Redis);
``tests/test_dag_processes.py`` kills minion and starter processes mid-DAG.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from arbiter import create_task, result_of, run_tasks
from arbiter.exceptions import (
    FailedDependencyError,
    TaskDefinitionError,
    TaskFailedError,
    TaskTimeoutError,
    UnsatisfiedDependencyError,
)
from arbiter_core.client import Arbiter
from arbiter_core.dag.plan import plan_dag
from arbiter_core.minion import Minion
from tests.distributed.conftest import running
from tests.support import wait_until
from tests.test_properties import Spec, dags, model

WAIT = 30.0


class Calls:
    """How often each tag ran, across the minion's threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.starts: list[tuple[str, frozenset[str]]] = []
        self.succeeded: set[str] = set()

    def count(self, tag: str) -> int:
        with self.lock:
            self.counts[tag] = self.counts.get(tag, 0) + 1
            return self.counts[tag]


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def app(make_minion: Callable[..., Minion], calls: Calls) -> Minion:
    minion = make_minion()

    @minion.task(name="double")
    def double(x: int) -> int:
        return 2 * x

    @minion.task(name="add")
    def add(*values: int, extra: int = 0) -> int:
        return sum(values) + extra

    @minion.task(name="concat")
    def concat(*parts: Any) -> list[Any]:
        return [p for part in parts for p in (part if isinstance(part, list) else [part])]

    @minion.task(name="fail")
    def fail(message: str = "boom") -> None:
        raise ValueError(message)

    @minion.task(name="flaky")
    def flaky(tag: str, failures: int) -> str:
        if calls.count(tag) <= failures:
            raise RuntimeError(f"{tag} attempt failed")
        return tag

    @minion.task(name="sleep")
    def sleep(seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    @minion.task(name="spec")
    def spec(name: str, failures: int, deps: list[str]) -> str:
        with calls.lock:
            calls.starts.append((name, frozenset(calls.succeeded)))
        if calls.count(name) <= failures:
            raise RuntimeError(f"{name} failed")
        with calls.lock:
            calls.succeeded.add(name)
        return name

    @minion.task(name="mark")
    def mark(tag: str, *_: Any) -> str:
        calls.count(tag)
        return tag

    minion.double = double  # type: ignore[attr-defined]
    return minion


@pytest.fixture
def served(app: Minion) -> Iterator[Minion]:
    with running(app, workers=4):
        yield app


# ------------------------------------------------------------------ the seed-000 example
def test_the_seed_000_example_runs_on_minions(served: Minion, arbiter: Arbiter) -> None:
    results = arbiter.run_tasks(  # the seed's call, with only the runner different
        [
            create_task("foo", "concat", args=("bar", "baz")),
            create_task("lorem", "mark", dependencies=["foo"], args=("lorem",)),
            create_task("ipsum", "mark", dependencies=["foo"], args=("ipsum",)),
        ],
        timeout=WAIT,
    )
    assert list(results) == ["foo", "lorem", "ipsum"]
    assert all(r.success for r in results.values())
    assert results["foo"].value == ["bar", "baz"]
    assert results["foo"].name == "foo" and results["foo"].attempts == 1


def test_the_function_may_be_the_decorated_task_itself(served: Minion, arbiter: Arbiter) -> None:
    double = served.double  # type: ignore[attr-defined]
    results = arbiter.run_tasks(
        [
            create_task("d0", double, args=(1,)),
            create_task("d1", "double", args=(result_of("d0"),)),
        ],
        timeout=WAIT,
    )
    assert (results["d0"].value, results["d1"].value) == (2, 4)


# ------------------------------------------------------------------ result_of
def test_result_of_passes_values_downstream_as_locally(served: Minion, arbiter: Arbiter) -> None:
    results = arbiter.run_tasks(
        [
            create_task("a", "double", args=(5,)),
            create_task("b", "double", args=(result_of("a"),)),
            create_task("c", "add", args=(result_of("a"), result_of("b")), kwargs={"extra": 1}),
            create_task("d", "add", args=(100,), kwargs={"extra": result_of("c")}),
        ],
        timeout=WAIT,
    )
    assert [r.value for r in results.values()] == [10, 20, 31, 131]


# ------------------------------------------------------------------ failures
def test_a_failure_ends_its_descendants_as_locally(served: Minion, arbiter: Arbiter) -> None:
    results = arbiter.run_tasks(
        [
            create_task("parse", "fail", args=("malformed input",)),
            create_task("analyse", "add", dependencies=["parse"]),
            create_task("publish", "add", dependencies=["analyse"]),
            create_task("unrelated", "add", args=(1,)),
        ],
        timeout=WAIT,
    )
    parse = results["parse"].value
    assert isinstance(parse, TaskFailedError)
    assert (parse.type_name, parse.message) == ("ValueError", "malformed input")
    direct, indirect = results["analyse"].value, results["publish"].value
    assert isinstance(direct, FailedDependencyError)
    assert (direct.task, direct.dependency, direct.via) == ("analyse", "parse", "parse")
    assert (indirect.dependency, indirect.via) == ("parse", "analyse")
    assert direct.args == ("parse",) and indirect.args == ("analyse",)
    assert results["publish"].attempts == 0
    assert results["unrelated"].success


def test_missing_and_cyclic_dependencies_as_locally(served: Minion, arbiter: Arbiter) -> None:
    def graph(function: Any) -> list[Any]:
        return [
            create_task("orphan", function, dependencies=["no-such-task"]),
            create_task("chicken", function, dependencies=["egg"]),
            create_task("egg", function, dependencies=["chicken"]),
            create_task("omelette", function, dependencies=["egg"]),
            create_task("toast", function),
        ]

    remote = arbiter.run_tasks(graph("add"), timeout=WAIT)
    local = run_tasks(graph(lambda: 0))
    assert remote["toast"].success
    for name in ("orphan", "chicken", "egg", "omelette"):
        got, want = remote[name].value, local[name].value
        assert isinstance(got, UnsatisfiedDependencyError)
        assert (got.args, got.missing, got.cycle, got.via) == (
            want.args,
            want.missing,
            want.cycle,
            want.via,
        ), name
        assert str(got) == str(want)


def test_names_must_be_strings(arbiter: Arbiter) -> None:
    with pytest.raises(TaskDefinitionError, match="distributed task names must be"):
        arbiter.run_tasks([create_task(7, "add")])
    with pytest.raises(TaskDefinitionError, match="distributed task names must be"):
        arbiter.run_tasks([create_task("a", "add", dependencies=[7])])
    with pytest.raises(TypeError, match=r"registered name or the @app\.task function"):
        arbiter.run_tasks([create_task("a", print)])


# ------------------------------------------------------------------ retries, timeouts
def test_retries_are_delayed_redeliveries(served: Minion, arbiter: Arbiter, calls: Calls) -> None:
    started = time.monotonic()
    results = arbiter.run_tasks(
        [
            create_task("twice", "flaky", args=("twice", 2), retries=2, delay=0.1),
            create_task("never", "flaky", args=("never", 5), retries=1),
            create_task("after", "add", args=(result_of("twice"),), dependencies=["twice"]),
        ],
        timeout=WAIT,
    )
    assert results["twice"].success and results["twice"].attempts == 3
    assert time.monotonic() - started >= 0.2  # two delays of 0.1 s
    assert not results["never"].success and results["never"].attempts == 2
    assert calls.counts == {"twice": 3, "never": 2}
    assert not results["after"].success  # it ran with "twice": add("twice") is a TypeError
    assert results["after"].value.type_name == "TypeError"


def test_a_per_task_timeout_holds(served: Minion, arbiter: Arbiter) -> None:
    results = arbiter.run_tasks(
        [
            create_task("slow", "sleep", args=(2.0,), timeout=0.2),
            create_task("quick", "sleep", args=(0.0,), timeout=5),
            create_task("behind", "add", dependencies=["slow"]),
        ],
        timeout=WAIT,
    )
    slow = results["slow"].value
    assert isinstance(slow, TaskTimeoutError) and slow.seconds == 0.2 and not slow.whole_run
    assert results["quick"].success
    assert isinstance(results["behind"].value, FailedDependencyError)


def test_the_whole_run_timeout_holds(served: Minion, arbiter: Arbiter) -> None:
    started = time.monotonic()
    results = arbiter.run_tasks(
        [
            create_task("quick", "double", args=(1,)),
            create_task("slow", "sleep", args=(3.0,)),
            create_task("later", "add", dependencies=["slow"]),
        ],
        timeout=0.5,
    )
    assert time.monotonic() - started < 2.5
    assert results["quick"].success
    for name in ("slow", "later"):
        error = results[name].value
        assert isinstance(error, TaskTimeoutError) and error.whole_run, name


# ------------------------------------------------------------------ status and resume
def test_status_and_resume_from_the_dag_id(served: Minion, arbiter: Arbiter) -> None:
    results = arbiter.run_tasks(
        [
            create_task("a", "double", args=(1,)),
            create_task("b", "fail"),
            create_task("c", "add", args=(result_of("a"),), dependencies=["b"]),
        ],
        timeout=WAIT,
        dag_id="nightly-1",
    )
    status = arbiter.status("nightly-1")
    assert status["kind"] == "dag" and status["state"] == "failed"
    assert status["states"] == {"a": "succeeded", "b": "failed", "c": "failed"}
    assert (status["total"], status["done"], status["succeeded"], status["failed"]) == (3, 3, 1, 2)
    assert status["result"] == {"a": 2}
    assert [t["dag_task"] for t in status["tasks"]] == ["a", "b", "c"]

    again = arbiter.resume("nightly-1", timeout=WAIT)
    assert list(again) == list(results)
    assert again["a"] == results["a"] and again["a"].attempts == 1
    assert again["c"].value.args == results["c"].value.args == ("b",)
    with pytest.raises(ValueError, match="taken"):
        arbiter.run_tasks([create_task("a", "double", args=(1,))], dag_id="nightly-1")
    with pytest.raises(LookupError, match="no DAG"):
        arbiter.resume("no-such-dag")


def test_a_dag_finishes_with_no_arbiter_alive(
    served: Minion, node_factory: Callable[..., Any], calls: Calls
) -> None:
    tasks = [create_task(f"m{i}", "mark", args=(f"m{i}",)) for i in range(5)]
    tasks.append(create_task("last", "mark", args=("last",), dependencies=[t.name for t in tasks]))
    with Arbiter(node_factory()) as starter:  # records the DAG, pushes its roots, and is gone
        plan_dag(starter, tasks, queue="default", deadline=None, dag_id="walkaway")
    with Arbiter(node_factory()) as other:
        assert wait_until(lambda: other.status("walkaway")["state"] == "succeeded", WAIT)
        results = other.resume("walkaway", timeout=WAIT)  # only reads the records now
    assert all(r.success for r in results.values())
    assert calls.counts == {t.name: 1 for t in tasks}


# ------------------------------------------------------------------ fan-in and size
def test_a_1000_way_fan_in_runs_once_after_all(
    served: Minion, arbiter: Arbiter, calls: Calls
) -> None:
    deps = [create_task(f"d{i}", "mark", args=(f"d{i}",)) for i in range(1000)]
    fan_in = create_task("fan", "mark", args=("fan",), dependencies=[d.name for d in deps])
    results = arbiter.run_tasks([*deps, fan_in], timeout=120)
    assert all(r.success for r in results.values())
    assert calls.counts["fan"] == 1
    assert all(calls.counts[f"d{i}"] == 1 for i in range(1000))


def test_a_dag_of_1000_tasks_passes_results_downstream(served: Minion, arbiter: Arbiter) -> None:
    tasks = [create_task("n0", "add", args=(1,))]
    for i in range(1, 1000):
        tasks.append(create_task(f"n{i}", "add", args=(result_of(f"n{i - 1}"), 1)))
    results = arbiter.run_tasks(tasks, timeout=120)
    assert results["n999"].value == 1000
    assert [results[f"n{i}"].value for i in range(1000)] == list(range(1, 1001))


# ------------------------------------------------------------------ the property test
@pytest.mark.parametrize(  # memory:// only, a few examples: the other tests cover Redis
    "broker_url", [pytest.param("memory://", id="memory")], indirect=True
)
def test_random_dags_as_the_local_runner(
    broker_url: str, served: Minion, arbiter: Arbiter, calls: Calls
) -> None:

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    @given(specs=dags())
    def check(specs: list[Spec]) -> None:
        with calls.lock:
            calls.counts.clear()
            calls.starts.clear()
            calls.succeeded.clear()
        tasks = [
            create_task(
                s.name, "spec", args=(s.name, s.failures, list(s.deps)),
                dependencies=s.deps, retries=s.retries,
            )
            for s in specs
        ]  # fmt: skip
        results = arbiter.run_tasks(tasks, timeout=WAIT)
        expected = model(specs)
        by_name = {s.name: s for s in specs}
        assert list(results) == [s.name for s in specs]
        for name, before in calls.starts:
            assert set(by_name[name].deps) <= before, name
        ran = {name for name, _ in calls.starts}
        assert ran == {n for n, o in expected.items() if o in ("ok", "failed")}
        for name in ran:
            spec = by_name[name]
            assert calls.counts[name] == min(spec.failures, spec.retries) + 1
            assert results[name].attempts == calls.counts[name]
        for name, outcome in expected.items():
            result = results[name]
            if outcome == "ok":
                assert result.success and result.value == name
            elif outcome == "failed":
                assert not result.success and result.value.type_name == "RuntimeError"
            elif outcome == "dep-failed":
                error = result.value
                assert isinstance(error, FailedDependencyError) and result.attempts == 0
                assert expected[error.dependency] == "failed"
                assert error.via in by_name[name].deps
            else:
                error = result.value
                assert isinstance(error, UnsatisfiedDependencyError) and result.attempts == 0
                assert error.missing and all(m.startswith("missing") for m in error.missing)

    check()
