"""The keeper: lost-lease warnings, watch requests, and the counters its heartbeat carries."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from support import wait_until

from arbiter_core import records
from arbiter_core.client import Arbiter
from arbiter_core.minion import Minion, task_cancelled
from arbiter_core.minion.control import Control
from arbiter_core.minion.inflight import InFlightTasks
from arbiter_core.minion.keeper import CHANGE_DELAY, WATCH_CAP, WATCH_INTERVAL, Keeper
from arbiter_core.minion.run_context import RunContext
from arbiter_core.node import Delivery


def _delivery(receipt: str) -> Delivery:
    return Delivery("q", f"m-{receipt}", b"", 1, receipt, 0.0)


def _keeper(snapshots: list[list[Delivery]], renewed: list[bool], beats: list[str]) -> Keeper:
    """A keeper over a node that renews as ``renewed`` says; ``leased`` answers from a script."""
    node = SimpleNamespace(
        renew=lambda deliveries, lease: renewed[: len(deliveries)],
        heartbeat=lambda worker_id, info, ttl: beats.append(info.decode()),
    )
    return Keeper(
        node,  # type: ignore[arg-type]
        "w1",
        3.0,
        leased=lambda: snapshots.pop(0) if snapshots else [],
        info=lambda: b"info",
        after_beat=lambda: beats.append("described"),
    )


@pytest.mark.parametrize(
    ("after", "warned"),
    [([], False), ([_delivery("a")], True)],
    ids=["finished-meanwhile", "still-running"],
)
def test_lost_lease_warning(after: list[Delivery], warned: bool, caplog: Any) -> None:
    beats: list[str] = []
    keeper = _keeper([[_delivery("a")], after], renewed=[False], beats=beats)
    with caplog.at_level(logging.WARNING, logger="arbiter.minion"):
        keeper.beat()
    assert beats == ["info", "described"], "heartbeat, then the claimed tasks are described"
    assert ("lost the lease" in caplog.text) is warned


def _counting_keeper(lease: float) -> tuple[Keeper, list[float]]:
    """A keeper over a node that only records when each heartbeat came."""
    beats: list[float] = []
    node = SimpleNamespace(
        renew=lambda deliveries, lease: [],
        heartbeat=lambda worker_id, info, ttl: beats.append(time.monotonic()),
    )
    keeper = Keeper(node, "w1", lease, leased=list, info=lambda: b"{}")  # type: ignore[arg-type]
    return keeper, beats


def test_a_watch_makes_the_keeper_beat_every_second_then_slow_down() -> None:
    keeper, beats = _counting_keeper(lease=300.0)  # unwatched, it beats every 100 s
    keeper.start()
    try:
        assert beats and keeper.next_wait() == 100.0
        keeper.watch(30)
        assert wait_until(lambda: len(beats) >= 4, timeout=20), beats
        assert keeper.next_wait() == WATCH_INTERVAL
        keeper.watched_until = 0.0  # the watch ran out
        assert keeper.next_wait() == 100.0
    finally:
        keeper.stop()


def test_a_watch_is_capped_and_must_be_positive() -> None:
    keeper, _ = _counting_keeper(lease=300.0)
    keeper.watch(10_000)
    assert keeper.watched_until - time.monotonic() <= WATCH_CAP
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="positive"):
            keeper.watch(bad)


def test_a_short_lease_is_not_slowed_down_by_a_watch() -> None:
    keeper, _ = _counting_keeper(lease=0.9)
    keeper.watch(5)
    assert keeper.next_wait() == pytest.approx(0.3)


def _heartbeat(node: Any) -> dict[str, Any]:
    [info] = node.live_workers().values()
    decoded: dict[str, Any] = json.loads(info)
    return decoded


def test_the_heartbeat_counts_outcomes_and_a_watch_refreshes_it() -> None:
    """On memory://: counts and recent failures reach the heartbeat on the next beat,
    which a ``watch`` control event brings within a second (the lease is 300 s)."""
    url = f"memory://keeper-{uuid.uuid4().hex[:8]}"
    app = Minion(url, queue="q", lease=300)
    attempts: list[int] = []

    @app.task(name="ok")
    def ok() -> str:
        return "ok"

    @app.task(name="boom")
    def boom() -> None:
        raise ValueError("boom")

    @app.task(name="flaky", retries=1)
    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("once")
        return "ok"

    @app.task(name="hang")
    def hang() -> None:
        while not task_cancelled():
            time.sleep(0.01)

    thread = threading.Thread(
        target=app.run, kwargs={"workers": 2, "handle_signals": False}, daemon=True
    )
    thread.start()
    arbiter = Arbiter(url, lease=300)
    try:
        ids = arbiter.apply("ok", tasks_count=2, queue="q") + arbiter.apply("boom", queue="q")
        ids += arbiter.apply("flaky", queue="q")
        [hung] = arbiter.apply("hang", queue="q")
        arbiter.node.push("q", b"not an envelope")  # dead-lettered as malformed
        assert wait_until(lambda: arbiter.status(hung)["state"] == "running")
        assert arbiter.kill(hung)
        finished = list(arbiter.wait_for_tasks([*ids, hung], timeout=20))
        assert sorted(s["state"] for s in finished) == [
            "cancelled", "failed", "succeeded", "succeeded", "succeeded",
        ]  # fmt: skip
        first_beat = _heartbeat(arbiter.node)["beat_at"]
        arbiter.node.emit(records.control_event("q"), arbiter.wire.pack({"watch": 10}))
        want = {"succeeded": 3, "failed": 1, "retried": 1, "dead": 1, "cancelled": 1}
        want["expired"] = 0
        assert wait_until(lambda: _heartbeat(arbiter.node)["counts"] == want, timeout=20), (
            _heartbeat(arbiter.node)
        )
        info = _heartbeat(arbiter.node)
        assert info["beat_at"] > first_beat
        assert info["pool"] == "thread" and info["queue"] == "q" and info["slots"] == 2
        [failure] = info["recent_failures"]
        assert failure["task"] == "boom" and failure["error"] == "ValueError: boom"
        assert failure["id"] == ids[2] and failure["at"] <= info["beat_at"]
    finally:
        app.stop()
        thread.join(30)
        arbiter.close()
        app.close()
    assert not thread.is_alive()


def test_a_malformed_watch_is_ignored(caplog: Any) -> None:
    url = f"memory://keeper-{uuid.uuid4().hex[:8]}"
    watched: list[float] = []
    with Minion(url) as app:
        context = RunContext(app.node, app.wire, app.settings, "q", "w1", app.registry)
        control = Control(context, InFlightTasks(), None, watch=watched.append)  # type: ignore[arg-type]
        with caplog.at_level(logging.WARNING, logger="arbiter.minion"):
            for bad in ("soon", True, -5, None):
                control._on_control("control", app.wire.pack({"watch": bad}))
            control._on_control("control", app.wire.pack({"watch": 2}))
    assert watched == [2.0]
    assert caplog.text.count("ignoring a malformed control message") == 3


def test_changes_are_published_at_once_and_coalesced() -> None:
    """A change beats within a moment (not a third of the lease); a burst of changes
    makes at most one publication per CHANGE_DELAY; no change of the count, no beat."""
    busy = [0]
    beats: list[float] = []
    node = SimpleNamespace(
        renew=lambda deliveries, lease: [],
        heartbeat=lambda worker_id, info, ttl: beats.append(time.monotonic()),
    )
    keeper = Keeper(
        node,  # type: ignore[arg-type]
        "w1", 300.0, leased=list, info=lambda: b"{}", busy=lambda: busy[0],
    )  # fmt: skip
    keeper.start()
    try:
        assert len(beats) == 1, "the first beat, at start"
        busy[0] = 1
        keeper.changed()
        assert wait_until(lambda: len(beats) == 2, timeout=1), beats
        assert beats[1] - beats[0] < 0.5, "published at once, not at the next timed beat"
        start = time.monotonic()
        for n in range(200):  # a burst: the count changes 200 times in a few ms
            busy[0] = n % 3 + 2
            keeper.changed()
        time.sleep(4 * CHANGE_DELAY)
        assert len([b for b in beats if b >= start]) <= 5, "coalesced"
        published = len(beats)
        keeper.changed()  # the count is what was published: nothing to say
        time.sleep(2 * CHANGE_DELAY)
        assert len(beats) == published
    finally:
        keeper.stop()


def test_a_failing_beat_waits_for_the_next_interval() -> None:
    """A broker that is down fails each beat; the keeper logs it and waits, never spins."""
    calls: list[float] = []

    def down(worker_id: str, info: bytes, ttl: float) -> None:
        calls.append(time.monotonic())
        raise ConnectionError("down")

    node = SimpleNamespace(renew=lambda deliveries, lease: [], heartbeat=down)
    keeper = Keeper(node, "w1", 0.3, leased=list, info=lambda: b"{}")  # type: ignore[arg-type]
    keeper._thread.start()  # start() beats first, and that beat would raise here
    try:
        time.sleep(0.55)
    finally:
        keeper.stop()
    assert 3 <= len(calls) <= 7, f"{len(calls)} beats in 0.55 s with a 0.1 s interval"
