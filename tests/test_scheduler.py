"""The Scheduler: dependency order, validation, and what can never run (and why)."""

from __future__ import annotations

import threading

import pytest

from arbiter import create_task, run_tasks
from arbiter.exceptions import (
    DuplicateTaskError,
    FailedDependencyError,
    TaskDefinitionError,
    UnsatisfiedDependencyError,
)
from arbiter_core import Scheduler, Task


def noop() -> None:
    return None


def fail() -> None:
    raise RuntimeError("boom")


def task(name: str, *deps: str) -> Task:
    return create_task(name, noop, dependencies=list(deps))


def names(tasks: list[Task]) -> list[str]:
    return [t.name for t in tasks]


def drain(scheduler: Scheduler, failing: frozenset[str] = frozenset()) -> list[str]:
    """Run the scheduler to the end, failing the named tasks; return the start order."""
    order: list[str] = []
    while scheduler.is_active():
        scheduler.get_blocked()
        ready = scheduler.get_ready()
        for t in ready:
            order.append(t.name)
            scheduler.done(t.name, t.name not in failing)
        if not ready and scheduler.is_active():
            raise AssertionError("the scheduler is stuck: active, nothing ready")
    return order


class Recorder:
    """A task function that records which tasks ran, thread-safely."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ran: list[str] = []

    def make(self, name: str, *, fails: bool = False):  # type: ignore[no-untyped-def]
        def run() -> str:
            with self.lock:
                self.ran.append(name)
            if fails:
                raise RuntimeError(f"{name} failed")
            return name

        return run


# ---------------------------------------------------------------- ready order


def test_ready_tasks_come_in_input_order_and_once_each() -> None:
    s = Scheduler([task("b"), task("a"), task("c", "a"), task("d", "a", "b"), task("e")])
    assert names(s.get_ready()) == ["b", "a", "e"]
    assert s.get_ready() == []
    s.done("a", True)
    assert names(s.get_ready()) == ["c"]
    s.done("b", True)
    assert names(s.get_ready()) == ["d"]
    assert s.is_active()
    for name in ("c", "d", "e"):
        s.done(name, True)
    assert not s.is_active()
    assert s.get_ready() == []
    assert s.get_blocked() == []


def test_a_task_is_ready_only_when_every_dependency_succeeded() -> None:
    s = Scheduler([task("a"), task("b"), task("c"), task("join", "a", "b", "c")])
    assert names(s.get_ready()) == ["a", "b", "c"]
    s.done("c", True)
    s.done("a", True)
    assert s.get_ready() == []
    s.done("b", True)
    assert names(s.get_ready()) == ["join"]


def test_empty_scheduler_is_not_active() -> None:
    s = Scheduler([])
    assert not s.is_active()
    assert s.get_ready() == []


def test_run_tasks_follows_dependency_order() -> None:
    rec = Recorder()
    tasks = [
        create_task("d", rec.make("d"), dependencies=["b", "c"]),
        create_task("c", rec.make("c"), dependencies=["a"]),
        create_task("b", rec.make("b"), dependencies=["a"]),
        create_task("a", rec.make("a")),
    ]
    results = run_tasks(tasks)
    assert list(results) == ["d", "c", "b", "a"]
    assert rec.ran[0] == "a"
    assert set(rec.ran[1:3]) == {"b", "c"}
    assert rec.ran[3] == "d"


# ---------------------------------------------------------------- duplicates


def test_duplicate_names_raise_naming_them() -> None:
    with pytest.raises(DuplicateTaskError) as info:
        Scheduler([task("a"), task("b"), task("a"), task("c"), task("c"), task("c")])
    assert info.value.names == ("a", "c")
    assert "'a'" in str(info.value)
    assert "'c'" in str(info.value)
    assert "'b'" not in str(info.value)
    assert isinstance(info.value, TaskDefinitionError)


def test_run_tasks_refuses_duplicates_before_running_anything() -> None:
    rec = Recorder()
    tasks = [
        create_task("first", rec.make("first")),
        create_task("same", rec.make("same-1")),
        create_task("same", rec.make("same-2")),
    ]
    with pytest.raises(DuplicateTaskError, match="'same'"):
        run_tasks(tasks, max_workers=3)
    with pytest.raises(DuplicateTaskError, match="'same'"):
        run_tasks(tasks, max_workers=2, processes=True)
    assert rec.ran == []


# ---------------------------------------------------------------- unsatisfied


def test_missing_dependency_is_reported_with_its_name() -> None:
    s = Scheduler([task("a", "ghost"), task("b")])
    blocked = dict(s.get_blocked())
    assert set(blocked) == {"a"}
    error = blocked["a"]
    assert isinstance(error, UnsatisfiedDependencyError)
    assert error.task == "a"
    assert error.missing == ("ghost",)
    assert error.cycle == ()
    assert error.via == ""
    assert "'ghost'" in str(error)
    assert names(s.get_ready()) == ["b"]
    s.done("b", True)
    assert not s.is_active()


def test_descendants_of_a_missing_dependency_are_unsatisfied_too() -> None:
    s = Scheduler(
        [task("a", "ghost", "fine"), task("b", "a"), task("c", "b"), task("fine"), task("z")]
    )
    blocked = dict(s.get_blocked())
    assert set(blocked) == {"a", "b", "c"}
    assert blocked["b"].missing == ("ghost",)
    assert blocked["b"].via == "a"
    assert blocked["c"].missing == ("ghost",)
    assert blocked["c"].via == "b"
    assert "'ghost'" in str(blocked["c"]) and "'b'" in str(blocked["c"])
    assert names(s.get_ready()) == ["fine", "z"]


def test_several_missing_dependencies_are_all_named() -> None:
    s = Scheduler([task("a", "x", "y"), task("b", "z"), task("c", "a", "b")])
    blocked = dict(s.get_blocked())
    assert blocked["a"].missing == ("x", "y")
    assert blocked["c"].missing == ("x", "y", "z")


def test_two_cycle() -> None:
    s = Scheduler([task("a", "b"), task("b", "a"), task("free")])
    blocked = dict(s.get_blocked())
    assert set(blocked) == {"a", "b"}
    for name in ("a", "b"):
        error = blocked[name]
        assert isinstance(error, UnsatisfiedDependencyError)
        assert error.cycle == ("a", "b")
        assert error.missing == ()
        assert error.via == ""
        assert "cycle" in str(error)
    assert names(s.get_ready()) == ["free"]


def test_self_loop() -> None:
    s = Scheduler([task("me", "me"), task("other")])
    blocked = dict(s.get_blocked())
    assert set(blocked) == {"me"}
    assert blocked["me"].cycle == ("me",)
    assert names(s.get_ready()) == ["other"]


def test_cycle_with_a_tail_of_descendants() -> None:
    tasks = [
        task("root"),
        task("a", "c", "root"),
        task("b", "a"),
        task("c", "b"),
        task("tail1", "a"),
        task("tail2", "tail1", "root"),
        task("sibling", "root"),
    ]
    s = Scheduler(tasks)
    blocked = dict(s.get_blocked())
    assert set(blocked) == {"a", "b", "c", "tail1", "tail2"}
    for member in ("a", "b", "c"):
        assert blocked[member].cycle == ("a", "b", "c")
        assert blocked[member].via == ""
    assert blocked["tail1"].cycle == ("a", "b", "c")
    assert blocked["tail1"].via == "a"
    assert blocked["tail2"].cycle == ("a", "b", "c")
    assert blocked["tail2"].via == "tail1"
    # The cycle's own upstream and everything unrelated still run.
    assert drain(s) == ["root", "sibling"]


def test_two_separate_cycles_are_told_apart() -> None:
    s = Scheduler([task("a", "b"), task("b", "a"), task("x", "y"), task("y", "x")])
    blocked = dict(s.get_blocked())
    assert blocked["a"].cycle == ("a", "b")
    assert blocked["x"].cycle == ("x", "y")


def test_run_tasks_reports_cycles_and_missing_and_runs_the_rest() -> None:
    rec = Recorder()
    tasks = [
        create_task("a", rec.make("a"), dependencies=["b"]),
        create_task("b", rec.make("b"), dependencies=["a"]),
        create_task("after-cycle", rec.make("after-cycle"), dependencies=["b"]),
        create_task("orphan", rec.make("orphan"), dependencies=["nobody"]),
        create_task("fine", rec.make("fine")),
        create_task("after-fine", rec.make("after-fine"), dependencies=["fine"]),
    ]
    results = run_tasks(tasks, max_workers=2)
    assert list(results) == [t.name for t in tasks]
    assert sorted(rec.ran) == ["after-fine", "fine"]
    for name in ("a", "b", "after-cycle", "orphan"):
        assert not results[name].success
        assert isinstance(results[name].value, UnsatisfiedDependencyError)
        assert results[name].attempts == 0
    assert results["after-cycle"].value.cycle == ("a", "b")
    assert results["after-cycle"].value.via == "b"
    assert results["orphan"].value.missing == ("nobody",)


# ---------------------------------------------------------------- failure cascade


def test_failure_blocks_direct_and_indirect_descendants() -> None:
    s = Scheduler(
        [
            task("bad"),
            task("child", "bad"),
            task("grandchild", "child"),
            task("mixed", "bad", "good"),
            task("good"),
            task("after-good", "good"),
        ]
    )
    assert names(s.get_ready()) == ["bad", "good"]
    s.done("bad", False)
    blocked = dict(s.get_blocked())
    assert set(blocked) == {"child", "grandchild", "mixed"}
    for name, via in [("child", "bad"), ("grandchild", "child"), ("mixed", "bad")]:
        error = blocked[name]
        assert isinstance(error, FailedDependencyError)
        assert error.task == name
        assert error.dependency == "bad"
        assert error.via == via
        assert "'bad'" in str(error)
    assert s.get_blocked() == []
    s.done("good", True)
    assert names(s.get_ready()) == ["after-good"]
    s.done("after-good", True)
    assert not s.is_active()


def test_diamond_descendant_is_blocked_once() -> None:
    s = Scheduler([task("top"), task("l", "top"), task("r", "top"), task("bottom", "l", "r")])
    s.get_ready()
    s.done("top", False)
    blocked = s.get_blocked()
    assert sorted(name for name, _ in blocked) == ["bottom", "l", "r"]
    assert not s.is_active()


def test_second_failure_does_not_reblock() -> None:
    s = Scheduler([task("a"), task("b"), task("c", "a", "b")])
    s.get_ready()
    s.done("a", False)
    first = s.get_blocked()
    assert [name for name, _ in first] == ["c"]
    assert first[0][1].dependency == "a"
    s.done("b", False)
    assert s.get_blocked() == []
    assert not s.is_active()


def test_run_tasks_cascade_names_the_failed_task() -> None:
    rec = Recorder()
    tasks = [
        create_task("bad", rec.make("bad", fails=True)),
        create_task("child", rec.make("child"), dependencies=["bad"]),
        create_task("grandchild", rec.make("grandchild"), dependencies=["child"]),
        create_task("independent", rec.make("independent")),
        create_task("after-independent", rec.make("after"), dependencies=["independent"]),
    ]
    results = run_tasks(tasks)
    assert isinstance(results["bad"].value, RuntimeError)
    for name in ("child", "grandchild"):
        error = results[name].value
        assert isinstance(error, FailedDependencyError)
        assert error.dependency == "bad"
        assert results[name].attempts == 0
    assert results["grandchild"].value.via == "child"
    assert results["independent"].success
    assert results["after-independent"].success
    assert sorted(rec.ran) == ["after", "bad", "independent"]


# ---------------------------------------------------------------- misuse


def test_done_misuse_raises_value_error() -> None:
    s = Scheduler([task("a"), task("b", "a"), task("c", "ghost")])
    with pytest.raises(ValueError, match="'a'"):
        s.done("a", True)  # not handed out yet
    with pytest.raises(ValueError, match="'nope'"):
        s.done("nope", True)  # unknown
    with pytest.raises(ValueError):
        s.done("c", False)  # blocked, never handed out
    s.get_ready()
    s.done("a", True)
    with pytest.raises(ValueError, match="already"):
        s.done("a", True)
    with pytest.raises(ValueError, match="already"):
        s.done("a", False)
    assert names(s.get_ready()) == ["b"]


# ---------------------------------------------------------------- scale

CHAIN = 100_000


def chain(n: int) -> list[Task]:
    return [create_task("t0", noop)] + [
        create_task(f"t{i}", noop, dependencies=[f"t{i - 1}"]) for i in range(1, n)
    ]


@pytest.fixture(scope="module")
def long_chain() -> list[Task]:
    """t0 <- t1 <- ... <- t99999 (tasks are immutable, so tests may share them)."""
    return chain(CHAIN)


def with_root(tasks: list[Task], root: Task) -> list[Task]:
    return [root, *tasks[1:]]


def test_deep_chain_runs_through_the_scheduler(long_chain: list[Task]) -> None:
    order = drain(Scheduler(long_chain))
    assert len(order) == CHAIN
    assert order[0] == "t0" and order[-1] == f"t{CHAIN - 1}"


def test_deep_chain_failure_cascade(long_chain: list[Task]) -> None:
    results = run_tasks(with_root(long_chain, create_task("t0", fail)))
    last = results[f"t{CHAIN - 1}"].value
    assert isinstance(last, FailedDependencyError)
    assert last.dependency == "t0"
    assert sum(isinstance(r.value, FailedDependencyError) for r in results.values()) == CHAIN - 1


def test_deep_chain_below_a_missing_dependency(long_chain: list[Task]) -> None:
    s = Scheduler(with_root(long_chain, task("t0", "ghost")))
    blocked = dict(s.get_blocked())
    assert len(blocked) == CHAIN
    assert not s.is_active()
    assert blocked[f"t{CHAIN - 1}"].missing == ("ghost",)
    assert blocked[f"t{CHAIN - 1}"].via == f"t{CHAIN - 2}"


def test_deep_chain_closed_into_a_cycle_at_the_top(long_chain: list[Task]) -> None:
    s = Scheduler(with_root(long_chain, task("t0", "t1")))
    blocked = dict(s.get_blocked())
    assert len(blocked) == CHAIN
    assert blocked["t0"].cycle == ("t0", "t1")
    assert blocked[f"t{CHAIN - 1}"].cycle == ("t0", "t1")


def test_deep_chain_through_run_tasks() -> None:
    n = 20_000
    results = run_tasks(chain(n))
    assert len(results) == n
    assert all(r.success for r in results.values())


def test_a_large_cycle_is_reported_in_linear_time_with_a_bounded_message() -> None:
    """A 20,000-task ring once took minutes (each member copied the whole cycle)."""
    n = 20_000
    tasks = [create_task(f"t{i}", print, dependencies=[f"t{(i + 1) % n}"]) for i in range(n)]
    tasks.append(create_task("downstream", print, dependencies=["t0"]))
    results = run_tasks(tasks, progress=False)
    error = results["downstream"].value
    assert isinstance(error, UnsatisfiedDependencyError)
    assert len(error.cycle) == n and error.via == "t0"
    assert "and 19995 more" in str(error) and len(str(error)) < 300
    assert all(isinstance(r.value, UnsatisfiedDependencyError) for r in results.values())
