"""The deadline watchdog: fires once when due, never once cancelled, and stays small."""

from __future__ import annotations

import threading
import time

from arbiter_core.deadlines import COMPACT_AT, DeadlineWatch


def test_fires_when_due_and_not_when_cancelled() -> None:
    watch = DeadlineWatch()
    fired, dropped = threading.Event(), threading.Event()
    try:
        handle = watch.add(time.monotonic() + 0.05, dropped.set)
        watch.add(time.monotonic() + 0.1, fired.set)
        watch.cancel(handle)
        watch.cancel(handle)  # twice is harmless
        assert fired.wait(5)
        assert not dropped.is_set()
    finally:
        watch.stop()


def test_cancelled_deadlines_do_not_pile_up() -> None:
    """A minion with long timeouts cancels a deadline per finished task: memory stays flat."""
    watch = DeadlineWatch()
    fired = threading.Event()
    try:
        far = time.monotonic() + 3600
        for _ in range(10 * COMPACT_AT):
            watch.cancel(watch.add(far, fired.set))
        assert len(watch._heap) <= 2 * COMPACT_AT, "compacted, not 640 dead entries"
        watch.add(time.monotonic() + 0.05, fired.set)
        assert fired.wait(5), "a live deadline still fires after compaction"
    finally:
        watch.stop()
