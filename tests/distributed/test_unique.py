"""Unique tasks (issue 16): ``apply(..., unique_key=...)`` queues no duplicate of a live task.

On every backend. Executions are counted by their side effects (a list the task
appends to); queued duplicates by the queue's size. The process test races two
processes on real Redis.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from arbiter_core import records, unique
from arbiter_core.client import Arbiter
from arbiter_core.errors import BrokerError
from arbiter_core.minion import Minion, task_cancelled
from arbiter_core.node import Record
from arbiter_core.submission import submit
from arbiter_core.wire import Envelope
from tests.distributed.conftest import running
from tests.distributed.test_bad_messages import assert_dead, push_bound, raw_envelope
from tests.support import wait_until


@pytest.fixture
def app(make_minion: Callable[..., Minion]) -> Minion:
    return make_minion()


def ready(arbiter: Arbiter, queue: str = "default") -> int:
    """Messages waiting on ``queue`` (delayed ones included): the tasks queued, not run."""
    stats = arbiter.node.queue_stats(queue)
    return stats.ready + stats.delayed


def claim_state(arbiter: Arbiter, key: str) -> str | None:
    record = arbiter.node.get(records.unique_claim_key(key))
    return None if record is None else record.state


def hold(arbiter: Arbiter, key: str, task_id: str, claimed_at: float) -> None:
    """Leave the claim of ``key`` holding ``task_id``, as an apply that crashed would."""
    data = arbiter.wire.pack({"task_id": task_id, "claimed_at": claimed_at}, "record")
    arbiter.node.transition(
        records.unique_claim_key(key), Record(task_id, data), ttl=60, expect=None
    )


def test_a_second_apply_while_queued_returns_the_first_id(arbiter: Arbiter, app: Minion) -> None:
    ran: list[int] = []

    @app.task(name="count")
    def count(n: int) -> int:
        ran.append(n)
        return n

    [first] = arbiter.apply("count", task_args=[1], unique_key="report")
    [second] = arbiter.apply("count", task_args=[2], unique_key="report")
    assert second == first
    assert ready(arbiter) == 1, "the second apply queued a task"
    status = arbiter.status(first)
    assert status["unique_key"] == "report" and status["state"] == records.QUEUED
    assert claim_state(arbiter, "report") == first
    handle = count.apply([3], unique_key="report", arbiter=arbiter)
    assert handle.id == first
    with running(app):
        [done] = arbiter.wait_for_tasks([second], timeout=10)
    assert done["state"] == records.SUCCEEDED and done["result"] == 1
    assert ran == [1]
    assert wait_until(lambda: claim_state(arbiter, "report") == unique.RELEASED)
    assert arbiter.status(arbiter.apply("count", task_args=[4])[0])["unique_key"] is None


def test_a_second_apply_while_running_returns_the_first_id(arbiter: Arbiter, app: Minion) -> None:
    ran: list[str] = []
    started, finish = threading.Event(), threading.Event()

    @app.task(name="slow")
    def slow(tag: str) -> str:
        ran.append(tag)
        started.set()
        finish.wait(20)
        return tag

    with running(app, workers=2):
        [first] = arbiter.apply("slow", task_args=["a"], unique_key="slow")
        assert started.wait(10)
        assert arbiter.status(first)["state"] == records.RUNNING
        assert arbiter.apply("slow", task_args=["b"], unique_key="slow") == [first]
        finish.set()
        [done] = arbiter.wait_for_tasks([first], timeout=10)
        assert done["result"] == "a"
        assert wait_until(lambda: claim_state(arbiter, "slow") == unique.RELEASED)
        [again] = arbiter.apply("slow", task_args=["c"], unique_key="slow")
        assert again != first
        [done] = arbiter.wait_for_tasks([again], timeout=10)
    assert done["result"] == "c"
    assert ran == ["a", "c"]


def _end_succeeded(arbiter: Arbiter, app: Minion, task_id: str) -> None:
    with running(app):
        arbiter.wait_for_tasks([task_id], timeout=10).__next__()


def _end_failed(arbiter: Arbiter, app: Minion, task_id: str) -> None:
    _end_succeeded(arbiter, app, task_id)


def _end_killed_queued(arbiter: Arbiter, app: Minion, task_id: str) -> None:
    assert arbiter.kill(task_id)


def _end_killed_running(arbiter: Arbiter, app: Minion, task_id: str) -> None:
    with running(app):
        assert wait_until(lambda: arbiter.status(task_id)["state"] == records.RUNNING)
        assert arbiter.kill(task_id, wait=True, timeout=10)


def _end_expired(arbiter: Arbiter, app: Minion, task_id: str) -> None:
    time.sleep(0.3)  # past its expires: the minion ends it unrun
    _end_succeeded(arbiter, app, task_id)


Ending = Callable[[Arbiter, Minion, str], None]
ENDINGS: dict[str, tuple[str, dict[str, Any], Ending]] = {
    records.SUCCEEDED: ("ok", {}, _end_succeeded),
    records.FAILED: ("boom", {}, _end_failed),
    "killed-queued": ("ok", {}, _end_killed_queued),
    "killed-running": ("spin", {}, _end_killed_running),
    records.EXPIRED: ("ok", {"expires": 0.2}, _end_expired),
}


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_once_it_ends_a_new_apply_queues_a_new_task(
    arbiter: Arbiter, app: Minion, ending: str
) -> None:
    ran: list[str] = []

    @app.task(name="ok")
    def ok() -> str:
        ran.append("ok")
        return "ok"

    @app.task(name="boom")
    def boom() -> None:
        ran.append("boom")
        raise RuntimeError("boom")

    @app.task(name="spin")
    def spin() -> None:
        ran.append("spin")
        while not task_cancelled():
            time.sleep(0.01)

    name, options, end = ENDINGS[ending]
    [first] = arbiter.apply(name, unique_key="k", **options)
    end(arbiter, app, first)
    state = arbiter.status(first)["state"]
    assert state == {"killed-queued": records.CANCELLED, "killed-running": records.CANCELLED}.get(
        ending, ending
    )
    assert wait_until(lambda: claim_state(arbiter, "k") == unique.RELEASED), ending
    before = ready(arbiter)  # a task killed while queued leaves its message, skipped later
    [second] = arbiter.apply("ok", unique_key="k")
    assert second != first
    assert ready(arbiter) == before + 1
    assert claim_state(arbiter, "k") == second


def test_a_claim_left_on_a_final_task_is_taken_over(arbiter: Arbiter, app: Minion) -> None:
    @app.task(name="ok")
    def ok() -> str:
        return "ok"

    [done] = arbiter.apply("ok")
    _end_succeeded(arbiter, app, done)
    hold(arbiter, "lost", done, time.time())  # its release was lost in a crash
    [fresh] = arbiter.apply("ok", unique_key="lost")
    assert fresh != done and claim_state(arbiter, "lost") == fresh
    assert ready(arbiter) == 1


def test_a_stale_claim_on_a_missing_task_is_taken_over_and_that_task_never_runs(
    arbiter: Arbiter,
) -> None:
    ghost = Envelope("ok", id="ghost-task", headers={unique.UNIQUE: "lost"})
    hold(arbiter, "lost", ghost.id, time.time() - unique.PUSH_GRACE - 1)  # its apply died
    [fresh] = arbiter.apply("ok", unique_key="lost")
    assert fresh != ghost.id and claim_state(arbiter, "lost") == fresh
    ended = arbiter.status(ghost.id)
    assert ended["state"] == records.CANCELLED and "never queued" in ended["error"]["message"]
    # the dead apply, waking up, cannot push its task any more
    assert not submit(arbiter, ghost)
    assert ready(arbiter) == 1


def test_a_young_claim_on_a_missing_task_is_being_pushed(arbiter: Arbiter) -> None:
    hold(arbiter, "young", "pushing-now", time.time())
    assert arbiter.apply("ok", unique_key="young") == ["pushing-now"]
    assert ready(arbiter) == 0


def test_an_apply_whose_claim_was_taken_as_stale_returns_the_new_holder(
    arbiter: Arbiter,
) -> None:
    """Its push fails (the taker ended its task); it retries with a fresh id."""
    pushed: list[str] = []

    def taken_before_push(task_id: str) -> None:
        pushed.append(task_id)
        if len(pushed) == 1:  # a taker that found this claim stale ended its task
            ended = Record(records.CANCELLED, arbiter.wire.pack({"id": task_id}, "record"))
            arbiter.node.transition(
                records.task_key(task_id), ended, ttl=60, expect=(records.ABSENT,)
            )

    envelope = Envelope("ok")
    holder = unique.submit(
        arbiter,
        envelope,
        unique.Uniqueness("raced", 60.0),
        not_before=None,
        before_push=taken_before_push,
    )
    assert pushed[0] == envelope.id and holder == pushed[1] != envelope.id
    assert claim_state(arbiter, "raced") == holder
    assert ready(arbiter) == 1


def test_the_ttl_frees_a_stuck_key(arbiter: Arbiter) -> None:
    [first] = arbiter.apply("ok", unique_key="stuck", unique_ttl=0.3)
    assert arbiter.apply("ok", unique_key="stuck") == [first]
    time.sleep(0.45)  # the claim's TTL passes while its task is still queued
    [second] = arbiter.apply("ok", unique_key="stuck")
    assert second != first
    assert ready(arbiter) == 2


def test_a_delayed_unique_task_holds_its_key_until_it_runs(arbiter: Arbiter, app: Minion) -> None:
    ran: list[int] = []

    @app.task(name="count")
    def count() -> None:
        ran.append(1)

    with running(app):
        [first] = arbiter.apply("count", countdown=0.5, unique_key="later")
        assert arbiter.apply("count", unique_key="later") == [first]
        arbiter.wait_for_tasks([first], timeout=10).__next__()
    assert ran == [1]


def test_concurrent_applies_from_threads_give_one_id(arbiter: Arbiter) -> None:
    threads, rounds = 8, 10
    found: list[list[str]] = [[] for _ in range(rounds)]
    barrier = threading.Barrier(threads)

    def apply_all() -> None:
        barrier.wait(10)
        for index in range(rounds):
            found[index].extend(arbiter.apply("ok", unique_key=f"race-{index}"))

    workers = [threading.Thread(target=apply_all) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert all(len(ids) == threads and len(set(ids)) == 1 for ids in found), found
    assert ready(arbiter) == rounds


def test_bad_unique_options_are_refused_before_anything_is_queued(arbiter: Arbiter) -> None:
    with pytest.raises(ValueError, match="tasks_count=2"):
        arbiter.apply("ok", 2, unique_key="k")
    with pytest.raises(ValueError, match="unique_ttl needs a unique_key"):
        arbiter.apply("ok", unique_ttl=10)
    with pytest.raises(TypeError, match="unique_key must be a str"):
        arbiter.apply("ok", unique_key=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must not be empty"):
        arbiter.apply("ok", unique_key="")
    with pytest.raises(ValueError, match="lone surrogate"):
        arbiter.apply("ok", unique_key="\ud800")
    for ttl in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="unique_ttl must be a finite"):
            arbiter.apply("ok", unique_key="k", unique_ttl=ttl)
    with pytest.raises(TypeError, match="unique_ttl must be a number"):
        arbiter.apply("ok", unique_key="k", unique_ttl="10")  # type: ignore[arg-type]
    assert ready(arbiter) == 0 and claim_state(arbiter, "k") is None


@pytest.mark.parametrize("header", [5, "", None, ["k"]])
def test_a_malformed_unique_header_is_dead_lettered_unrun(
    arbiter: Arbiter, app: Minion, header: Any
) -> None:
    ran: list[int] = []

    @app.task(name="work")
    def work() -> None:
        ran.append(1)

    push_bound(arbiter, raw_envelope("bad-unique", headers={"unique": header}), "bad-unique")
    with running(app):
        [status] = arbiter.wait_for_tasks(["bad-unique"], timeout=10)
    assert_dead(status, "unique")
    assert ran == []


RACE_SCRIPT = r"""
import json
import sys
import time

