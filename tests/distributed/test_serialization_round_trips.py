"""Rich values through a real minion: arguments, results, pipes and DAGs keep their types.

Runs on every broker of the suite (memory:// and a throwaway Redis by default): the
values cross the broker as ``json+tags`` frames, in both directions.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from arbiter import create_task, register_type, result_of
from arbiter_core.client import Arbiter
from arbiter_core.composition import TaskCall
from arbiter_core.minion import Minion
from arbiter_core.wire import Envelope
from arbiter_core.wire.tagged_json import TYPES
from tests.distributed.conftest import running
from tests.distributed.test_bad_messages import WIRE, assert_dead, push_bound

WHEN = dt.datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Paris"))
RICH = {
    "when": WHEN,
    "day": dt.date(2024, 1, 2),
    "at": dt.time(8, 15, tzinfo=dt.timezone.utc),
    "took": dt.timedelta(seconds=90, microseconds=5),
    "id": uuid.UUID(int=42),
    "price": Decimal("12.50"),
    "blob": b"\x00\xff",
    "pair": (1, (2, "3")),
    "tags": {"a", "b"},
    "frozen": frozenset({1}),
    "by_number": {1: "one", 2: "two"},
    "looks_tagged": {"~": "tuple", "v": [1]},
}


@dataclass(frozen=True)
class Point:
    x: int
    y: int


@pytest.fixture
def points() -> Iterator[None]:
    register_type(Point, "test.point", lambda p: [p.x, p.y], lambda xy: Point(*xy))
    yield
    TYPES.unregister("test.point")


@pytest.fixture
def app(make_minion: Callable[..., Minion]) -> Minion:
    minion = make_minion()

    @minion.task(name="echo")
    def echo(*args: Any, **kwargs: Any) -> Any:
        return {"args": args, "kwargs": kwargs}

    @minion.task(name="later")
    def later(when: dt.datetime, days: int = 1) -> dt.datetime:
        assert type(when) is dt.datetime
        return when + dt.timedelta(days=days)

    @minion.task(name="describe")
    def describe(value: Any) -> str:
        return f"{type(value).__name__}:{value!r}"

    return minion


def test_arguments_and_results_keep_their_types(app: Minion, arbiter: Arbiter) -> None:
    with running(app):
        handle = arbiter.delay("echo", RICH["pair"], RICH, extra=RICH["when"])
        value = handle.get(timeout=20)
    assert value == {"args": (RICH["pair"], RICH), "kwargs": {"extra": WHEN}}
    assert value["args"][1]["when"].fold == 1 and value["args"][1]["when"].tzinfo is WHEN.tzinfo
    assert type(value["args"][1]["tags"]) is set


def test_wait_for_tasks_returns_the_rich_result(app: Minion, arbiter: Arbiter) -> None:
    with running(app):
        [status] = arbiter.wait_for_tasks(arbiter.apply("later", task_args=[WHEN]), timeout=20)
    assert status["state"] == "succeeded"
    assert status["result"] == WHEN + dt.timedelta(days=1)
    assert type(status["result"]) is dt.datetime
    assert json.dumps(status, default=str)  # what the CLI prints still prints


def test_a_pipe_passes_a_rich_result_to_the_next_step(app: Minion, arbiter: Arbiter) -> None:
    with running(app):
        steps = [TaskCall("later", (WHEN,)), TaskCall("later", (), {"days": 2}), "describe"]
        plan = arbiter.pipe(steps)
        statuses = {s["id"]: s for s in arbiter.wait_for_tasks(list(plan), timeout=20)}
    assert statuses[plan[1]]["result"] == WHEN + dt.timedelta(days=3)
    assert statuses[plan[2]]["result"] == f"datetime:{WHEN + dt.timedelta(days=3)!r}"


def test_a_dag_passes_rich_results_downstream(app: Minion, arbiter: Arbiter) -> None:
    with running(app):
        results = arbiter.run_tasks(
            [
                create_task("start", "later", args=(WHEN,)),
                create_task("next", "later", args=(result_of("start"),), kwargs={"days": 5}),
                create_task("what", "describe", args=(result_of("next"),)),
            ],
            timeout=30,
            progress=False,
        )
    assert results["next"].value == WHEN + dt.timedelta(days=6)
    assert results["what"].value == f"datetime:{WHEN + dt.timedelta(days=6)!r}"


def test_a_registered_type_goes_both_ways(points: None, app: Minion, arbiter: Arbiter) -> None:
    with running(app):
        value = arbiter.delay("echo", Point(1, 2), at={Point(3, 4)}).get(timeout=20)
    assert value == {"args": (Point(1, 2),), "kwargs": {"at": {Point(3, 4)}}}


@pytest.mark.parametrize(
    ("tagged", "reason"),
    [
        ({"~": "@test.point", "v": [1, 2]}, "type 'test.point' is not registered in this process"),
        ({"~": "subprocess.run", "v": ["id"]}, "unknown tag 'subprocess.run'"),
        ({"~": "datetime", "v": "not a date"}, "Invalid isoformat"),
    ],
)
def test_an_unknown_or_bad_tag_is_dead_lettered_with_the_reason(
    app: Minion, arbiter: Arbiter, tagged: dict[str, Any], reason: str
) -> None:
    bad = "tagged" + "0" * 26
    data = {**Envelope("describe", id=bad).to_dict(), "args": [tagged]}
    push_bound(arbiter, WIRE.frame(json.dumps(data).encode(), "json+tags"), bad)
    with running(app, workers=1) as thread:
        [dead] = arbiter.wait_for_tasks([bad], timeout=20)
        good = arbiter.delay("describe", (1,)).get(timeout=20)
        assert thread.is_alive()
    assert_dead(dead, "json+tags", reason)
    assert good == "tuple:(1,)"
    [letter] = arbiter.node.dead_letters("default")
    assert reason in letter.reason
