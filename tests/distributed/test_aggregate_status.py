"""Arbiter.status of a group, squad or pipe: state, counts and every task with its role,
read from the state store by the id alone (as another process would), on every broker."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from click.testing import CliRunner
from support import wait_until

from arbiter_core.cli import cli
from arbiter_core.client import Arbiter
from arbiter_core.composition import PipePlan, TaskCall
from arbiter_core.minion import Minion
from arbiter_core.node import EventNode, Record
from arbiter_core.records import group_key
from tests.distributed.conftest import LEASE, running

COUNTS = ("total", "pending", "running", "done", "succeeded", "failed")


@pytest.fixture
def app(make_minion: Callable[..., Minion]) -> Iterator[Minion]:
    minion = make_minion()
    release = threading.Event()
    minion.release = release  # type: ignore[attr-defined]

    @minion.task(name="add")
    def add(x: int, y: int) -> int:
        return x + y

    @minion.task(name="total")
    def total(results: list[int]) -> int:
        return sum(results)

    @minion.task(name="fail")
    def fail() -> None:
        raise RuntimeError("member failed")

    @minion.task(name="hold")
    def hold() -> str:
        release.wait(10)
        return "held"

    yield minion
    release.set()


@pytest.fixture
def elsewhere(node_factory: Callable[..., EventNode]) -> Iterator[Arbiter]:
    """An Arbiter on a node of its own, that applied nothing: what another process has."""
    client = Arbiter(node_factory(), lease=LEASE)
    yield client
    client.close()


def counts(status: dict[str, object]) -> tuple[object, ...]:
    return tuple(status[key] for key in COUNTS)


def until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


def test_a_finished_group_read_by_its_id_from_another_arbiter(
    app: Minion, arbiter: Arbiter, elsewhere: Arbiter
) -> None:
    with running(app, workers=3):
        plan = arbiter.group(
            [TaskCall("add", (1, 2)), TaskCall("add", (3, 4))],
            callback="total",
            finalizer=TaskCall("add", (0, 0)),
        )
        list(arbiter.wait_for_tasks(plan.all_ids, timeout=10))
    status = elsewhere.status(plan.id)
    assert (status["id"], status["kind"], status["state"]) == (plan.id, "group", "succeeded")
    assert counts(status) == (4, 0, 0, 4, 4, 0)
    assert status["result"] == [3, 7] and status["error"] is None
    roles = [(t["id"], t["role"], t["name"], t["result"]) for t in status["tasks"]]
    assert roles == [
        (plan.members[0], "task", "add", 3),
        (plan.members[1], "task", "add", 7),
        (plan.callback, "callback", "total", 10),
        (plan.finalizer, "finalizer", "add", 0),
    ]
    assert arbiter.status(plan) == status  # the plan object reads the same
    json.dumps(status)  # JSON-able, as a task's status


def test_a_group_nobody_serves_is_pending(arbiter: Arbiter, elsewhere: Arbiter) -> None:
    plan = arbiter.group(["a", "b"], callback="c", finalizer="d")
    status = elsewhere.status(plan.id)
    assert status["state"] == "pending"
    assert counts(status) == (4, 4, 0, 0, 0, 0)
    assert [t["state"] for t in status["tasks"]] == ["queued", "queued", "waiting", "waiting"]
    assert [t["role"] for t in status["tasks"]] == ["task", "task", "callback", "finalizer"]


def test_a_running_group_counts_what_runs_and_what_is_done(
    app: Minion, arbiter: Arbiter, elsewhere: Arbiter
) -> None:
    with running(app, workers=2):
        plan = arbiter.group([TaskCall("add", (1, 1)), "hold"], callback="total")
        [done] = arbiter.wait_for_tasks(plan.members[:1], timeout=10)
        assert done["result"] == 2
        until(lambda: elsewhere.status(plan.id)["running"] == 1)  # hold has started
        status = elsewhere.status(plan.id)
        assert status["state"] == "running"
        assert counts(status) == (3, 1, 1, 1, 1, 0)
        assert status["result"] == [2, None]
        app.release.set()  # type: ignore[attr-defined]
        list(arbiter.wait_for_tasks(plan.all_ids, timeout=10))
    assert elsewhere.status(plan.id)["result"] == [2, "held"]


def test_a_failed_member_fails_the_group_with_its_error(
    app: Minion, arbiter: Arbiter, elsewhere: Arbiter
) -> None:
    with running(app, workers=2):
        plan = arbiter.group([TaskCall("add", (1, 1)), "fail"], callback="total")
        list(arbiter.wait_for_tasks(plan.all_ids, timeout=10))
    status = elsewhere.status(plan.id)
    assert status["state"] == "failed"
    assert counts(status) == (3, 0, 0, 3, 1, 2)  # the member, and the callback it stopped
    assert status["error"]["type"] == "RuntimeError"
    assert status["tasks"][2]["error"]["type"] == "FailedDependencyError"


def test_a_squad_says_so(app: Minion, arbiter: Arbiter, elsewhere: Arbiter) -> None:
    with running(app, workers=2):
        until(lambda: arbiter.workers().get("default", {}).get("available", 0) >= 2)
        plan = arbiter.squad([TaskCall("add", (1, 2)), TaskCall("add", (2, 2))])
        list(arbiter.wait_for_tasks(plan.all_ids, timeout=10))
    assert plan.kind == "squad"
    status = elsewhere.status(plan.id)
    assert (status["kind"], status["state"], status["done"]) == ("squad", "succeeded", 2)


def test_a_pipe_has_an_id_and_its_last_result(
    app: Minion, arbiter: Arbiter, elsewhere: Arbiter
) -> None:
    with running(app, workers=2):
        ids = arbiter.pipe([TaskCall("add", (1, 2)), TaskCall("add", (10,))])
        assert isinstance(ids, PipePlan) and len(ids) == 2 and ids == list(ids)
        first, second = ids  # still a list of the steps' ids
        list(arbiter.wait_for_tasks(ids, timeout=10))
    status = elsewhere.status(ids.id)
    assert (status["kind"], status["state"], status["result"]) == ("pipe", "succeeded", 13)
    assert [(t["id"], t["role"]) for t in status["tasks"]] == [(first, "task"), (second, "task")]
    assert elsewhere.status(first)["result"] == 3  # a step is still a task


def test_a_killed_pipe_is_cancelled(arbiter: Arbiter, elsewhere: Arbiter) -> None:
    ids = arbiter.pipe(["a", "b", "c"])
    assert elsewhere.kill_group(ids.id) == 3
    status = elsewhere.status(ids.id)
    assert status["state"] == "cancelled" and status["failed"] == 3
    assert {t["state"] for t in status["tasks"]} == {"cancelled"}


def test_a_task_id_reads_as_before_and_an_unknown_id_as_unknown(
    app: Minion, arbiter: Arbiter
) -> None:
    with running(app):
        [task_id] = arbiter.apply("add", task_args=[1, 2])
        list(arbiter.wait_for_tasks([task_id], timeout=10))
    status = arbiter.status(task_id)
    assert "kind" not in status and "tasks" not in status
    assert (status["state"], status["result"], status["name"]) == ("succeeded", 3, "add")
    assert arbiter.status("no-such-id") == {
        "id": "no-such-id",
        "state": "unknown",
        "result": None,
        "error": None,
    }


def test_a_plan_whose_record_expired_reads_from_the_plan_object(
    app: Minion, node_factory: Callable[..., EventNode]
) -> None:
    """A pipe's record is written once, by the Arbiter, with the Arbiter's result TTL:
    here one second, while the steps' records (the minion's) live on. The plan object
    still holds every id, so its status reads on; its id alone reads ``unknown``."""
    short = Arbiter(node_factory(), lease=LEASE, result_ttl=1.0)
    try:
        with running(app, workers=2):
            plan = short.pipe([TaskCall("add", (1, 2)), TaskCall("add", (10,))])
            assert isinstance(plan, PipePlan)
            list(short.wait_for_tasks(list(plan), timeout=10))
        assert wait_until(lambda: short.node.get(group_key(plan.id)) is None, timeout=10)
        status = short.status(plan)
        assert (status["id"], status["kind"], status["state"]) == (plan.id, "pipe", "succeeded")
        assert status["result"] == 13
        assert [t["result"] for t in status["tasks"]] == [3, 13]
        assert short.status(plan.id)["state"] == "unknown", "no record says what it was"
    finally:
        short.close()


def test_a_tampered_group_record_reads_unknown_with_the_reason(arbiter: Arbiter) -> None:
    arbiter.node.transition(group_key("forged"), Record("pending:1", b"tampered"), ttl=60)
    status = arbiter.status("forged")
    assert status["state"] == "unknown" and status["error"]["type"] == "MessageRejected"


def test_cli_status_shows_a_group(
    app: Minion, arbiter: Arbiter, broker_url: str, namespace: str
) -> None:
    with running(app, workers=2):
        plan = arbiter.group([TaskCall("add", (1, 2)), "fail"], callback="total")
        list(arbiter.wait_for_tasks(plan.all_ids, timeout=10))
    runner = CliRunner(env={"ARBITER_NAMESPACE": namespace})
    shown = runner.invoke(cli, ["status", plan.id, "--broker", broker_url])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[:3] == [f"id:        {plan.id}", "kind:      group", "state:     failed"]
    assert "3 done (1 succeeded, 2 failed), 0 running, 0 pending, of 3" in lines[3]
    assert any(line.startswith("callback") and "FailedDependencyError" in line for line in lines)
    as_json = runner.invoke(cli, ["status", plan.id, "--broker", broker_url, "--json"])
    assert json.loads(as_json.output)["tasks"][0]["result"] == 3
