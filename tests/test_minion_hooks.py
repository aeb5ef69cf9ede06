"""The minion-lifecycle observers: told when a run starts (with what it serves) and ends."""

from __future__ import annotations

import threading
from typing import Any

from arbiter_core.client import Arbiter
from arbiter_core.connect import connect
from arbiter_core.minion import Minion
from arbiter_core.plugins import PluginRegistry, hookimpl


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.started = threading.Event()

    @hookimpl
    def arbiter_minion_started(self, worker_id, queue, slots, pool, node, settings):  # type: ignore[no-untyped-def]
        self.events.append(
            (
                "started",
                {
                    "worker_id": worker_id,
                    "queue": queue,
                    "slots": slots,
                    "pool": pool,
                    "node": node,
                    "lease": settings.lease,
                },
            )
        )
        self.started.set()

    @hookimpl
    def arbiter_minion_stopped(self, worker_id, queue):  # type: ignore[no-untyped-def]
        self.events.append(("stopped", {"worker_id": worker_id, "queue": queue}))

    @hookimpl
    def arbiter_task_succeeded(self, name):  # type: ignore[no-untyped-def]
        self.events.append(("succeeded", {"name": name}))


def test_a_run_is_announced_to_observers_from_start_to_stop() -> None:
    recorder = Recorder()
    registry = PluginRegistry()  # the installed plugins (memory://, pools) plus the recorder
    registry.register(recorder, name="recorder")
    node = connect("memory://", registry=registry)
    app = Minion(node, queue="hooks", registry=registry)
    app.task(name="one")(lambda: 1)
    thread = threading.Thread(target=app.run, kwargs={"workers": 2, "handle_signals": False})
    thread.start()
    try:
        assert recorder.started.wait(10)
        with Arbiter(node, registry=registry) as arbiter:
            [task_id] = arbiter.apply("one", queue="hooks")
            [status] = arbiter.wait_for_tasks([task_id], timeout=10)
        assert status["state"] == "succeeded"
    finally:
        app.stop()
        thread.join(10)
    kinds = [kind for kind, _ in recorder.events]
    assert kinds == ["started", "succeeded", "stopped"]
    started, stopped = recorder.events[0][1], recorder.events[-1][1]
    assert started == {
        "worker_id": app.worker_id, "queue": "hooks", "slots": 2, "pool": "thread",
        "node": node, "lease": app.settings.lease,
    }  # fmt: skip
    assert stopped == {"worker_id": app.worker_id, "queue": "hooks"}
    node.close()
