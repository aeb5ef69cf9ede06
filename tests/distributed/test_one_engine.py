"""Groups and pipes are graphs on the DAG engine: what that changes, seen from outside.

The guarantees of groups, squads and pipes are in test_composition.py, unchanged;
these are the engine's own: a failed member fails the callback at once (a
dependency), while the finalizer (a ``finally`` dependent) waits for every end; a
pipe step killed while it waits cascades like a DAG task; and plans of the retired
engine are refused, not run half.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from arbiter_core import records
from arbiter_core.client import Arbiter
from arbiter_core.composition import TaskCall
from arbiter_core.minion import Minion
from tests.distributed.conftest import running


@pytest.fixture
def app(make_minion: Callable[..., Minion]) -> Minion:
    minion = make_minion()
    minion.release = threading.Event()  # type: ignore[attr-defined]
    minion.finals = []  # type: ignore[attr-defined]

    @minion.task(name="hold")
    def hold() -> str:
        minion.release.wait(15)  # type: ignore[attr-defined]
        return "held"

    @minion.task(name="fail")
    def fail() -> None:
        raise RuntimeError("member failed")

    @minion.task(name="collect")
    def collect(results: list[object]) -> list[object]:
        return results

    @minion.task(name="finalize")
    def finalize() -> str:
        minion.finals.append("done")  # type: ignore[attr-defined]
        return "finalized"

    @minion.task(name="add")
    def add(x: int, y: int) -> int:
        return x + y

    return minion


def test_a_failed_member_fails_the_callback_at_once_and_the_finalizer_waits_for_all(
    app: Minion, arbiter: Arbiter
) -> None:
    with running(app, workers=2):
        plan = arbiter.group(["hold", "fail"], callback="collect", finalizer="finalize")
        [callback] = arbiter.wait_for_tasks([plan.callback], timeout=10)
        assert callback["state"] == records.FAILED
        assert callback["error"]["type"] == "FailedDependencyError"
        assert arbiter.status(plan.members[0])["state"] == records.RUNNING
        assert arbiter.status(plan.finalizer)["state"] == records.WAITING, (
            "the finalizer waits for every member's end"
        )
        app.release.set()  # type: ignore[attr-defined]
        statuses = {s["id"]: s for s in arbiter.wait_for_tasks(plan.all_ids, timeout=10)}
    member, finalizer = statuses[plan.members[0]], statuses[plan.finalizer]
    assert member["result"] == "held"
    assert finalizer["result"] == "finalized"
    assert finalizer["started_at"] >= member["finished_at"]
    assert app.finals == ["done"]  # type: ignore[attr-defined]
    assert arbiter.status(plan)["state"] == records.FAILED


def test_a_pipe_step_killed_while_it_waits_ends_the_rest_unrun(
    app: Minion, arbiter: Arbiter
) -> None:
    with running(app, workers=2):
        first, second, third = arbiter.pipe(["hold", TaskCall("add", (1,)), TaskCall("add", (2,))])
        assert arbiter.kill(second)
        app.release.set()  # type: ignore[attr-defined]
        statuses = {s["id"]: s for s in arbiter.wait_for_tasks([first, second, third], timeout=10)}
    assert statuses[first]["result"] == "held"
    assert statuses[second]["state"] == records.CANCELLED
    assert statuses[third]["state"] == records.FAILED
    assert statuses[third]["error"]["type"] == "FailedDependencyError"
    assert statuses[third]["started_at"] is None


def test_a_group_without_callback_or_finalizer_carries_no_graph(arbiter: Arbiter) -> None:
    """Its members have nothing to move on: they are plain tasks, with no follow-up cost."""
    plan = arbiter.group([TaskCall("add", (1, 2)), TaskCall("add", (3, 4))])
    [delivery] = arbiter.node.pull("default", timeout=5, lease=30)[:1]
    envelope = arbiter.wire.decode(delivery.body)
    assert envelope.id in plan.members and "dag" not in envelope.headers


def test_a_big_group_fires_its_callback_and_finalizer_once(app: Minion, arbiter: Arbiter) -> None:
    """300 members ending on 4 lanes at once: one fan-in each for the callback and the
    finalizer, so each runs once, the callback with every result in member order."""
    app.release.set()  # type: ignore[attr-defined]
    calls = [TaskCall("add", (i, 0)) for i in range(300)]
    with running(app, workers=4):
        plan = arbiter.group(calls, callback="collect", finalizer="finalize")
        statuses = {s["id"]: s for s in arbiter.wait_for_tasks(plan.all_ids, timeout=60)}
    assert [statuses[m]["result"] for m in plan.members] == list(range(300))
    assert statuses[plan.callback]["result"] == list(range(300))
    assert app.finals == ["done"]  # type: ignore[attr-defined]
