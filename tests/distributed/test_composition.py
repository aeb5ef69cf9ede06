"""group, squad, pipe, callbacks, finalizers and workers(): composing tasks across minions."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from arbiter_core.client import Arbiter
from arbiter_core.composition import TaskCall
from arbiter_core.errors import InsufficientCapacityError
from arbiter_core.minion import Minion
from tests.distributed.conftest import running


@pytest.fixture
def app(make_minion: Callable[..., Minion]) -> Minion:
    minion = make_minion()
    finals: list[str] = []
    minion.finals = finals  # type: ignore[attr-defined]

    @minion.task(name="add")
    def add(x: int, y: int) -> int:
        return x + y

    @minion.task(name="total")
    def total(results: list[int]) -> int:
        return sum(results)

    @minion.task(name="fail")
    def fail() -> None:
        raise RuntimeError("member failed")

    @minion.task(name="finalize")
    def finalize(tag: str = "done") -> str:
        finals.append(tag)
        return tag

    @minion.task(name="scale")
    def scale(value: int, factor: int, offset: int = 0) -> int:
        return value * factor + offset

    return minion


def test_group_callback_receives_results_in_order(app: Minion, arbiter: Arbiter) -> None:
    with running(app, workers=3):
        plan = arbiter.group(
            [TaskCall("add", (1, 2)), TaskCall("add", (3, 4)), TaskCall("add", (5, 6))],
            callback=TaskCall("total"),
            finalizer=TaskCall("finalize", ("after-all",)),
        )
        statuses = {s["id"]: s for s in arbiter.wait_for_tasks(plan.all_ids, timeout=10)}
    assert [statuses[i]["result"] for i in plan.members] == [3, 7, 11]
    assert statuses[plan.callback]["result"] == 21
    assert statuses[plan.finalizer]["result"] == "after-all"
    assert statuses[plan.finalizer]["started_at"] >= statuses[plan.callback]["finished_at"]
    assert app.finals == ["after-all"]  # type: ignore[attr-defined]


def test_failed_member_skips_the_callback_but_not_the_finalizer(
    app: Minion, arbiter: Arbiter
) -> None:
    with running(app, workers=2):
        plan = arbiter.group(
            [TaskCall("add", (1, 1)), TaskCall("fail")], callback="total", finalizer="finalize"
        )
        statuses = {s["id"]: s for s in arbiter.wait_for_tasks(plan.all_ids, timeout=10)}
    callback = statuses[plan.callback]
    assert callback["state"] == "failed"
    assert callback["error"]["type"] == "FailedDependencyError"
    assert "'fail'" in callback["error"]["message"]
    assert statuses[plan.finalizer]["state"] == "succeeded"
    assert app.finals == ["done"]  # type: ignore[attr-defined]


def test_finalizer_timeout_runs_it_while_a_member_hangs(app: Minion, arbiter: Arbiter) -> None:
    release = threading.Event()

    @app.task(name="hang")
    def hang() -> str:
        release.wait(20)
        return "late"

    with running(app, workers=2):
        plan = arbiter.group(["hang"], finalizer="finalize", finalizer_timeout=0.5)
        started = time.monotonic()
        [final] = arbiter.wait_for_tasks([plan.finalizer], timeout=10)
        assert final["state"] == "succeeded"
        assert 0.4 < time.monotonic() - started < 5
        release.set()
        [member] = arbiter.wait_for_tasks(plan.members, timeout=10)
    assert member["result"] == "late"
    assert app.finals == ["done"], "the group's end must not fire the finalizer twice"  # type: ignore[attr-defined]


def test_a_failed_step_fails_the_rest_of_the_pipe_unrun(app: Minion, arbiter: Arbiter) -> None:
    with running(app, workers=2):
        ids = arbiter.pipe([TaskCall("add", (1, 2)), TaskCall("fail"), TaskCall("scale", (2,))])
        statuses = {s["id"]: s for s in arbiter.wait_for_tasks(ids, timeout=10)}
    assert [statuses[i]["state"] for i in ids] == ["succeeded", "failed", "failed"]
    assert statuses[ids[1]]["error"]["type"] == "TypeError"  # fail() got the result 3
    last = statuses[ids[2]]
    assert last["error"]["type"] == "FailedDependencyError" and last["started_at"] is None


def test_pipe_chains_results(app: Minion, arbiter: Arbiter) -> None:
    with running(app, workers=2):
        ids = arbiter.pipe(
            [TaskCall("scale", (1, 2)), TaskCall("scale", (3,)), TaskCall("scale", (10,))],
            persistent_kwargs={"offset": 1},
        )
        statuses = [s for s in arbiter.wait_for_tasks(ids, timeout=10)]
    results = {s["id"]: s["result"] for s in statuses}
    # scale(1, 2, offset=1) = 3; scale(3, 3, offset=1) = 10; scale(10, 10, offset=1) = 101
    assert [results[i] for i in ids] == [3, 10, 101]
    order = sorted(statuses, key=lambda s: s["started_at"])
    assert [s["id"] for s in order] == ids


def test_squad_refuses_without_free_slots(app: Minion, arbiter: Arbiter) -> None:
    with pytest.raises(InsufficientCapacityError, match="needs 1 free slot"):
        arbiter.squad(["add"])
    with running(app, workers=2):
        deadline = time.monotonic() + 10
        while arbiter.workers().get("default", {}).get("available", 0) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with pytest.raises(InsufficientCapacityError, match="needs 3 free slot"):
            arbiter.squad([TaskCall("add", (1, 1))] * 3)
        plan = arbiter.squad([TaskCall("add", (1, 1))] * 2, callback="total")
        [callback] = [
            s for s in arbiter.wait_for_tasks(plan.all_ids, timeout=10) if s["id"] == plan.callback
        ]
    assert callback["result"] == 4


def test_workers_reports_live_slots(make_minion: Callable[..., Minion], arbiter: Arbiter) -> None:
    app = make_minion(queue="reports")
    busy = threading.Event()
    release = threading.Event()

    @app.task(name="block")
    def block() -> None:
        busy.set()
        release.wait(10)

    assert arbiter.workers() == {}
    with running(app, workers=3):
        [task_id] = arbiter.apply("block", queue="reports")
        assert busy.wait(10)
        deadline = time.monotonic() + 10
        while arbiter.workers().get("reports", {}).get("active") != 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert arbiter.workers()["reports"] == {
            "workers": 1,
            "total": 3,
            "active": 1,
            "available": 2,
            "signing": 0,
        }
        release.set()
        list(arbiter.wait_for_tasks([task_id], timeout=10))
    assert arbiter.workers() == {}, "a cleanly stopped minion leaves the registry"


def test_a_killed_callback_does_not_start_the_finalizer_early(
    app: Minion, arbiter: Arbiter
) -> None:
    release = threading.Event()

    @app.task(name="hold")
    def hold() -> int:
        release.wait(10)
        return 1

    with running(app, workers=2):
        plan = arbiter.group(["hold"], callback="total", finalizer="finalize")
        assert arbiter.kill(plan.callback)
        time.sleep(0.3)
        assert arbiter.status(plan.finalizer)["state"] == "waiting"
        release.set()
        statuses = {s["id"]: s for s in arbiter.wait_for_tasks(plan.all_ids, timeout=10)}
    assert statuses[plan.callback]["state"] == "cancelled"
    assert statuses[plan.members[0]]["result"] == 1
    assert statuses[plan.finalizer]["started_at"] >= statuses[plan.members[0]]["finished_at"]


def test_follow_ups_survive_a_crash_between_outcome_and_group_advance(
    app: Minion, arbiter: Arbiter, node_factory: Callable[..., object]
) -> None:
    """A member's outcome is stored but its minion dies before advancing the group:
    the redelivered message advances it, so the callback still runs exactly once."""
    from arbiter_core import records
    from arbiter_core.node import Record
    from arbiter_core.wire import WireFormat
    from tests.distributed.conftest import LEASE

    plan = arbiter.group([TaskCall("add", (1, 2))], callback="total")
    crashed = node_factory()
    [delivery] = crashed.pull("default", timeout=5, lease=LEASE)  # type: ignore[attr-defined]
    envelope = WireFormat().decode(delivery.body)
    status = records.task_status(envelope, records.SUCCEEDED, result=3, finished_at=time.time())
    crashed.transition(  # type: ignore[attr-defined]
        records.task_key(envelope.id),
        Record(records.SUCCEEDED, WireFormat().pack(status)),
        ttl=60,
        expect=None,
    )  # ...and the "minion" dies here: no group advance, no ack
    with running(app):
        [callback] = arbiter.wait_for_tasks([plan.callback], timeout=LEASE * 10)
    assert callback["state"] == "succeeded" and callback["result"] == 3
