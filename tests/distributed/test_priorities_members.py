"""Priorities of the tasks of plans: ``TaskCall(..., priority=N)`` for group, squad and
pipe members, callbacks and finalizers, and ``Arbiter.delay(TaskCall(...))``.

Each test queues a level-0 flood first, then the plan, and only then starts one minion
with one worker, so the order the tasks ran in is the order the queue served them. The
follow-ups (a callback, a finalizer, a pipe's next step) are pushed by the minion while
the flood still waits: they overtake it only if they kept their level.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from arbiter import Arbiter, Minion, TaskCall
from arbiter_core.node import PRIORITY

from .conftest import running

FLOOD = 40


def ordered_or_skip(arbiter: Arbiter) -> None:
    if PRIORITY not in arbiter.node.capabilities:
        pytest.skip(f"{type(arbiter.node).__name__} serves every level FIFO (no PRIORITY)")


def marking_minion(make_minion: Callable[..., Minion]) -> tuple[Minion, list[str]]:
    """A minion whose ``mark`` and ``collect`` tasks append what they ran, in order."""
    minion = make_minion()
    order: list[str] = []
    lock = threading.Lock()

    @minion.task(name="mark")
    def mark(label: str) -> str:
        with lock:
            order.append(label)
        return label

    @minion.task(name="collect")
    def collect(results: list[str]) -> str:
        label = "+".join(results)
        with lock:
            order.append(label)
        return label

    @minion.task(name="step")
    def step(previous: str = "") -> str:
        label = f"{previous}>step" if previous else "step"
        with lock:
            order.append(label)
        return label

    return minion, order


def test_group_members_callback_and_finalizer_overtake_a_flood_at_their_level(
    make_minion: Callable[..., Minion], arbiter: Arbiter
) -> None:
    minion, order = marking_minion(make_minion)
    flood = arbiter.apply("mark", FLOOD, task_args=["low"])
    plan = arbiter.group(
        [TaskCall("mark", ("a",), priority=9), TaskCall("mark", ("b",), priority=9)],
        callback=TaskCall("collect", priority=9),
        finalizer=TaskCall("mark", ("final",), priority=9),
    )
    with running(minion, workers=1):
        every = [*flood, *plan.all_ids]
        assert len(list(arbiter.wait_for_tasks(every, timeout=60))) == FLOOD + 4
    assert sorted(order) == sorted(["low"] * FLOOD + ["a", "b", "a+b", "final"])
    for task_id in plan.all_ids:
        assert arbiter.status(task_id)["headers"]["priority"] == 9
    ordered_or_skip(arbiter)
    # the members first; then what the minion queued as the group ended, still ahead
    assert order[:4] == ["a", "b", "a+b", "final"], order[:6]


def test_a_member_of_level_9_overtakes_the_flood_and_one_of_level_0_does_not(
    make_minion: Callable[..., Minion], arbiter: Arbiter
) -> None:
    minion, order = marking_minion(make_minion)
    flood = arbiter.apply("mark", FLOOD, task_args=["low"])
    plan = arbiter.group([TaskCall("mark", ("urgent",), priority=9), TaskCall("mark", ("plain",))])
    with running(minion, workers=1):
        every = [*flood, *plan.members]
        assert len(list(arbiter.wait_for_tasks(every, timeout=60))) == FLOOD + 2
    urgent, plain = plan.members
    assert "priority" not in arbiter.status(plain)["headers"], "level 0 is no header"
    assert arbiter.status(urgent)["headers"]["priority"] == 9
    ordered_or_skip(arbiter)
    assert order[0] == "urgent"
    assert order[-1] == "plain", "a member of level 0 waits its turn behind the flood"


def test_every_step_of_a_pipe_keeps_its_level(
    make_minion: Callable[..., Minion], arbiter: Arbiter
) -> None:
    minion, order = marking_minion(make_minion)
    flood = arbiter.apply("mark", FLOOD, task_args=["low"])
    steps = arbiter.pipe([TaskCall("step", priority=7)] * 3)
    with running(minion, workers=1):
        assert len(list(arbiter.wait_for_tasks([*flood, *steps], timeout=60))) == FLOOD + 3
    assert arbiter.status(steps[-1])["result"] == "step>step>step"
    ordered_or_skip(arbiter)
    assert order[:3] == ["step", "step>step", "step>step>step"], order[:5]


def test_delay_of_a_task_call_queues_at_its_level(
    make_minion: Callable[..., Minion], arbiter: Arbiter
) -> None:
    minion, order = marking_minion(make_minion)
    flood = arbiter.apply("mark", FLOOD, task_args=["low"])
    handle = arbiter.delay(TaskCall("mark", priority=5), "soon")
    with running(minion, workers=1):
        assert handle.get(timeout=30) == "soon"
        list(arbiter.wait_for_tasks(flood, timeout=60))
    ordered_or_skip(arbiter)
    assert order[0] == "soon"


@pytest.mark.parametrize(
    ("bad", "error"), [(10, ValueError), (-1, ValueError), ("high", TypeError), (True, TypeError)]
)
def test_a_bad_task_call_priority_is_refused_where_it_is_given(
    bad: object, error: type[Exception]
) -> None:
    with pytest.raises(error, match=r"TaskCall\('mark', priority=\.\.\.\) must be .*0.* to 9"):
        TaskCall("mark", priority=bad)  # type: ignore[arg-type]
