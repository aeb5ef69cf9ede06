"""Thread tasks run on the lane that pulled them; a stuck lane is replaced, its slot kept."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from arbiter_core.client import Arbiter
from arbiter_core.minion import Minion
from arbiter_core.node import EventNode, Record
from arbiter_core.records import parse_reply, reply_payload
from tests.distributed.conftest import LEASE, running


def test_a_timed_out_thread_task_frees_its_slot(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    app = make_minion()
    release, lanes = threading.Event(), set()

    @app.task(name="hang", timeout=0.3)
    def hang() -> None:
        lanes.add(threading.current_thread().name)
        release.wait(10)

    @app.task(name="quick")
    def quick() -> str:
        lanes.add(threading.current_thread().name)
        return "done"

    try:
        with running(app, workers=1):
            [hung] = arbiter.apply("hang")
            [status] = arbiter.wait_for_tasks([hung], timeout=10)
            assert status["state"] == "failed"
            assert status["error"]["type"] == "TaskTimeoutError"
            # the only slot's lane is still inside hang(); a new lane serves the queue
            [done] = arbiter.wait_for_tasks(arbiter.apply("quick"), timeout=10)
            assert done["result"] == "done"
            assert len(lanes) == 2, "quick ran on the replacement lane"
    finally:
        release.set()


def test_a_killed_thread_task_is_reported_at_once_and_its_slot_reused(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    app = make_minion()
    release, started = threading.Event(), threading.Event()

    @app.task(name="stuck")
    def stuck() -> None:
        started.set()
        release.wait(10)  # ignores task_cancelled(): only abandoning frees the slot

    @app.task(name="quick")
    def quick() -> int:
        return 7

    try:
        with running(app, workers=1):
            [task_id] = arbiter.apply("stuck")
            assert started.wait(10)
            assert arbiter.kill(task_id)
            [status] = arbiter.wait_for_tasks([task_id], timeout=10)
            assert status["state"] == "cancelled"
            [done] = arbiter.wait_for_tasks(arbiter.apply("quick"), timeout=10)
            assert done["result"] == 7
    finally:
        release.set()


def test_waiting_for_own_tasks_reads_no_record(
    arbiter: Arbiter, make_minion: Callable[..., Minion], node_factory: Callable[..., EventNode]
) -> None:
    """The completion event carries the final record: a wait on tasks this Arbiter applied
    neither reads them first nor after their events arrive."""
    app = make_minion()

    @app.task(name="square")
    def square(x: int) -> int:
        return x * x

    reads: list[int] = []
    real_get_many = arbiter.node.get_many

    def counting_get_many(keys):  # type: ignore[no-untyped-def]
        reads.append(len(list(keys)))
        return real_get_many(keys)

    arbiter.node.get_many = counting_get_many  # type: ignore[method-assign]
    with running(app, workers=2):
        ids = arbiter.apply("square", tasks_count=20, task_args=[3])
        results = list(arbiter.wait_for_tasks(ids, timeout=10))
    assert sorted(r["id"] for r in results) == sorted(ids)
    assert all(r["result"] == 9 and r["state"] == "succeeded" for r in results)
    assert reads == [], "every result came with its event"
    # a task id this Arbiter did not apply is read first (it may have finished unseen)
    other = Arbiter(node_factory())
    try:
        assert [s["result"] for s in other.wait_for_tasks(ids[:1], timeout=10)] == [9]
    finally:
        other.close()


def test_reply_payload_round_trip() -> None:
    record = Record("succeeded", b'ARB\x01\n{"x": 1}\n')
    assert parse_reply(reply_payload("abc", record)) == ("abc", record)
    assert parse_reply(b"abc") == ("abc", None), "an event may carry the id alone"
    big = Record("succeeded", b"x" * (64 * 1024 + 1))
    assert parse_reply(reply_payload("abc", big)) == ("abc", None), "too big to carry"


def test_a_running_task_shows_its_worker_and_start(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    """A pull may claim the record (state only); the keeper's next beat fills in the rest."""
    app = make_minion()
    started, release = threading.Event(), threading.Event()

    @app.task(name="slow")
    def slow() -> None:
        started.set()
        release.wait(10)

    try:
        with running(app, workers=1):
            [task_id] = arbiter.apply("slow")
            assert started.wait(10)
            assert arbiter.status(task_id)["state"] == "running"
            deadline = time.monotonic() + LEASE * 3
            while (status := arbiter.status(task_id))["worker"] is None:
                assert time.monotonic() < deadline, "no worker shown after a keeper beat"
                time.sleep(0.02)
            assert status["state"] == "running" and status["worker"] == app.worker_id
            assert status["started_at"] is not None
            release.set()
            [final] = arbiter.wait_for_tasks([task_id], timeout=10)
        assert final["state"] == "succeeded" and final["worker"] == app.worker_id
    finally:
        release.set()


def test_a_forged_completion_event_is_not_believed(
    arbiter: Arbiter, make_minion: Callable[..., Minion], node_factory: Callable[..., EventNode]
) -> None:
    app = make_minion()
    release = threading.Event()

    @app.task(name="gated")
    def gated() -> str:
        release.wait(10)
        return "real"

    forger = node_factory()
    try:
        with running(app, workers=1):
            [task_id] = arbiter.apply("gated")
            forged = Record("succeeded", b"not a frame at all")
            forger.emit(arbiter.reply_to, reply_payload(task_id, forged))
            threading.Timer(0.3, release.set).start()
            [status] = arbiter.wait_for_tasks([task_id], timeout=10)
        assert status["result"] == "real", "the forged record was not taken for the outcome"
    finally:
        release.set()
        forger.close()
