"""When a periodic task is due: a cron expression in a time zone, or a fixed interval.

A schedule maps wall-clock time (``time.time()``) to ticks, and nothing else: every
minion computes the same ticks from the same schedule without talking to the others,
which is what lets the claim (:mod:`~arbiter_core.periodic.claim`) name a tick.

* :class:`Every`: ticks at the whole multiples of the interval since the Unix epoch
  (``every=60`` fires at every minute's :00), so minions started at different
  moments agree.
* :class:`Cron`: the expression as ``croniter`` reads it (5 fields; a 6th is
  seconds), evaluated in ``tz``. On the day the clocks go forward, a time that does
  not exist fires at the first one that does (``30 2 * * *`` at 03:00); on the day
  they go back, a job with a fixed hour fires once, in the first pass of the
  repeated hour, and a job whose hour field starts with ``*`` fires in both passes
  (an hourly job stays hourly) — what Vixie cron does.

``croniter`` is imported on first use, so ``import arbiter`` stays cheap.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from arbiter_core.errors import TaskDefinitionError

MIN_INTERVAL = 1.0
"""The shortest ``every`` in seconds: anything more frequent is a loop, not a schedule."""


class Schedule(ABC):
    """Ticks in wall-clock seconds since the epoch; the same on every machine."""

    @abstractmethod
    def next_after(self, moment: float) -> float:
        """The first tick strictly after ``moment``."""

    @abstractmethod
    def latest_at(self, moment: float) -> float:
        """The last tick at or before ``moment``."""

    @abstractmethod
    def describe(self) -> str:
        """How a person reads it: ``every 5s`` or ``*/5 * * * * (Europe/Paris)``."""

    @abstractmethod
    def as_dict(self) -> dict[str, Any]:
        """JSON-able, as minions publish it; :func:`schedule_from_dict` reads it back."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schedule) and self.as_dict() == other.as_dict()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.as_dict().items())))

    def period(self, moment: float) -> float:
        """Seconds between the ticks that follow ``moment`` (for expiries sized to it)."""
        first = self.next_after(moment)
        return self.next_after(first) - first


class Every(Schedule):
    """Every ``interval`` seconds, on the multiples of it since the Unix epoch."""

    def __init__(self, interval: float) -> None:
        # whole milliseconds, so every machine computes the very same tick times
        self.interval_ms = round(interval * 1000)
        self.interval = self.interval_ms / 1000

    def next_after(self, moment: float) -> float:
        return (math.floor(moment * 1000) // self.interval_ms + 1) * self.interval_ms / 1000

    def latest_at(self, moment: float) -> float:
        return (math.floor(moment * 1000) // self.interval_ms) * self.interval_ms / 1000

    def describe(self) -> str:
        return f"every {_duration(self.interval)}"

    def as_dict(self) -> dict[str, Any]:
        return {"every": self.interval, "cron": None, "tz": None}


class Cron(Schedule):
    """A cron expression, evaluated in the time zone ``tz``."""

    def __init__(self, expression: str, tz: tzinfo) -> None:
        self.expression = expression
        self.tz = tz
        fields = expression.split()
        # The hour field decides what the repeated hour of a clock change does (see module)
        self._wildcard_hour = len(fields) >= 2 and fields[1].startswith("*")

    def next_after(self, moment: float) -> float:
        found = self._iterate(math.floor(moment))
        while True:
            tick = found.get_next(datetime)
            if not self._repeated(tick):
                return float(tick.timestamp())

    def latest_at(self, moment: float) -> float:
        found = self._iterate(math.floor(moment) + 1)  # get_prev is strictly before
        while True:
            tick = found.get_prev(datetime)
            if not self._repeated(tick):
                return float(tick.timestamp())

    def _iterate(self, start: float) -> Any:
        from croniter import croniter  # noqa: PLC0415 - only where a cron schedule is used

        return croniter(self.expression, datetime.fromtimestamp(start, self.tz))

    def _repeated(self, tick: datetime) -> bool:
        """A fixed-hour tick in the second pass of an hour the clocks went back over."""
        return (
            tick.fold == 1
            and not self._wildcard_hour
            and tick.utcoffset() != (tick.replace(fold=0).utcoffset())
        )

    def describe(self) -> str:
        return f"{self.expression} ({tz_name(self.tz)})"

    def as_dict(self) -> dict[str, Any]:
        return {"every": None, "cron": self.expression, "tz": tz_name(self.tz)}


def parse_schedule(
    cron: str | None, every: timedelta | float | None, tz: str | tzinfo, what: str
) -> Schedule:
    """The schedule ``@app.periodic`` was given, checked; a mistake names ``what``."""
    if (cron is None) == (every is None):
        raise TaskDefinitionError(
            f"{what}: give exactly one of a cron expression or every=, "
            f"got cron={cron!r}, every={every!r}"
        )
    if every is not None:
        if tz != "UTC":
            raise TaskDefinitionError(
                f"{what}: tz= applies to a cron expression; every= ticks on the epoch"
            )
        return Every(_interval(every, what))
    if not isinstance(cron, str):
        raise TaskDefinitionError(f"{what}: the cron expression must be a str, got {cron!r}")
    schedule = Cron(cron.strip(), resolve_tz(tz, what))
    from croniter import CroniterError  # noqa: PLC0415 - see the module docstring

    try:
        schedule.next_after(0.0)
    except (CroniterError, ValueError, KeyError) as exc:  # croniter raises all three
        raise TaskDefinitionError(f"{what}: bad cron expression {cron!r}: {exc}") from None
    return schedule


def schedule_from_dict(data: dict[str, Any]) -> Schedule:
    """What :meth:`Schedule.as_dict` wrote, as a schedule again."""
    if data.get("every") is not None:
        return Every(float(data["every"]))
    return Cron(str(data["cron"]), resolve_tz(str(data.get("tz") or "UTC"), "schedule"))


def resolve_tz(tz: str | tzinfo, what: str) -> tzinfo:
    """A ``tzinfo`` as given, or the IANA zone a name stands for (``"Europe/Paris"``)."""
    if isinstance(tz, tzinfo):
        return tz
    if not isinstance(tz, str):
        raise TaskDefinitionError(f"{what}: tz must be a zone name or a tzinfo, got {tz!r}")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise TaskDefinitionError(
            f"{what}: unknown time zone {tz!r}; use an IANA name such as 'Europe/Paris'"
        ) from None


def tz_name(tz: tzinfo) -> str:
    """The zone's IANA name where it has one (what :func:`resolve_tz` reads back)."""
    key = getattr(tz, "key", None)  # ZoneInfo's name
    return str(key) if key else str(tz.tzname(None) or tz)


def _interval(every: timedelta | float, what: str) -> float:
    if isinstance(every, timedelta):
        seconds = every.total_seconds()
    elif isinstance(every, (int, float)) and not isinstance(every, bool):
        seconds = float(every)
    else:
        raise TaskDefinitionError(
            f"{what}: every= must be a number of seconds or a timedelta, got {every!r}"
        )
    if not seconds >= MIN_INTERVAL or math.isinf(seconds):
        raise TaskDefinitionError(
            f"{what}: every= must be at least {MIN_INTERVAL:g}s and finite, got {every!r}"
        )
    return seconds


def _duration(seconds: float) -> str:
    """``45s``, ``5m``, ``1h30m``, ``1d`` — how ``every`` reads in a listing."""
    if seconds != int(seconds):
        return f"{seconds:g}s"
    whole = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
