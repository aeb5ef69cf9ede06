"""Limits on a real broker: an oversize apply queues nothing; an oversize or too-deep
message written by another sender is dead-lettered unexecuted with the reason and the
next one runs; an oversize result fails its task instead of being stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from arbiter_core import records
from arbiter_core.client import Arbiter
from arbiter_core.errors import LimitExceededError
from arbiter_core.minion import Minion
from arbiter_core.settings import MIB
from tests.distributed.conftest import running
from tests.distributed.test_bad_messages import assert_dead, push_bound, raw_envelope


def nested(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = [value]
    return value


@pytest.fixture
def app(make_minion: Callable[..., Minion]) -> tuple[Minion, list[Any]]:
    minion = make_minion()
    ran: list[Any] = []

    @minion.task(name="work")
    def work(x: Any = 1) -> Any:
        ran.append(x)
        return "done"

    return minion, ran


def test_an_oversize_apply_fails_at_once_and_queues_nothing(arbiter: Arbiter) -> None:
    with pytest.raises(LimitExceededError, match=r"\(64\.0 MiB\), over the max_message_size"):
        arbiter.apply("work", task_args=["x" * (64 * MIB)])
    assert arbiter.node.queue_size("default") == 0


@pytest.mark.parametrize(
    ("argument", "reason"),
    [
        ("x" * (17 * MIB), "bytes (17.0 MiB), over the max_message_size limit of 16,777,216"),
        (nested(65), "args[0] nests more than 64 levels deep"),
    ],
    ids=["oversize", "too-deep"],
)
def test_another_senders_oversize_or_too_deep_message_is_dead_lettered(
    arbiter: Arbiter, app: tuple[Minion, list[Any]], argument: Any, reason: str
) -> None:
    minion, ran = app
    bad = "toobig" + "0" * 26
    push_bound(arbiter, raw_envelope(bad, task="work", args=[argument]), bad)
    with running(minion, workers=1) as thread:
        [dead] = arbiter.wait_for_tasks([bad], timeout=15)
        [good] = arbiter.wait_for_tasks(arbiter.apply("work", task_args=[4]), timeout=10)
        assert thread.is_alive()
    assert_dead(dead, reason)
    assert good["state"] == records.SUCCEEDED
    assert ran == [4], "the bad message never ran"
    [letter] = arbiter.node.dead_letters("default")
    assert reason in letter.reason


def test_a_sender_with_looser_limits_is_refused_by_a_stricter_minion(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    strict = make_minion(max_message_size=2000, max_task_name_length=8)
    ran: list[int] = []

    @strict.task(name="work")
    def work(x: Any) -> None:
        ran.append(len(x))

    [big] = arbiter.apply("work", task_args=["x" * 5000])  # fine by the sender's defaults
    [long_name] = arbiter.apply("a-long-task-name")
    [small] = arbiter.apply("work", task_args=["x"])
    with running(strict, workers=1):
        statuses = {s["id"]: s for s in arbiter.wait_for_tasks([big, long_name, small], timeout=15)}
    assert_dead(statuses[big], "over the max_message_size limit of 2,000 bytes")
    assert_dead(statuses[long_name], "task name is 16 characters, over the max_task_name_length")
    assert statuses[small]["state"] == records.SUCCEEDED
    assert ran == [1]


def test_an_oversize_result_fails_the_task_and_is_not_stored(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    minion = make_minion(max_result_size=10_000)

    @minion.task(name="produce")
    def produce(size: int) -> str:
        return "x" * size

    with running(minion, workers=1):
        [huge] = arbiter.apply("produce", task_args=[50_000])
        [fine] = arbiter.apply("produce", task_args=[100])
        statuses = {s["id"]: s for s in arbiter.wait_for_tasks([huge, fine], timeout=15)}
    failed = statuses[huge]
    assert failed["state"] == records.FAILED and failed["result"] is None
    assert failed["error"]["type"] == "LimitExceededError"
    message = failed["error"]["message"]
    assert "task 'produce' returned a value too big to store" in message
    assert "over the max_result_size limit of 10,000 bytes" in message
    record = arbiter.node.get(records.task_key(huge))
    assert record is not None and len(record.data) < 10_000, "the huge value was not stored"
    assert statuses[fine]["result"] == "x" * 100


def test_a_pipe_step_whose_argument_would_be_oversize_fails_and_the_pipe_ends(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    """The previous result is the next step's argument: a result the record can hold may
    still make a message over max_message_size. The step fails with that, not hangs."""
    minion = make_minion(max_message_size=2000)

    @minion.task(name="make")
    def make() -> str:
        return "x" * 3000

    @minion.task(name="use")
    def use(text: str) -> int:
        return len(text)

    with running(minion, workers=1):
        plan = arbiter.pipe(["make", "use", "use"])
        statuses = [s for s in arbiter.wait_for_tasks(plan.all_ids, timeout=15)]
    by_id = {s["id"]: s for s in statuses}
    first, second, third = (by_id[i] for i in plan.all_ids)
    assert first["state"] == records.SUCCEEDED
    assert second["state"] == records.FAILED
    assert "over the max_message_size limit of 2,000 bytes" in second["error"]["message"]
    assert third["state"] == records.FAILED
    assert third["error"]["type"] == "FailedDependencyError"
