"""StopSignals: SIGTERM/SIGINT become stop calls on a thread of their own (the minion's
side is in tests/distributed/test_signals.py)."""

from __future__ import annotations

import logging
import queue
import signal
import threading
from types import FrameType

import pytest

from arbiter_core.minion.stop_signals import StopSignals


def _stops() -> tuple[queue.Queue[tuple[bool, str]], StopSignals]:
    calls: queue.Queue[tuple[bool, str]] = queue.Queue()
    return calls, StopSignals(lambda cold: calls.put((cold, threading.current_thread().name)))


def test_first_signal_stops_gracefully_the_second_cold_the_third_only_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls, signals = _stops()
    with caplog.at_level(logging.INFO, logger="arbiter.minion"), signals:
        signal.raise_signal(signal.SIGTERM)
        assert calls.get(timeout=5) == (False, "arbiter-signals")
        signal.raise_signal(signal.SIGINT)
        assert calls.get(timeout=5) == (True, "arbiter-signals")
        signal.raise_signal(signal.SIGTERM)
    assert calls.empty(), "a third signal stops nothing more"
    assert "received SIGTERM: stopping gracefully" in caplog.text
    assert "received SIGINT again: cold shutdown" in caplog.text
    assert "received SIGTERM: already stopping cold" in caplog.text


def test_other_signals_sharing_the_wakeup_fd_stop_nothing() -> None:
    seen = threading.Event()

    def on_usr1(signum: int, frame: FrameType | None) -> None:
        seen.set()

    previous = signal.signal(signal.SIGUSR1, on_usr1)
    try:
        calls, signals = _stops()
        with signals:
            signal.raise_signal(signal.SIGUSR1)  # its byte reaches the listener too
            assert seen.wait(5), "the other handler still runs"
            signal.raise_signal(signal.SIGTERM)
            assert calls.get(timeout=5) == (False, "arbiter-signals"), "SIGUSR1 did not count"
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_the_previous_handlers_and_wakeup_fd_are_restored() -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    fd_before = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(fd_before)
    with StopSignals(lambda cold: None):
        assert signal.getsignal(signal.SIGTERM) != before[signal.SIGTERM]
        inside = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(inside)
        assert inside != fd_before
    fd_after = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(fd_after)
    assert {sig: signal.getsignal(sig) for sig in before} == before
    assert fd_after == fd_before, "the wakeup fd is given back"
    assert not [t for t in threading.enumerate() if t.name == "arbiter-signals"]


def test_refused_outside_the_main_thread() -> None:
    errors: list[BaseException] = []

    def enter() -> None:
        try:
            with StopSignals(lambda cold: None):
                pass
        except ValueError as exc:
            errors.append(exc)

    thread = threading.Thread(target=enter)
    thread.start()
    thread.join(5)
    assert len(errors) == 1
