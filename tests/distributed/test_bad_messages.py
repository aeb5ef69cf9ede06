"""One bad message never stops a minion, and every dead letter ends its task's record.

Each test reproduces one failure seen in fault injection (issue 10): before the fix,
the first three crashed the minion, and dead-lettered tasks stayed ``running``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

from arbiter_core import records
from arbiter_core.client import Arbiter
from arbiter_core.minion import Minion
from arbiter_core.minion.lanes import Lanes
from arbiter_core.node import EventNode, Record
from arbiter_core.wire import Envelope, WireFormat
from tests.distributed.conftest import LEASE, running

WIRE = WireFormat()


def push_bound(arbiter: Arbiter, body: bytes, task_id: str, queue: str = "default") -> None:
    """Queue ``body`` the way apply does (its record first, bound to the message)."""
    status = records.task_status(Envelope("bad", id=task_id, queue=queue), records.QUEUED)
    assert arbiter.node.transition_and_push(
        records.task_key(task_id),
        Record(records.QUEUED, WIRE.pack(status, "record")),
        ttl=60,
        expect=[None],
        queue=queue,
        body=body,
    )


def raw_envelope(task_id: str, **fields: Any) -> bytes:
    """A framed envelope with ``fields`` overriding a valid one, encoded as given."""
    data = {**Envelope("work", id=task_id).to_dict(), **fields}
    return WIRE.frame(json.dumps(data, allow_nan=True).encode())


@pytest.fixture
def app(make_minion: Callable[..., Minion]) -> Minion:
    minion = make_minion()

    @minion.task(name="work")
    def work(x: int = 1) -> int:
        return x * 2

    return minion


def assert_dead(status: dict[str, Any], *words: str) -> None:
    assert status["state"] == records.DEAD, status
    assert status["error"]["type"] == "DeadLetteredError"
    for word in words:
        assert word in status["error"]["message"], status["error"]


@pytest.mark.parametrize(
    ("fields", "word"),
    [
        ({"created_at": float("nan")}, "NaN"),
        ({"created_at": float("inf")}, "Infinity"),
        ({"headers": {"trace": float("-inf")}}, "Infinity"),
        ({"headers": {"pipe": 5}}, "pipe"),
        ({"headers": {"pipe": [{"task": "next"}]}}, "pipe"),  # a step with no version
        ({"headers": {"group": ["not", "an", "id"]}}, "group"),
        ({"headers": {"then": "callback"}}, "of"),
        ({"headers": {"group": "a" * 32}}, "retired"),  # a well-formed plan of old
        ({"headers": {"dag": {"id": "g", "name": "t", "finally": [["f"]]}}}, "finally"),
        ({"headers": {"dag": {"id": "g", "name": "t", "bind": [["l", -1, "m", "i"]]}}}, "bind"),
        ({"attempt": True}, "attempt"),
        ({"kwargs": {"x": float("nan")}}, "NaN"),
    ],
)
def test_a_malformed_message_is_dead_lettered_and_the_minion_serves_on(
    arbiter: Arbiter, app: Minion, fields: dict[str, Any], word: str
) -> None:
    bad = "bad" + "0" * 29
    push_bound(arbiter, raw_envelope(bad, **fields), bad)
    with running(app, workers=1) as thread:
        [dead] = arbiter.wait_for_tasks([bad], timeout=10)
        [good] = arbiter.wait_for_tasks(arbiter.apply("work", task_args=[4]), timeout=10)
        assert thread.is_alive(), "the minion is still serving"
    assert_dead(dead, word)
    assert good["result"] == 8
    [letter] = arbiter.node.dead_letters("default")
    assert word in letter.reason and letter.message_id
    assert arbiter.node.queue_size("default") == 0


def test_garbage_bound_to_a_record_ends_it_dead(arbiter: Arbiter, app: Minion) -> None:
    """On Redis the pull claims the record (running) before the minion sees garbage."""
    bad = "garbage" + "0" * 25
    push_bound(arbiter, b"\x00not a frame", bad)
    with running(app, workers=1):
        [dead] = arbiter.wait_for_tasks([bad], timeout=10)
    assert_dead(dead, "bad magic")


def test_a_forged_message_ends_its_record_dead(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    app = make_minion(signing_secret="right")
    ran = threading.Event()

    @app.task(name="work")
    def work() -> None:
        ran.set()

    forged = "forged" + "0" * 26
    push_bound(arbiter, WireFormat(signing_secret="wrong").encode(Envelope("work")), forged)
    with running(app, workers=1):
        [dead] = arbiter.wait_for_tasks([forged], timeout=10)
    assert_dead(dead, "bad signature")
    assert not ran.is_set()


def test_a_spent_message_ends_its_record_and_wakes_the_wait(
    node_factory: Callable[..., EventNode],
) -> None:
    """A task whose every worker died (leases ran out ``max_deliveries`` times) ends dead."""
    node = node_factory(max_deliveries=2)
    arbiter = Arbiter(node)
    [task_id] = arbiter.apply("work")
    for _ in range(2):  # two "minions" lease it and die
        assert node.pull("default", timeout=5, lease=0.2)
    started = threading.Event()
    waited: list[dict[str, Any]] = []

    def wait() -> None:
        started.set()
        waited.extend(arbiter.wait_for_tasks([task_id], timeout=10))

    waiter = threading.Thread(target=wait)
    waiter.start()
    started.wait()
    # The next pull finds the lease run out and the message spent: it buries it.
    assert node.pull("default", timeout=0.5, lease=5) == []
    waiter.join(4)  # the resync would take RESYNC_INTERVAL (5 s): the event wakes it first
    assert not waiter.is_alive(), "the wait was not woken by the burial"
    [status] = waited
    assert_dead(status, "delivered 2 times")
    assert status["name"] == "work", "what the record held is kept"
    assert arbiter.status(task_id)["state"] == records.DEAD
    arbiter.close()


def test_a_follow_up_that_fails_after_a_successful_run_keeps_the_task_succeeded(
    arbiter: Arbiter, app: Minion
) -> None:
    dependent = "d" + "0" * 31  # what the task releases: its record does not decode
    arbiter.node.transition(records.task_key(dependent), Record("waiting", b"tampered"), ttl=60)
    graph = {"id": "g" + "0" * 31, "name": "work", "then": [["next", dependent, 1, 0]]}
    member = Envelope("work", args=(5,), headers={"dag": graph}, reply_to=arbiter.reply_to)
    push_bound(arbiter, WIRE.encode(member), member.id)
    with running(app, workers=1):
        [status] = arbiter.wait_for_tasks([member.id], timeout=10)
        [again] = arbiter.wait_for_tasks(arbiter.apply("work"), timeout=10)
    assert status["state"] == records.SUCCEEDED and status["result"] == 10
    assert again["result"] == 2
    stored = arbiter.status(member.id)
    assert stored["state"] == records.SUCCEEDED
    assert stored["follow_up_error"]["type"] == "MessageRejected"
    assert arbiter.node.queue_size("default") == 0, "acked"
    assert arbiter.node.dead_letters("default") == []


def test_an_unbound_malformed_message_still_ends_its_record(arbiter: Arbiter, app: Minion) -> None:
    """Pushed without its record (by hand, or by a backend that binds nothing): the
    minion, which decoded the envelope, ends the record itself and wakes the Arbiter."""
    envelope = Envelope("work", headers={"pipe": "nope"}, reply_to=arbiter.reply_to)
    arbiter.node.push("default", WIRE.encode(envelope))
    with running(app, workers=1):
        [dead] = arbiter.wait_for_tasks([envelope.id], timeout=10)
    assert_dead(dead, "pipe")


def test_a_lane_that_crashes_on_a_bug_says_so(
    app: Minion, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def bug(self: Lanes, first: object) -> None:
        raise RuntimeError("an arbiter bug")

    monkeypatch.setattr(Lanes, "_serve", bug)
    with (
        caplog.at_level(logging.CRITICAL, "arbiter.minion"),
        pytest.raises(RuntimeError, match="an arbiter bug"),
    ):
        app.run(workers=1, handle_signals=False, grace=LEASE)
    assert "bug in arbiter" in caplog.text


def test_a_dead_pipe_step_fails_the_rest_of_its_pipe(
    arbiter: Arbiter, app: Minion, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step that cannot be handled ends dead, and what follows it cannot run: it fails."""
    real_get = app.tasks.get

    def get(name: str) -> Any:
        if name == "cursed":
            raise RuntimeError("cannot be handled")
        return real_get(name)

    monkeypatch.setattr(app.tasks, "get", get)
    first, second = arbiter.pipe(["cursed", "work"])
    with running(app, workers=1):
        statuses = {s["id"]: s for s in arbiter.wait_for_tasks([first, second], timeout=10)}
    assert_dead(statuses[first], "cannot be handled")
    assert statuses[second]["state"] == records.FAILED
    assert statuses[second]["error"]["type"] == "FailedDependencyError"