from arbiter import Arbiter

url, namespace, start, rounds = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
with Arbiter(url, namespace=namespace) as arbiter:
    arbiter.node.queue_size("default")  # connected before the start
    time.sleep(max(0.0, start - time.time()))
    ids = [arbiter.apply("ok", unique_key=f"race-{i}")[0] for i in range(rounds)]
print(json.dumps(ids))
"""


@pytest.mark.real_broker
def test_two_processes_applying_one_key_at_once_get_one_task(
    redis_url: str, redis_namespace: str, tmp_path: Path
) -> None:
    """On the real Redis only (memory:// lives in one process): not parametrized by
    broker, so that no run skips it."""
    broker_url, namespace = redis_url, redis_namespace
    script = tmp_path / "race.py"
    script.write_text(RACE_SCRIPT)
    rounds, start = 50, time.time() + 2.0
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), broker_url, namespace, str(start), str(rounds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=60)[0] for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    first, second = (json.loads(out) for out in outputs)
    assert first == second, "two processes got different tasks for one key"
    assert len(set(first)) == rounds
    with Arbiter(broker_url, namespace=namespace) as arbiter:
        assert ready(arbiter) == rounds


def test_a_release_the_broker_refuses_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """It comes after the outcome is stored and acked: raising would only cost the lane
    the next message it took; the next apply with the key takes it over instead."""

    class Down:
        def transition(self, *args: object, **kwargs: object) -> None:
            raise BrokerError("the broker is down")

    envelope = Envelope(task="t", headers={"unique": "report"})
    with caplog.at_level(logging.WARNING, logger="arbiter.unique"):
        unique.release(Down(), envelope)  # type: ignore[arg-type]
    assert f"task {envelope.id} ended, but its unique key 'report' was not released" in (
        caplog.text
    )
