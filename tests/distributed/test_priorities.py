"""Task priorities end to end: apply(priority=), @app.task(priority=), retries keep it.

Run on every broker of the distributed suite; on one whose node cannot order by
priority (no ``PRIORITY`` capability: arbiter-kombu) the ordering checks are skipped
with that reason, and every task must still run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from arbiter import Arbiter, Minion
from arbiter_core.errors import TaskDefinitionError
from arbiter_core.node import PRIORITY

from .conftest import running

FLOOD = 60


def ordered_or_skip(arbiter: Arbiter) -> None:
    if PRIORITY not in arbiter.node.capabilities:
        pytest.skip(f"{type(arbiter.node).__name__} serves every level FIFO (no PRIORITY)")


def test_priority_order_under_a_low_priority_flood(
    make_minion: Callable[..., Minion], arbiter: Arbiter
) -> None:
    minion = make_minion()
    order: list[str] = []
    lock = threading.Lock()

    @minion.task(name="mark")
    def mark(label: str) -> None:
        with lock:
            order.append(label)

    @minion.task(name="urgent_mark", priority=9)
    def urgent_mark(label: str) -> None:
        mark(label)

    low = arbiter.apply("mark", FLOOD, task_args=["low"])
    high = [arbiter.apply("mark", task_args=[f"high{i}"], priority=5)[0] for i in range(3)]
    top = urgent_mark.apply(args=["top"], arbiter=arbiter)  # the task's own default, 9
    with running(minion, workers=1):
        assert len(list(arbiter.wait_for_tasks([*low, *high, top.id], timeout=60))) == FLOOD + 4
    assert sorted(order) == sorted(["low"] * FLOOD + ["high0", "high1", "high2", "top"])
    ordered_or_skip(arbiter)
    assert order[:4] == ["top", "high0", "high1", "high2"]  # FIFO within level 5


def test_a_retry_keeps_the_task_level(make_minion: Callable[..., Minion], arbiter: Arbiter) -> None:
    minion = make_minion()
    order: list[str] = []
    attempts: list[int] = []

    @minion.task(name="flaky", retries=1)
    def flaky() -> str:
        attempts.append(1)
        order.append(f"flaky{len(attempts)}")
        if len(attempts) == 1:
            raise RuntimeError("first attempt fails")
        return "ok"

    @minion.task(name="low")
    def low() -> None:
        order.append("low")

    [flaky_id] = arbiter.apply("flaky", priority=8)
    lows = arbiter.apply("low", FLOOD)
    with running(minion, workers=1):
        assert len(list(arbiter.wait_for_tasks([flaky_id, *lows], timeout=60))) == FLOOD + 1
    assert arbiter.status(flaky_id)["result"] == "ok"
    ordered_or_skip(arbiter)
    # the retry went back at level 8: ahead of the flood, not behind it
    assert order.index("flaky2") < FLOOD // 2, order


def test_a_bad_priority_is_refused_at_apply(
    make_minion: Callable[..., Minion], arbiter: Arbiter
) -> None:
    for bad, error in ((10, ValueError), (-1, ValueError), ("high", TypeError), (1.5, TypeError)):
        with pytest.raises(error, match=r"priority must be .*0.* to 9"):
            arbiter.apply("anything", priority=bad)  # type: ignore[arg-type]
    minion = make_minion()
    with pytest.raises(TaskDefinitionError, match=r"task 'bad'.*priority"):
        minion.task(name="bad", priority=12)
