"""ETA, countdown and expiry (issue 16): delayed starts and tasks that expire unrun.

On every backend. Executions are seen by their side effects (a list the task
appends to), not by the records under test.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from arbiter_core import records
from arbiter_core.client import Arbiter
from arbiter_core.errors import TaskFailedError
from arbiter_core.minion import Minion
from arbiter_core.task_handle import TaskHandle
from tests.distributed.conftest import running
from tests.distributed.test_bad_messages import assert_dead, push_bound, raw_envelope
from tests.support import wait_until

CLOCK_SLACK = 0.002
"""Seconds a start may precede its ETA: the broker's due time is whole milliseconds
(rounded up) of a clock offset measured once; the records' times are ``time.time()``."""


def pause_until(moment: float) -> None:
    """Let wall-clock time pass ``moment`` (a test's own wait for a known time, no polling)."""
    time.sleep(max(0.0, moment - time.time()))


@pytest.fixture
def app(make_minion: Callable[..., Minion]) -> Minion:
    return make_minion()


def test_countdown_delays_the_start_and_holds_no_slot(arbiter: Arbiter, app: Minion) -> None:
    ran: list[tuple[str, float]] = []

    @app.task(name="stamp")
    def stamp(tag: str) -> str:
        ran.append((tag, time.time()))
        return tag

    with running(app, workers=1):  # one slot: a held slot would block the quick tasks
        applied = time.time()
        [later] = arbiter.apply("stamp", task_args=["later"], countdown=0.8)
        status = arbiter.status(later)
        assert status["state"] == records.QUEUED
        assert applied + 0.8 <= status["eta"] <= time.time() + 0.8
        quick = arbiter.apply("stamp", tasks_count=3, task_args=["quick"])
        done = list(arbiter.wait_for_tasks(quick, timeout=10))
        assert time.time() < status["eta"], "the quick tasks waited for the delayed one"
        assert arbiter.status(later)["state"] == records.QUEUED
        [final] = arbiter.wait_for_tasks([later], timeout=10)
    assert {s["state"] for s in done} == {records.SUCCEEDED}
    assert final["state"] == records.SUCCEEDED and final["result"] == "later"
    assert [tag for tag, _ in ran] == ["quick", "quick", "quick", "later"]
    assert final["started_at"] >= final["eta"] - CLOCK_SLACK
    assert ran[-1][1] - final["eta"] < 0.5, "started long after its ETA"


def test_an_eta_datetime_is_honoured_and_shown(arbiter: Arbiter, app: Minion) -> None:
    ran: list[float] = []

    @app.task(name="stamp")
    def stamp() -> None:
        ran.append(time.time())

    eta = datetime.now(timezone.utc) + timedelta(seconds=0.5)
    with running(app, workers=2):
        handle = stamp.apply(eta=eta, arbiter=arbiter)
        assert handle.status()["eta"] == pytest.approx(eta.timestamp())
        assert handle.get(timeout=10) is None
    assert len(ran) == 1 and ran[0] >= eta.timestamp() - CLOCK_SLACK


def test_a_queued_task_that_expires_never_runs_and_its_waiter_wakes(
    arbiter: Arbiter, app: Minion, caplog: pytest.LogCaptureFixture
) -> None:
    release = threading.Event()
    ran: list[str] = []

    @app.task(name="block")
    def block() -> None:
        release.wait(10)

    @app.task(name="effect")
    def effect(tag: str) -> str:
        ran.append(tag)
        return tag

    caplog.set_level(logging.WARNING, logger="arbiter.minion")
    with running(app, workers=1):
        [blocker] = arbiter.apply("block")
        assert_state_soon(arbiter, blocker, records.RUNNING)
        [doomed] = arbiter.apply("effect", task_args=["doomed"], expires=0.3)
        [kept] = arbiter.apply("effect", task_args=["kept"], expires=30)
        woken: list[dict[str, Any]] = []
        waiter = threading.Thread(
            target=lambda: woken.extend(arbiter.wait_for_tasks([doomed], timeout=10))
        )
        waiter.start()
        pause_until(arbiter.status(doomed)["expires"] + 0.05)
        release.set()  # the only slot frees up after the expiry: the minion finds it expired
        waiter.join(10)
        assert not waiter.is_alive(), "the waiter of the expired task did not wake"
        with pytest.raises(TaskFailedError) as failed:
            TaskHandle(arbiter, doomed).get(timeout=5)
        [kept_status] = arbiter.wait_for_tasks([kept], timeout=10)
    [status] = woken
    assert status["state"] == records.EXPIRED
    assert status["error"]["type"] == "TaskExpiredError"
    assert "expired" in status["error"]["message"]
    assert status["started_at"] is None and status["finished_at"] >= status["expires"]
    assert failed.value.state == records.EXPIRED
    assert kept_status["state"] == records.SUCCEEDED
    assert ran == ["kept"], "the expired task ran"
    assert any(
        f"task effect[{doomed}] expired before it started" in r.getMessage() for r in caplog.records
    )
    assert arbiter.node.queue_size("default") == 0
    assert arbiter.node.dead_letters("default") == []


