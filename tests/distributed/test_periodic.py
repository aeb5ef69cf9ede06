"""Periodic tasks across minions, on memory:// and a real Redis: one firing per tick.

Each task records the tick it ran for (a side effect outside the broker under test),
so "never twice for the same tick" is counted, not trusted. The process test with a
real ``kill -9`` is ``test_periodic_processes.py``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from support import wait_until

from arbiter import Arbiter, Minion
from arbiter_core.minion.run_context import RunContext
from arbiter_core.periodic import Every, periodic_tasks, tick_task_id
from arbiter_core.periodic.claim import fire
from tests.distributed.conftest import running

WINDOW = 10.0
"""Seconds the fleet runs for the count: 10 ticks of a 1 s schedule, give or take one."""


def fleet_app(make_minion: Callable[..., Minion], fired: list[float], **options: object) -> Minion:
    """A minion of the app: one periodic task, every second, recording its tick."""
    app = make_minion()

    @app.periodic(every=1, name="beat", **options)  # type: ignore[arg-type]
    def beat(tick: float) -> None:
        fired.append(tick)

    return app


def wait_registered(arbiter: Arbiter, count: int) -> None:
    assert wait_until(lambda: len(arbiter.node.live_workers()) >= count, 10)


def test_three_minions_fire_each_tick_once_for_ten_seconds_one_stopped_cold_midway(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    fired: list[float] = []
    apps = [fleet_app(make_minion, fired) for _ in range(3)]
    with ExitStack() as stack:
        for app in apps:
            stack.enter_context(running(app, workers=2))
        wait_registered(arbiter, 3)
        started = time.time()
        time.sleep(WINDOW / 2)
        apps[0].stop(cold=True)  # in one process, the nearest to a kill: see the process test
        time.sleep(started + WINDOW - time.time())
        ended = time.time()
        assert wait_until(lambda: any(t > ended for t in fired), 3)  # the window is done
    counted = Counter(fired)
    assert [tick for tick, n in counted.items() if n > 1] == [], "a tick ran twice"
    in_window = [tick for tick in counted if started < tick <= ended]
    print(f"\n{len(in_window)} ticks ran in {WINDOW:g}s across 3 minions, one stopped cold")
    assert abs(len(in_window) - WINDOW) <= 1, sorted(in_window)
    assert all(tick == int(tick) for tick in counted)  # on whole seconds: the epoch alignment
    status = arbiter.status(tick_task_id("beat", in_window[0]))
    assert status["state"] == "succeeded" and status["headers"]["tick"] == in_window[0]


def test_a_tick_is_claimed_once_whoever_fires_it_at_once(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    app = make_minion()

    @app.periodic(every=3600, name="hourly")
    def hourly() -> None: ...

    entry = app.periodic_table.get("hourly")
    contexts = [
        RunContext(app.node, app.wire, app.settings, "default", f"w{i}", app.registry)
        for i in range(8)
    ]
    tick = Every(3600).latest_at(time.time())
    barrier = threading.Barrier(len(contexts))
    won: list[bool] = []

    def claim(context: RunContext) -> None:
        barrier.wait()
        won.append(fire(context, entry, tick))

    threads = [threading.Thread(target=claim, args=(c,)) for c in contexts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(won) == [False] * 7 + [True]
    assert arbiter.queue_info("default").ready == 1
    assert arbiter.status(tick_task_id("hourly", tick))["state"] == "queued"
    [listed] = periodic_tasks(app)
    assert listed.last_tick == tick and listed.last_task_id == tick_task_id("hourly", tick)
    assert listed.next_tick == tick + 3600 and listed.minions == 0


@pytest.fixture
def periodic_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG, logger="arbiter.periodic"):
        yield caplog


@pytest.mark.parametrize("missed", ["run_once", "skip"])
def test_ticks_missed_while_every_minion_was_down(
    arbiter: Arbiter,
    make_minion: Callable[..., Minion],
    missed: str,
    periodic_logs: pytest.LogCaptureFixture,
) -> None:
    before: list[float] = []
    with running(fleet_app(make_minion, before, missed=missed), workers=1):
        assert wait_until(lambda: len(before) >= 1, 5)
    last = max(before)
    time.sleep(last + 3.2 - time.time())  # at least two ticks pass with no minion up
    periodic_logs.clear()
    after: list[float] = []
    restarted = time.time()
    with ExitStack() as stack:  # three minions start together: a caught-up tick still runs once
        for _ in range(3):
            stack.enter_context(running(fleet_app(make_minion, after, missed=missed), workers=1))
        assert wait_until(lambda: len(after) >= 2, 5)
    ticks = sorted(after)
    assert len(ticks) == len(set(ticks)), "a tick ran twice"
    assert ticks == [ticks[0] + i for i in range(len(ticks))]  # consecutive from the first
    caught_up = [r.getMessage() for r in periodic_logs.records if "missed tick" in r.getMessage()]
    if missed == "run_once":
        assert ticks[0] < restarted and ticks[0] - last >= 2  # the latest missed one, alone
        assert len(caught_up) >= 1
    else:
        assert ticks[0] > restarted and not caught_up
    fired_lines = [r for r in periodic_logs.records if "fired for tick" in r.getMessage()]
    assert all(r.levelno == logging.INFO for r in fired_lines)
    assert len(fired_lines) == len(ticks)


def test_the_running_minions_publish_their_table_and_the_banner_lists_it(
    arbiter: Arbiter, make_minion: Callable[..., Minion], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_minion()

    @app.periodic("*/5 * * * *", tz="Europe/Paris", name="report", queue="reports")
    def report() -> None: ...

    with caplog.at_level(logging.INFO, logger="arbiter.minion"), running(app, workers=1):
        wait_registered(arbiter, 1)
        [listed] = periodic_tasks(arbiter)
    assert listed.name == "report" and listed.minions == 1 and listed.queue == "reports"
    assert listed.cron == "*/5 * * * *" and listed.tz == "Europe/Paris"
    assert listed.last_tick is None and listed.next_tick is not None
    assert listed.next_tick % 300 == 0 and 0 < listed.next_tick - time.time() <= 300
    banner = next(r for r in caplog.records if "starting" in r.getMessage())
    assert "periodic:  report (*/5 * * * * (Europe/Paris))" in banner.getMessage()
    assert banner.periodic == {"report": "*/5 * * * * (Europe/Paris)"}  # type: ignore[attr-defined]
    assert periodic_tasks(arbiter) == []  # stopped: nothing fires it any more
