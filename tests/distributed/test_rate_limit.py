"""Rate limits (issue 16 item 5) on every backend: several minions in this process share one limit.

Starts are counted by their side effects (the time each run began, appended to a
list), not read from the broker under test. The process test, three minion
processes on real Redis, is ``test_rate_limit_processes.py``.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from arbiter_core import records
from arbiter_core.client import Arbiter
from arbiter_core.minion import Minion
from arbiter_core.rate_limit import RATE_SLOT, RateLimit
from arbiter_core.rate_limit_slots import Slots
from tests.distributed.conftest import running
from tests.distributed.test_bad_messages import assert_dead, push_bound, raw_envelope
from tests.support import wait_until


def finished(arbiter: Arbiter, ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    """Each task's final status, by id, once all are final."""
    return {status["id"]: status for status in arbiter.wait_for_tasks(ids, timeout=timeout)}


def most_in_any_window(starts: list[float], window: float) -> int:
    """The most starts that fall in any ``window`` seconds."""
    starts = sorted(starts)
    best, first = 0, 0
    for last, at in enumerate(starts):
        while at - starts[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best


@pytest.fixture
def fleet(make_minion: Callable[..., Minion]) -> Iterator[tuple[list[Minion], list[float]]]:
    """Three minions of one app, each registering ``limited`` (10/s) and ``free``."""
    starts: list[float] = []
    minions = []
    for _ in range(3):
        minion = make_minion()

        @minion.task(name="limited", rate_limit="10/s")
        def limited(i: int) -> int:
            starts.append(time.time())
            return i

        @minion.task(name="free")
        def free() -> float:
            return time.time()

        minions.append(minion)
    yield minions, starts


def test_three_minions_share_one_limit(
    arbiter: Arbiter, fleet: tuple[list[Minion], list[float]]
) -> None:
    minions, starts = fleet
    with ExitStack() as stack:
        for minion in minions:
            stack.enter_context(running(minion, workers=3))
        began = time.time()
        ids = arbiter.apply("limited", tasks_count=25, task_args=[1])
        results = finished(arbiter, ids, timeout=30)
        took = time.time() - began
    assert [results[i]["state"] for i in ids] == ["succeeded"] * 25
    assert len(starts) == 25, "each task ran once"
    # 25 starts 0.1 s apart: 2.4 s from the first to the last, whichever minion ran each
    assert 2.3 <= max(starts) - min(starts) <= 4.0, sorted(starts)
    assert most_in_any_window(starts, 1.0) <= 11, sorted(starts)
    assert took < 6.0
    statuses = [arbiter.status(i) for i in ids]
    assert all(s["attempt"] == 1 for s in statuses), "waiting is not a retry"
    held = [s["headers"][RATE_SLOT] for s in statuses if RATE_SLOT in s["headers"]]
    assert len(held) >= 20, "the tasks after the first few waited for slots they held"


def test_waiting_tasks_hold_no_worker_slot(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    app = make_minion()
    ran: list[int] = []

    @app.task(name="slow_rate", rate_limit="2/s")
    def slow_rate(i: int) -> int:
        ran.append(i)
        return i

    @app.task(name="free")
    def free() -> str:
        return "done"

    with running(app, workers=1):  # one slot: a held-back task in it would block the queue
        backlog = arbiter.apply("slow_rate", tasks_count=8, task_args=[1])
        assert wait_until(lambda: len(ran) >= 1, 5)
        began = time.monotonic()
        [urgent] = arbiter.apply("free")
        assert finished(arbiter, [urgent], timeout=5)[urgent]["result"] == "done"
        assert time.monotonic() - began < 1.0, "the free task waited behind the rate"
        assert len(ran) < 8, "the backlog was still waiting for its rate"
        assert wait_until(lambda: arbiter.workers()["default"]["active"] == 0, 2), (
            "no held-back task holds the slot"
        )
        done = finished(arbiter, backlog, timeout=15)
    assert {s["state"] for s in done.values()} == {"succeeded"}
    assert len(ran) == 8


def test_a_task_whose_slot_comes_after_its_expiry_ends_expired_at_once(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    app = make_minion()
    ran: list[int] = []

    # Slots 2 s apart; expiry 5 s on: three slots (now, 2 s, 4 s) come before it, the
    # fourth (6 s) after, each a second away from it. Which task gets which slot is not
    # the order of the applies: the two lanes reserve at the same moment, in either order.
    @app.task(name="every_two_seconds", rate_limit="30/m")
    def every_two_seconds(i: int) -> int:
        ran.append(i)
        return i

    with running(app, workers=2):
        ids = [arbiter.apply("every_two_seconds", task_args=[i], expires=5)[0] for i in range(5)]
        began = time.monotonic()
        done = finished(arbiter, ids, timeout=15)
    states = [done[task_id]["state"] for task_id in ids]
    succeeded = [i for i, state in enumerate(states) if state == "succeeded"]
    expired = [i for i, state in enumerate(states) if state == "expired"]
    assert len(succeeded) == 3 and len(expired) == 2, states
    assert sorted(ran) == succeeded, "an expired task never ran"
    starts = sorted(done[ids[i]]["started_at"] for i in succeeded)
    assert all(later - earlier >= 2 * 0.95 for earlier, later in itertools.pairwise(starts)), starts
    for i in expired:  # ended when its turn was reserved, not at the turn
        assert done[ids[i]]["finished_at"] - done[ids[i]]["submitted_at"] < 1.0, done[ids[i]]
    assert time.monotonic() - began < 6.0, "the expired ones ended at once, not at their slots"


def test_a_retry_reserves_a_slot_of_its_own(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    app = make_minion()
    starts: list[float] = []

    @app.task(name="flaky", rate_limit="4/s", retries=2)
    def flaky() -> int:
        starts.append(time.time())
        if len(starts) < 3:
            raise RuntimeError("not yet")
        return len(starts)

    with running(app, workers=2):
        [task_id] = arbiter.apply("flaky")
        status = finished(arbiter, [task_id], timeout=10)[task_id]
    assert (status["state"], status["result"], status["attempt"]) == ("succeeded", 3, 3)
    # each attempt took the next slot (0.25 s apart); it may start late, never early
    since_first = [at - starts[0] for at in starts]
    assert all(since >= 0.25 * k - 0.01 for k, since in enumerate(since_first)), since_first


def test_killing_a_waiting_task_cancels_it_unrun(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    app = make_minion()
    ran: list[int] = []

    @app.task(name="rare", rate_limit="1/m")
    def rare(i: int) -> int:
        ran.append(i)
        return i

    with running(app, workers=2):
        first, second = arbiter.apply("rare", tasks_count=2, task_args=[1])
        assert finished(arbiter, [first], timeout=5)[first]["state"] == "succeeded"
        assert wait_until(lambda: RATE_SLOT in arbiter.status(second)["headers"], 5)
        assert arbiter.status(second)["state"] == records.QUEUED
        assert arbiter.kill(second, wait=True, timeout=5)
    assert arbiter.status(second)["state"] == records.CANCELLED
    assert ran == [1]


def test_a_malformed_slot_header_is_dead_lettered_unrun(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    app = make_minion()
    ran: list[int] = []

    @app.task(name="work", rate_limit="100/s")
    def work(x: int = 1) -> int:
        ran.append(x)
        return x

    push_bound(arbiter, raw_envelope("bad-slot", headers={RATE_SLOT: "soon"}), "bad-slot")
    with running(app, workers=1):
        assert wait_until(lambda: arbiter.status("bad-slot")["state"] == records.DEAD, 10)
    assert_dead(arbiter.status("bad-slot"), RATE_SLOT)
    assert ran == []


def test_slots_raced_from_many_nodes_are_distinct(node_factory: Callable[..., object]) -> None:
    """The backend's compare-and-set under contention: no slot handed out twice."""
    from concurrent.futures import ThreadPoolExecutor

    rate = RateLimit(1000, 1, "1000/s")
    slots = [Slots(node_factory()) for _ in range(3)]  # type: ignore[arg-type]

    def take(index: int) -> list[float]:
        return [slots[index % 3].reserve("raced", rate).slot for _ in range(20)]

    with ThreadPoolExecutor(6) as pool:
        found = sorted(s for batch in pool.map(take, range(6)) for s in batch)
    gaps = [b - a for a, b in itertools.pairwise(found)]
    assert len(found) == 120
    assert min(gaps) >= 0.001 - 1e-6, "two reservations got one slot"


def test_a_rate_limited_finalizer_copy_runs_after_waiting(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    """A finalizer's delayed copy claims its waiting record; put back, it still runs."""
    app = make_minion()
    release = threading.Event()
    finals: list[str] = []

    @app.task(name="hang")
    def hang() -> str:
        release.wait(20)
        return "late"

    @app.task(name="finalize", rate_limit="2/s")
    def finalize(tag: str = "done") -> str:
        finals.append(tag)
        return tag

    with running(app, workers=3):
        [warm] = arbiter.apply("finalize", task_args=["warm"])  # takes the slot of now
        assert finished(arbiter, [warm], timeout=5)[warm]["state"] == "succeeded"
        plan = arbiter.group(["hang"], finalizer="finalize", finalizer_timeout=0.1)
        final = finished(arbiter, [plan.finalizer], timeout=10)[plan.finalizer]
        release.set()
        finished(arbiter, plan.members, timeout=10)
    assert final["state"] == "succeeded"
    assert finals == ["warm", "done"]


def test_the_minion_banner_lists_its_rate_limits(
    make_minion: Callable[..., Minion], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_minion()

    @app.periodic(every=3600, name="hourly", rate_limit="100/m")
    def hourly() -> None: ...

    @app.task(name="plain")
    def plain() -> None: ...

    assert app.tasks.get("hourly").rate_limit == RateLimit(100, 60, "100/m")
    with caplog.at_level(logging.INFO, logger="arbiter.minion"), running(app, workers=1):
        assert wait_until(lambda: any("rate limits:" in r.getMessage() for r in caplog.records))
    [banner] = [r for r in caplog.records if "rate limits:" in r.getMessage()]
    assert "  rate limits: hourly (100/m)" in banner.getMessage()
