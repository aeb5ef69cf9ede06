"""Follow-ups whose message would be over a limit fail, instead of waiting for ever.

A group's callback gets its members' results, a DAG task its dependencies'
``result_of`` values: the message that carries them is built on the minion, when it
is due, and may be over the minion's ``max_message_size``. It then fails with the
LimitExceededError, what depends on it fails with a FailedDependencyError, a group's
finalizer still runs, and the plan's status is final. On every broker (the pipe's
case is in test_limits_on_the_broker.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from arbiter import create_task, result_of
from arbiter_core import composition, records
from arbiter_core.client import Arbiter
from arbiter_core.composition import TaskCall
from arbiter_core.dag.plan import plan_dag
from arbiter_core.errors import FailedDependencyError, TaskFailedError
from arbiter_core.minion import Minion
from arbiter_core.node import Record
from arbiter_core.wire import Envelope
from tests.distributed.conftest import running

LIMIT = "over the max_message_size limit of 2,000 bytes"


@pytest.fixture
def strict(make_minion: Callable[..., Minion]) -> Minion:
    """A minion whose messages may be 2,000 bytes, with tasks returning 800 or 3,000."""
    minion = make_minion(max_message_size=2000)
    finals: list[Any] = []

    @minion.task(name="chunk")
    def chunk(size: int = 800) -> str:
        return "x" * size

    @minion.task(name="count")
    def count(*values: Any) -> int:
        return sum(len(v) for v in values)

    @minion.task(name="finalize")
    def finalize(tag: Any = "done") -> str:
        finals.append(tag)
        return "finalized"

    minion.finals = finals  # type: ignore[attr-defined]
    return minion


def test_a_callback_over_the_limit_with_its_results_fails_and_the_finalizer_runs(
    strict: Minion, arbiter: Arbiter
) -> None:
    with running(strict, workers=2):
        plan = arbiter.group(["chunk"] * 3, callback="count", finalizer="finalize")
        statuses = {s["id"]: s for s in arbiter.wait_for_tasks(plan.all_ids, timeout=15)}
        aggregate = arbiter.status(plan)
    callback = statuses[plan.callback]
    assert callback["state"] == records.FAILED
    assert callback["error"]["type"] == "LimitExceededError"
    assert "task 'count'" in callback["error"]["message"]
    assert LIMIT in callback["error"]["message"]
    assert statuses[plan.finalizer]["state"] == records.SUCCEEDED
    assert strict.finals == ["done"]  # type: ignore[attr-defined]
    for member in plan.members:
        assert statuses[member]["state"] == records.SUCCEEDED
        assert "follow_up_error" not in statuses[member], "the follow-up did not error"
    assert aggregate["state"] == records.FAILED
    assert aggregate["pending"] == 0 and aggregate["running"] == 0


def test_a_finalizer_over_a_stricter_minions_limit_fails_rather_than_waits(
    strict: Minion, arbiter: Arbiter
) -> None:
    """Planned by an Arbiter with the default limits, pushed by the 2,000-byte minion."""
    with running(strict, workers=2):
        plan = arbiter.group(["chunk"], finalizer=TaskCall("finalize", ("y" * 3000,)))
        statuses = {s["id"]: s for s in arbiter.wait_for_tasks(plan.all_ids, timeout=15)}
    finalizer = statuses[plan.finalizer]
    assert finalizer["state"] == records.FAILED
    assert finalizer["error"]["type"] == "LimitExceededError"
    assert LIMIT in finalizer["error"]["message"]
    assert strict.finals == []  # type: ignore[attr-defined]


DAG = [
    create_task("big", "chunk", args=(3000,)),
    create_task("small", "chunk", args=(10,)),
    create_task("use", "count", args=(result_of("big"),)),
    create_task("after", "count", args=(result_of("use"), result_of("small"))),
    create_task("fine", "count", args=(result_of("small"),)),
]


def test_a_dag_task_over_the_limit_with_its_result_of_value_fails_and_so_do_its_dependents(
    strict: Minion, arbiter: Arbiter
) -> None:
    with running(strict, workers=2):
        results = arbiter.run_tasks(DAG, timeout=20, dag_id="limits-dag")
        dag_status = arbiter.status("limits-dag")
    assert results["big"].success and results["small"].success
    use = results["use"].value
    assert isinstance(use, TaskFailedError)
    assert use.type_name == "LimitExceededError" and LIMIT in use.message
    after = results["after"].value
    assert isinstance(after, FailedDependencyError)
    assert (after.dependency, after.via) == ("use", "use")
    assert results["fine"].success and results["fine"].value == 10
    assert dag_status["state"] == records.FAILED and dag_status["pending"] == 0


def test_released_unpushed_a_dag_task_over_the_limit_fails_alone(
    node_factory: Callable[..., Any],
) -> None:
    """The path where the releasing side pushes itself (a stopping minion, say): the task
    over the limit fails, its dependents too, and the task beside it is still queued."""
    with Arbiter(node_factory(), max_message_size=2000) as arbiter:
        plan = plan_dag(arbiter, DAG, queue="default", deadline=None)
        roots: dict[int, Envelope] = {}
        while len(roots) < 2:
            pulled = arbiter.node.pull("default", timeout=5, lease=30)
            assert pulled, "both roots were queued"
            envelope = arbiter.wire.decode(pulled[0].body)
            roots[envelope.args[0]] = envelope
        for size, root in roots.items():
            status = records.task_status(root, records.SUCCEEDED, result="x" * size)
            record = Record(records.SUCCEEDED, arbiter.wire.pack(status, "record"))
            arbiter.node.transition(records.task_key(root.id), record, ttl=60)
            composition.advance(arbiter, root, records.SUCCEEDED, "x" * size)
        use, after, fine = (arbiter.status(plan.ids[name]) for name in ("use", "after", "fine"))
    assert use["state"] == records.FAILED
    assert use["error"]["type"] == "LimitExceededError" and LIMIT in use["error"]["message"]
    assert after["state"] == records.FAILED
    assert after["error"]["type"] == "FailedDependencyError"
    assert fine["state"] == records.QUEUED, "the task released beside it was pushed"
