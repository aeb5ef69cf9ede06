"""The Redis node's due waker: one PING per due time, none after close (see ``due_waker``)."""

from __future__ import annotations

import threading
import time

from support import wait_until

from arbiter_redis.due_waker import LATE_BY, DueWaker


class Pings:
    def __init__(self) -> None:
        self.at: list[float] = []
        self.arrived = threading.Semaphore(0)

    def __call__(self) -> None:
        self.at.append(time.monotonic())
        self.arrived.release()


def test_it_pings_once_per_due_time_just_after_it() -> None:
    pings = Pings()
    waker = DueWaker(pings, OSError)
    try:
        start = time.monotonic()
        waker.wake_at(start + 0.6)
        waker.wake_at(start + 0.1)  # sooner: the thread waits for it instead
        assert pings.arrived.acquire(timeout=5) and pings.arrived.acquire(timeout=5)
    finally:
        waker.close()
    first, second = pings.at  # not before its time (how soon after: test_eta_restart)
    assert start + 0.1 + LATE_BY <= first < start + 0.6 + LATE_BY <= second


def test_a_failing_ping_is_not_fatal_and_close_stops_it() -> None:
    calls: list[float] = []

    def ping() -> None:
        calls.append(time.monotonic())
        raise OSError("server gone")

    waker = DueWaker(ping, OSError)
    now = time.monotonic()
    waker.wake_at(now)
    waker.wake_at(now + 0.05)
    assert wait_until(lambda: len(calls) >= 2, 5)
    waker.wake_at(time.monotonic() + 0.05)
    waker.close()  # before the third: never sent
    time.sleep(0.1)  # past the third's time
    assert len(calls) == 2
