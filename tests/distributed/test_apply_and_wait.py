"""apply / wait_for_tasks / status: the seed-001 core, on every backend."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from arbiter_core.client import Arbiter
from arbiter_core.errors import SerializationError
from arbiter_core.minion import Minion
from arbiter_core.node import EventNode
from arbiter_core.records import parse_reply
from tests.distributed.conftest import LEASE, running


def test_apply_wait_status(arbiter: Arbiter, make_minion: Callable[..., Minion]) -> None:
    app = make_minion()

    @app.task(name="simple_add")
    def adds(x: int, y: int) -> int:
        return x + y

    with running(app, workers=3):
        ids = arbiter.apply("simple_add", tasks_count=3, task_args=[1, 2])
        assert len(set(ids)) == 3
        statuses = list(arbiter.wait_for_tasks(ids, timeout=10))
    assert sorted(s["id"] for s in statuses) == sorted(ids)
    assert all(s["state"] == "succeeded" and s["result"] == 3 for s in statuses)
    status = arbiter.status(ids[0])
    assert status["result"] == 3 and status["error"] is None
    assert status["worker"] == app.worker_id and status["name"] == "simple_add"
    assert status["submitted_at"] <= status["started_at"] <= status["finished_at"]


def test_kwargs_and_default_task_name(arbiter: Arbiter, make_minion: Callable[..., Minion]) -> None:
    app = make_minion()

    @app.task
    def greet(name: str, punctuation: str = ".") -> str:
        return f"hello {name}{punctuation}"

    task_name = f"{greet.__module__}.{greet.__qualname__}"
    with running(app):
        ids = arbiter.apply(task_name, task_args=["bob"], task_kwargs={"punctuation": "!"})
        [status] = arbiter.wait_for_tasks(ids, timeout=10)
    assert status["result"] == "hello bob!"


def test_results_arrive_in_completion_order(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    app = make_minion()
    release = threading.Event()

    @app.task(name="gate")
    def gate() -> str:
        release.wait(10)
        return "slow"

    @app.task(name="quick")
    def quick() -> str:
        return "fast"

    with running(app, workers=2):
        slow_id = arbiter.apply("gate")[0]
        fast_id = arbiter.apply("quick")[0]
        waiting = arbiter.wait_for_tasks([slow_id, fast_id], timeout=10)
        first = next(waiting)
        release.set()
        second = next(waiting)
    assert (first["id"], second["id"]) == (fast_id, slow_id)


def test_a_task_finished_before_the_wait_is_not_missed(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    app = make_minion()

    @app.task(name="double")
    def double(x: int) -> int:
        return 2 * x

    with running(app):
        ids = arbiter.apply("double", task_args=[21])
        deadline = time.monotonic() + 10
        while arbiter.status(ids[0])["state"] != "succeeded":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        started = time.monotonic()
        [status] = arbiter.wait_for_tasks(ids, timeout=5)
        elapsed = time.monotonic() - started  # not counting the minion's stop below
    assert status["result"] == 42
    assert elapsed < 1.0, "a finished task must be yielded at once"


def test_status_from_another_arbiter_and_unknown_ids(
    arbiter: Arbiter, make_minion: Callable[..., Minion], node_factory: Callable[..., EventNode]
) -> None:
    app = make_minion()

    @app.task(name="echo")
    def echo(x: object) -> object:
        return x

    with running(app):
        ids = arbiter.apply("echo", task_args=[{"a": [1, 2]}])
        list(arbiter.wait_for_tasks(ids, timeout=10))
    other = Arbiter(node_factory())
    try:
        assert other.status(ids[0])["result"] == {"a": [1, 2]}
        assert other.status("no-such-id") == {
            "id": "no-such-id",
            "state": "unknown",
            "result": None,
            "error": None,
        }
    finally:
        other.close()


def test_two_arbiters_never_receive_each_others_results(
    make_minion: Callable[..., Minion], node_factory: Callable[..., EventNode]
) -> None:
    app = make_minion()

    @app.task(name="ident")
    def ident(x: int) -> int:
        return x

    first, second = Arbiter(node_factory()), Arbiter(node_factory())
    seen: dict[str, list[str]] = {first.reply_to: [], second.reply_to: []}
    spy = node_factory()
    for channel, got in seen.items():
        spy.subscribe(channel, lambda event, payload, got=got: got.append(parse_reply(payload)[0]))
    try:
        with running(app, workers=4):
            a_ids = first.apply("ident", tasks_count=5, task_args=[1])
            b_ids = second.apply("ident", tasks_count=5, task_args=[2])
            results: dict[str, list[dict[str, object]]] = {}
            threads = [
                threading.Thread(
                    target=lambda c=c, i=i: results.__setitem__(
                        c.reply_to, list(c.wait_for_tasks(i, timeout=10))
                    )
                )
                for c, i in ((first, a_ids), (second, b_ids))
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(15)
        assert sorted(s["id"] for s in results[first.reply_to]) == sorted(a_ids)
        assert sorted(s["id"] for s in results[second.reply_to]) == sorted(b_ids)
        assert all(s["result"] == 1 for s in results[first.reply_to])
        assert all(s["result"] == 2 for s in results[second.reply_to])
        assert set(seen[first.reply_to]) == set(a_ids)
        assert set(seen[second.reply_to]) == set(b_ids)
    finally:
        first.close()
        second.close()


def test_wait_times_out(arbiter: Arbiter) -> None:
    ids = arbiter.apply("nobody-serves-this", queue="empty")
    with pytest.raises(TimeoutError, match="1 task"):
        list(arbiter.wait_for_tasks(ids, timeout=0.3))


def test_unserializable_argument_fails_at_apply_naming_it(
    arbiter: Arbiter, node: EventNode
) -> None:
    with pytest.raises(SerializationError, match=r"args\[1\]: object value"):
        arbiter.apply("t", task_args=[1, object()])
    with pytest.raises(SerializationError, match=r"kwargs\['when'\] \(a member\): complex"):
        arbiter.apply("t", task_kwargs={"when": {1, 2j}})
    assert node.queue_size("default") == 0, "nothing may be queued when apply fails"


def test_bad_apply_arguments(arbiter: Arbiter) -> None:
    with pytest.raises(ValueError, match="tasks_count"):
        arbiter.apply("t", tasks_count=0)
    with pytest.raises(TypeError, match="task_args must be a list"):
        arbiter.apply("t", task_args="oops")  # type: ignore[arg-type]


def test_task_waits_for_a_minion_to_arrive(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    ids = arbiter.apply("late", task_args=[5], queue="later")
    time.sleep(LEASE / 2)
    assert arbiter.status(ids[0])["state"] == "queued"
    app = make_minion(queue="later")

    @app.task(name="late")
    def late(x: int) -> int:
        return x + 1

    with running(app):
        [status] = arbiter.wait_for_tasks(ids, timeout=10)
    assert status["state"] == "succeeded" and status["result"] == 6


def test_async_tasks(arbiter: Arbiter, make_minion: Callable[..., Minion]) -> None:
    import asyncio

    app = make_minion()

    @app.task(name="nap")
    async def nap(x: int) -> int:
        await asyncio.sleep(0.01)
        return x * 3

    with running(app):
        [status] = arbiter.wait_for_tasks(arbiter.apply("nap", task_args=[3]), timeout=10)
    assert status["result"] == 9


def test_close_is_idempotent(
    broker_url: str, namespace: str, node_factory: Callable[..., EventNode]
) -> None:
    owner = Arbiter(broker_url, namespace=namespace, lease=LEASE)  # opens and owns its node
    owner.close()
    owner.close()
    with Arbiter(node_factory()) as borrower:
        borrower.close()  # and once more on leaving the block
    node = node_factory()
    client = Arbiter(node)
    node.close()  # its owner closed the borrowed node first
    client.close()
