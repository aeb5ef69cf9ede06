"""Real signals to a minion running in the main thread: the first SIGTERM stops it
gracefully, a second one requeues what still runs at once (a cold shutdown)."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable

import pytest

from arbiter_core.client import Arbiter
from arbiter_core.minion import Minion
from tests.distributed.conftest import running


def test_sigterm_stops_the_minion_after_in_flight_work(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    app = make_minion()
    started = threading.Event()

    @app.task(name="work")
    def work() -> str:
        started.set()
        return "finished"

    [task_id] = arbiter.apply("work")

    def terminate_when_started() -> None:
        if started.wait(10):
            os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=terminate_when_started, daemon=True)
    killer.start()
    previous = signal.getsignal(signal.SIGTERM)
    app.run(workers=1, grace=10)  # main thread: the minion installs its own handler
    killer.join(5)
    assert arbiter.status(task_id)["state"] == "succeeded"
    assert signal.getsignal(signal.SIGTERM) == previous, "the handler must be restored"


def test_a_sigterm_caught_by_another_thread_still_stops_the_minion(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    """The kernel may hand a process's SIGTERM to any thread, and CPython then runs the
    Python handler only once the main thread runs bytecode again: a minion that waited
    for its handler would sleep on forever. Here the signal is sent to the killer
    thread itself, which makes that case certain (it hung before stop_signals)."""
    app = make_minion()
    started = threading.Event()

    @app.task(name="work")
    def work() -> str:
        started.set()
        return "finished"

    [task_id] = arbiter.apply("work")

    def terminate_here() -> None:
        if started.wait(10):  # the task done, the main thread sleeps in the run
            arbiter.wait_for_tasks([task_id], timeout=10)
            signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

    killer = threading.Thread(target=terminate_here, daemon=True)
    killer.start()
    app.run(workers=1, grace=10)
    killer.join(5)
    assert arbiter.status(task_id)["state"] == "succeeded"


class _Seen(logging.Handler):
    """Sets ``event`` when a record whose message contains ``text`` is logged."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.INFO)
        self.text = text
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()


def test_a_second_sigterm_requeues_the_running_task_at_once(
    arbiter: Arbiter, make_minion: Callable[..., Minion], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_minion()
    started, release = threading.Event(), threading.Event()

    @app.task(name="hang")
    def hang() -> str:
        started.set()
        release.wait(60)
        return "first"

    [task_id] = arbiter.apply("hang")
    waiting = _Seen("waiting up to 600s (grace) for 1 running task(s)")
    logger = logging.getLogger("arbiter.minion")
    logger.addHandler(waiting)

    def terminate_twice() -> None:
        if started.wait(10):
            os.kill(os.getpid(), signal.SIGTERM)
            if waiting.event.wait(10):
                os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=terminate_twice, daemon=True)
    killer.start()
    try:
        with caplog.at_level(logging.INFO, logger="arbiter.minion"):
            app.run(workers=1, grace=600)  # returns long before the grace period ends
    finally:
        logger.removeHandler(waiting)
        release.set()  # the abandoned thread returns; its outcome is not stored
    killer.join(5)
    assert "received SIGTERM: stopping gracefully" in caplog.text
    assert "received SIGTERM again: cold shutdown" in caplog.text
    assert "cold shutdown: requeued 1 running task(s)" in caplog.text
    assert arbiter.status(task_id)["state"] == "queued"

    other = make_minion()
    other.task(name="hang")(lambda: "second")
    with running(other, workers=1):
        [status] = arbiter.wait_for_tasks([task_id], timeout=10)
    assert (status["state"], status["result"]) == ("succeeded", "second")


def test_stop_cold_from_another_thread(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    app = make_minion()
    started, release = threading.Event(), threading.Event()

    @app.task(name="hang")
    def hang() -> None:
        started.set()
        release.wait(60)

    [task_id] = arbiter.apply("hang")
    thread = threading.Thread(
        target=app.run, kwargs={"workers": 1, "grace": 600, "handle_signals": False}, daemon=True
    )
    thread.start()
    try:
        assert started.wait(10)
        app.stop(cold=True)
        thread.join(30)
        assert not thread.is_alive(), "a cold stop does not wait for the grace period"
    finally:
        release.set()
    assert arbiter.status(task_id)["state"] == "queued"
