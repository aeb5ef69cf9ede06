"""Periodic schedules and ``@app.periodic``'s checks: no broker, no minion running."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from arbiter import Minion
from arbiter_core.errors import SerializationError, TaskDefinitionError
from arbiter_core.minion.task_function import TaskFunction
from arbiter_core.periodic import Cron, Every, tick_task_id
from arbiter_core.periodic.schedule import parse_schedule, schedule_from_dict

PARIS = ZoneInfo("Europe/Paris")


def at(*fields: int, tz: ZoneInfo = PARIS, fold: int = 0) -> float:
    return datetime(*fields, tzinfo=tz, fold=fold).timestamp()  # type: ignore[misc]


def local(moment: float, tz: ZoneInfo = PARIS) -> str:
    return datetime.fromtimestamp(moment, tz).isoformat()


def ticks(schedule: Cron | Every, start: float, end: float) -> list[float]:
    found, moment = [], start
    while (moment := schedule.next_after(moment)) <= end:
        found.append(moment)
    return found


@pytest.fixture
def app() -> Minion:
    return Minion("memory://periodic-schedule")


def test_every_ticks_on_multiples_of_the_interval_since_the_epoch() -> None:
    every = Every(5)
    assert every.next_after(12.3) == 15.0
    assert every.next_after(15.0) == 20.0  # strictly after
    assert every.latest_at(15.0) == 15.0 and every.latest_at(14.999) == 10.0
    assert every.period(0.0) == 5.0
    minute = parse_schedule(None, timedelta(minutes=1), "UTC", "t")
    assert minute.next_after(at(2024, 5, 1, 12, 0, 30, tz=ZoneInfo("UTC"))) == at(
        2024, 5, 1, 12, 1, tz=ZoneInfo("UTC")
    )
    assert Every(1.5).next_after(1.0) == 1.5 and Every(1.5).next_after(1.5) == 3.0


def test_two_minions_started_apart_agree_on_every_tick() -> None:
    every = Every(7)
    first, later = ticks(every, 1000.2, 1100), ticks(every, 1003.9, 1100)
    assert first[-len(later) :] == later and all(t % 7 == 0 for t in first)


def test_cron_is_read_in_its_time_zone() -> None:
    daily = Cron("30 8 * * *", PARIS)
    moment = daily.next_after(at(2024, 6, 1, 9, 0))
    assert local(moment) == "2024-06-02T08:30:00+02:00"
    assert daily.latest_at(moment) == moment
    assert daily.latest_at(moment - 1) == at(2024, 6, 1, 8, 30)
    assert daily.describe() == "30 8 * * * (Europe/Paris)"
    utc = Cron("30 8 * * *", timezone.utc)
    # 09:00 in Paris is 07:00 UTC: the same day's 08:30 UTC is still ahead
    assert local(utc.next_after(at(2024, 6, 1, 9, 0)), ZoneInfo("UTC")) == (
        "2024-06-01T08:30:00+00:00"
    )


def test_a_time_the_spring_change_skips_fires_at_the_first_that_exists() -> None:
    daily = Cron("30 2 * * *", PARIS)  # 2024-03-31: 02:00 -> 03:00 in Paris
    found = ticks(daily, at(2024, 3, 30, 12, 0), at(2024, 4, 1, 12, 0))
    assert [local(t) for t in found] == ["2024-03-31T03:00:00+02:00", "2024-04-01T02:30:00+02:00"]
    assert found[1] - found[0] == 23.5 * 3600


def test_a_fixed_hour_fires_once_on_the_autumn_change_and_an_hourly_job_stays_hourly() -> None:
    start, end = at(2024, 10, 26, 12, 0), at(2024, 10, 28, 12, 0)  # 03:00 -> 02:00 on the 27th
    daily = ticks(Cron("30 2 * * *", PARIS), start, end)
    assert [local(t) for t in daily] == ["2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00"]
    hourly = ticks(Cron("0 * * * *", PARIS), at(2024, 10, 27, 0, 30), at(2024, 10, 27, 4, 30))
    assert [local(t) for t in hourly] == [
        "2024-10-27T01:00:00+02:00",
        "2024-10-27T02:00:00+02:00",
        "2024-10-27T02:00:00+01:00",  # the same wall time an hour later: an hourly job runs
        "2024-10-27T03:00:00+01:00",
        "2024-10-27T04:00:00+01:00",
    ]
    assert all(b - a == 3600 for a, b in zip(hourly, hourly[1:], strict=False))  # noqa: RUF007
    # latest_at skips the repeated pass too
    second_pass = at(2024, 10, 27, 2, 45, fold=1)
    assert local(Cron("30 2 * * *", PARIS).latest_at(second_pass)) == "2024-10-27T02:30:00+02:00"


def test_schedules_round_trip_through_what_minions_publish() -> None:
    for schedule in (Every(90), Cron("*/5 * * * *", ZoneInfo("America/New_York"))):
        again = schedule_from_dict(json.loads(json.dumps(schedule.as_dict())))
        assert again == schedule and again.next_after(1e9) == schedule.next_after(1e9)
    assert Every(90).describe() == "every 1m30s"
    assert Every(timedelta(days=1).total_seconds()).describe() == "every 1d"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cron": "*/5 * * *"}, r"periodic task 'job': bad cron expression '\*/5 \* \* \*'"),
        ({"cron": "61 * * * *"}, "bad cron expression '61 \\* \\* \\* \\*'.*out of range"),
        ({"cron": "* * * * *", "every": 5}, "exactly one of a cron expression or every="),
        ({}, "exactly one of a cron expression or every="),
        ({"every": 0.5}, "every= must be at least 1s"),
        ({"every": "5"}, "every= must be a number of seconds or a timedelta"),
        ({"cron": "* * * * *", "tz": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"every": 5, "tz": "Europe/Paris"}, "tz= applies to a cron expression"),
        ({"every": 5, "missed": "twice"}, "missed= must be one of 'skip', 'run_once'"),
    ],
)
def test_mistakes_are_refused_where_the_task_is_declared(
    app: Minion, options: dict[str, object], message: str
) -> None:
    with pytest.raises(TaskDefinitionError, match=message):

        @app.periodic(name="job", **options)  # type: ignore[arg-type]
        def job() -> None: ...

    assert "job" not in app.periodic_table and "job" not in app.tasks


def test_arguments_that_cannot_be_sent_fail_at_declaration(app: Minion) -> None:
    with pytest.raises(SerializationError, match="when"):

        @app.periodic(every=5, kwargs={"when": complex(1, 2)})
        def job(when: object) -> None: ...

    with pytest.raises(TaskDefinitionError, match="kwargs holds 'tick'"):

        @app.periodic(every=5, kwargs={"tick": 1})
        def ticked(tick: float) -> None: ...


def test_periodic_registers_a_task_that_stays_callable(app: Minion) -> None:
    @app.periodic("0 3 * * *", tz="Europe/Paris", args=(1,), kwargs={"y": 2})
    def add(x: int, y: int) -> int:
        return x + y

    assert isinstance(add, TaskFunction) and add(1, 2) == 3
    assert add.name in app.tasks and add.name in app.periodic_table
    entry = app.periodic_table.get(add.name)
    assert entry.args == (1,) and entry.call_kwargs(5.0) == {"y": 2}  # no tick parameter
    assert app.periodic_table.published("default") == [
        {
            "name": add.name,
            "schedule": "0 3 * * * (Europe/Paris)",
            "every": None,
            "cron": "0 3 * * *",
            "tz": "Europe/Paris",
            "missed": "skip",
            "queue": "default",
        }
    ]

    @app.periodic(every=60, name="ticked", missed="run_once")
    def ticked(tick: float) -> float:
        return tick

    assert app.periodic_table.get("ticked").call_kwargs(120.0) == {"tick": 120.0}
    assert tick_task_id("ticked", 120.0) == "periodic:ticked:120"
    assert tick_task_id("ticked", 1.5) == "periodic:ticked:1.500"


def test_one_name_gets_one_schedule(app: Minion) -> None:
    def job() -> None: ...

    app.periodic(every=5, name="job")(job)
    app.periodic(every=5, name="job")(job)  # the same again: fine
    with pytest.raises(TaskDefinitionError, match="already scheduled \\(every 5s\\)"):
        app.periodic(every=10, name="job")(job)


def test_import_arbiter_does_not_load_croniter() -> None:
    code = "import json, sys, arbiter; print(json.dumps('croniter' in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) is False
