"""The worker registry is live: a change of a minion's busy slots, and a running task's
worker and start time, reach every reader within a moment (issue 13: they used to wait
for the next heartbeat, a third of the lease, 10 s by default), so squads are admitted
on the slots that are really free."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from arbiter_core.client import Arbiter
from arbiter_core.errors import InsufficientCapacityError
from arbiter_core.minion import Minion
from arbiter_core.node import EventNode
from tests.distributed.conftest import running
from tests.support import wait_until

SLOTS = 10
FRESH = 0.2
"""Seconds within which a reader must see a change (the issue's bound)."""


def within(condition: Callable[[], bool], seconds: float = FRESH) -> float | None:
    """Seconds until ``condition()`` held, or None if it did not within ``seconds``."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if condition():
            return time.monotonic() - start
        time.sleep(0.005)
    return None


def available(arbiter: Arbiter) -> int:
    return arbiter.workers().get("default", {}).get("available", -1)


@pytest.fixture
def held(
    node_factory: Callable[..., EventNode],
) -> tuple[Minion, threading.Event, threading.Semaphore]:
    """A minion on a long lease (so only changes, not timed beats, refresh the registry)
    whose ``hold`` task waits for the gate; the semaphore counts started holds."""
    app = Minion(node_factory(), lease=60)  # timed beats every 20 s: none during a test
    gate, started = threading.Event(), threading.Semaphore(0)

    @app.task(name="hold")
    def hold() -> str:
        started.release()
        gate.wait(30)
        return "held"

    return app, gate, started


def test_busy_slots_show_within_a_moment(
    held: tuple[Minion, threading.Event, threading.Semaphore], arbiter: Arbiter
) -> None:
    app, gate, started = held
    with running(app, workers=SLOTS):
        assert wait_until(lambda: available(arbiter) == SLOTS, 10)
        ids = arbiter.apply("hold", tasks_count=SLOTS)
        for _ in range(SLOTS):
            assert started.acquire(timeout=10)
        took = within(lambda: available(arbiter) == 0)
        assert took is not None, f"still {available(arbiter)} available {FRESH}s after"
        gate.set()
        states = [s["state"] for s in arbiter.wait_for_tasks(ids, timeout=10)]
        assert states == ["succeeded"] * SLOTS
        took = within(lambda: available(arbiter) == SLOTS)
        assert took is not None, f"only {available(arbiter)} available {FRESH}s after"


def test_a_running_task_shows_its_worker_and_start_within_a_moment(
    held: tuple[Minion, threading.Event, threading.Semaphore], arbiter: Arbiter
) -> None:
    app, gate, started = held
    with running(app, workers=2):
        [task_id] = arbiter.apply("hold")
        assert started.acquire(timeout=10)
        took = within(lambda: arbiter.status(task_id).get("worker") == app.worker_id)
        assert took is not None, arbiter.status(task_id)
        status = arbiter.status(task_id)
        assert status["state"] == "running" and status["started_at"] <= time.time()
        gate.set()
        [done] = arbiter.wait_for_tasks([task_id], timeout=10)
    assert done["state"] == "succeeded"


def test_squads_are_refused_or_accepted_on_the_slots_free_now(
    held: tuple[Minion, threading.Event, threading.Semaphore], arbiter: Arbiter
) -> None:
    app, gate, started = held
    with running(app, workers=SLOTS):
        assert wait_until(lambda: available(arbiter) == SLOTS, 10)
        busy = arbiter.apply("hold", tasks_count=SLOTS - 3)
        for _ in range(SLOTS - 3):
            assert started.acquire(timeout=10)
        assert within(lambda: available(arbiter) == 3) is not None
        with pytest.raises(InsufficientCapacityError, match="needs 4 free slot"):
            arbiter.squad(["hold"] * 4)
        squad = arbiter.squad(["hold"] * 3)
        for _ in range(3):
            assert started.acquire(timeout=10)
        gate.set()
        finished = list(arbiter.wait_for_tasks([*busy, *squad.members], timeout=10))
    assert [s["state"] for s in finished] == ["succeeded"] * SLOTS
