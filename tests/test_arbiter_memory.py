"""A long-lived Arbiter stays flat: 100,000 tasks applied and waited for leave nothing behind."""

from __future__ import annotations

import gc
import threading
import tracemalloc
import uuid

import pytest

from arbiter_core.client import Arbiter
from arbiter_core.minion import Minion
from arbiter_core.node import Record
from arbiter_core.records import reply_payload
from arbiter_core.replies import EXPECT_BYTES, EXPECT_LIMIT, ReplyRouter

BATCH = 2_000
ROUNDS = 50  # 100,000 tasks
TRACED = 10
"""The last rounds run under tracemalloc (it slows the run five-fold): what they leave
behind is what a long-lived Arbiter would keep for ever."""


@pytest.mark.timeout(300)
def test_router_and_heap_stay_flat_over_100k_tasks() -> None:
    url = f"memory://flat-{uuid.uuid4().hex[:8]}"
    # Records expire after a second, so the in-process broker's store stays flat too
    # and the whole process can be measured.
    app = Minion(url, lease=30, result_ttl=1)

    @app.task(name="noop")
    def noop() -> None:
        return None

    thread = threading.Thread(
        target=app.run, kwargs={"workers": 2, "handle_signals": False}, daemon=True
    )
    thread.start()
    arbiter = Arbiter(url, result_ttl=1)
    router = arbiter._router
    try:
        sizes = []
        for round_ in range(ROUNDS):
            if round_ == ROUNDS - TRACED:
                tracemalloc.start()
            ids = arbiter.apply("noop", tasks_count=BATCH)
            finished = list(arbiter.wait_for_tasks(ids, timeout=60))
            assert len(finished) == BATCH
            assert router.sizes() == (0, 0), "a finished wait leaves no id behind"
            if round_ in (ROUNDS - TRACED + 1, ROUNDS - 1):
                gc.collect()
                sizes.append(tracemalloc.get_traced_memory()[0])
        tracemalloc.stop()
    finally:
        app.stop()
        thread.join(30)
        arbiter.close()
    early, late = sizes
    # Before the fix each finished id stayed in the router, ~300 B a task: +4.8 MB over
    # the 16,000 tasks between the two measurements.
    grown = late - early
    assert grown < 1024 * 1024, f"{grown / (BATCH * (TRACED - 2)):.0f} B kept per task"


def test_ids_applied_but_never_waited_for_are_bounded() -> None:
    router = ReplyRouter()
    router.expect(str(i) for i in range(EXPECT_LIMIT + 10))
    assert router.sizes() == (0, EXPECT_LIMIT), "the oldest are forgotten"
    big = Record("succeeded", b"x" * (EXPECT_BYTES // 2 + 1))
    for task_id in ("a", "b"):
        router.expect([task_id])
        router.deliver("reply", reply_payload(task_id, big))
    assert router._expected_bytes <= EXPECT_BYTES, "early records kept up to a byte budget"
    assert router._expected["b"] == ("b", None), "past it, the id alone: its wait reads it"