def test_a_task_expired_before_any_minion_came_ends_expired(arbiter: Arbiter, app: Minion) -> None:
    ran: list[int] = []

    @app.task(name="effect")
    def effect() -> None:
        ran.append(1)

    [doomed] = arbiter.apply("effect", expires=timedelta(seconds=0.2))
    pause_until(arbiter.status(doomed)["expires"] + 0.02)
    with running(app, workers=1):
        [status] = arbiter.wait_for_tasks([doomed], timeout=10)
    assert status["state"] == records.EXPIRED and ran == []
    assert app.arbiter().status(doomed)["state"] == records.EXPIRED  # any client reads it


def test_a_retry_due_after_the_expiry_does_not_run(arbiter: Arbiter, app: Minion) -> None:
    """Expiry applies to the task, every attempt; the retry ends it at the expiry, not later."""
    attempts: list[float] = []

    @app.task(name="flaky", retries=3, delay=5.0)
    def flaky() -> None:
        attempts.append(time.time())
        raise RuntimeError("not yet")

    with running(app, workers=1):
        applied = time.time()
        [task_id] = arbiter.apply("flaky", expires=1.0)
        [status] = arbiter.wait_for_tasks([task_id], timeout=10)
    assert status["state"] == records.EXPIRED
    assert status["attempt"] == 2 and len(attempts) == 1
    assert status["finished_at"] - applied < 3.0, "waited for the retry's delay, not the expiry"


def test_a_scheduled_task_can_be_killed(arbiter: Arbiter, app: Minion) -> None:
    ran: list[int] = []

    @app.task(name="effect")
    def effect() -> None:
        ran.append(1)

    with running(app, workers=1):
        [task_id] = arbiter.apply("effect", countdown=0.5)
        assert arbiter.kill(task_id)
        [status] = arbiter.wait_for_tasks([task_id], timeout=5)
        pause_until(time.time() + 0.7)  # past its ETA: the delayed message is skipped
        [after] = arbiter.wait_for_tasks(arbiter.apply("effect"), timeout=10)
    assert status["state"] == records.CANCELLED
    assert after["state"] == records.SUCCEEDED
    assert ran == [1], "the killed task ran after all"


NAIVE = datetime(2030, 1, 1, 12, 0)
SOON = datetime.now(timezone.utc) + timedelta(hours=1)


@pytest.mark.parametrize(
    ("options", "error", "words"),
    [
        ({"eta": NAIVE}, ValueError, "timezone-aware"),
        ({"eta": SOON, "countdown": 5}, ValueError, "not both"),
        ({"eta": 1234.5}, TypeError, "datetime"),
        ({"countdown": -1}, ValueError, ">= 0"),
        ({"countdown": float("nan")}, ValueError, "countdown"),
        ({"countdown": "5"}, TypeError, "countdown"),
        ({"expires": 0}, ValueError, "> 0"),
        ({"expires": -3}, ValueError, "> 0"),
        ({"expires": True}, TypeError, "expires"),
        ({"expires": NAIVE}, ValueError, "timezone-aware"),
        ({"expires": datetime.now(timezone.utc) - timedelta(seconds=1)}, ValueError, "past"),
        ({"countdown": 10, "expires": 5}, ValueError, "after the start"),
        ({"eta": SOON, "expires": SOON}, ValueError, "after the start"),
    ],
)
def test_bad_timing_options_are_refused_and_queue_nothing(
    arbiter: Arbiter, options: dict[str, Any], error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        arbiter.apply("anything", **options)
    stats = arbiter.node.queue_stats("default")
    assert (stats.ready, stats.delayed) == (0, 0)


def test_the_task_functions_apply_checks_the_same_options(arbiter: Arbiter, app: Minion) -> None:
    @app.task(name="effect")
    def effect() -> None:
        pass

    with pytest.raises(ValueError, match="timezone-aware"):
        effect.apply(eta=NAIVE, arbiter=arbiter)
    assert arbiter.node.queue_stats("default").delayed == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"expires": "soon"},
        {"expires": True},
        {"expires": None},
        {"expires": -1},
        {"eta": [1]},
    ],
)
def test_a_malformed_timing_header_is_dead_lettered_unrun(
    arbiter: Arbiter, app: Minion, headers: dict[str, Any]
) -> None:
    ran: list[int] = []

    @app.task(name="work")
    def work() -> None:
        ran.append(1)

    bad = "badtiming" + "0" * 23
    push_bound(arbiter, raw_envelope(bad, headers=headers), bad)
    with running(app, workers=1):
        [dead] = arbiter.wait_for_tasks([bad], timeout=10)
    assert_dead(dead, f"header {next(iter(headers))!r}")
    assert ran == []


def assert_state_soon(arbiter: Arbiter, task_id: str, state: str) -> None:
    reached = wait_until(lambda: arbiter.status(task_id)["state"] == state, 10)
    assert reached, arbiter.status(task_id)
