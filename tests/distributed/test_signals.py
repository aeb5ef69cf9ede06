"""A real SIGTERM to a minion running in the main thread stops it gracefully."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

from arbiter_core.client import Arbiter
from arbiter_core.minion import Minion


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
