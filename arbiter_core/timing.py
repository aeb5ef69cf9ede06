"""When a task may start, and until when: ``eta``, ``countdown`` and ``expires``.

The options of ``Arbiter.apply`` are checked here, once, before anything is queued,
and turned into absolute ``time.time()`` values:

* the start time becomes the message's ``not_before`` (a delayed message, as a retry
  is: it holds no worker slot and lives on the broker, so it survives restarts) and
  the ``eta`` header, so the task's status says when it will run;
* the expiry becomes the ``expires`` header, which the minion reads at its start gate
  (see :mod:`arbiter_core.minion.starting`): a task not started before then ends
  ``expired`` without running. The header travels with every attempt, so a retry due
  after the expiry does not run either (Celery's semantics).

Both headers are epoch seconds of the sender's clock; a malformed one is rejected
like any malformed header (:func:`check`), so the message is dead-lettered unrun.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from arbiter_core.errors import MessageRejected

ETA = "eta"
"""Header: the ``time.time()`` before which the task was not to start (for its status)."""
EXPIRES = "expires"
"""Header: the ``time.time()`` from which the task must not start any more."""

Moment = datetime | float | int | timedelta
"""What ``expires`` takes: an aware datetime, or seconds from now (a number or timedelta)."""


@dataclass(frozen=True, slots=True)
class Timing:
    """The start and expiry of one apply, as ``time.time()`` values (None: unset)."""

    not_before: float | None = None
    expires: float | None = None

    def headers(self) -> dict[str, float]:
        """The envelope headers that carry this timing (none when nothing is set)."""
        found: dict[str, float] = {}
        if self.not_before is not None:
            found[ETA] = self.not_before
        if self.expires is not None:
            found[EXPIRES] = self.expires
        return found


NO_TIMING = Timing()


def resolve(
    eta: datetime | None = None,
    countdown: float | int | timedelta | None = None,
    expires: Moment | None = None,
    *,
    now: float | None = None,
) -> Timing:
    """Check ``apply``'s options and make them absolute; raise before anything is queued.

    ``eta`` is a timezone-aware datetime (a naive one is ambiguous across machines, so
    it is refused); ``countdown`` is seconds from now (>= 0); not both. ``expires`` is
    an aware datetime or seconds from now (> 0), and must come after the start.
    """
    if eta is not None and countdown is not None:
        raise ValueError("give eta or countdown, not both")
    now = time.time() if now is None else now
    not_before = None
    if eta is not None:
        not_before = _epoch(eta, "eta")
    elif countdown is not None:
        not_before = now + _seconds(countdown, "countdown", allow_zero=True)
    until = None
    if expires is not None:
        if isinstance(expires, datetime):
            until = _epoch(expires, "expires")
            if until <= now:
                raise ValueError(
                    f"expires is in the past ({expires.isoformat()}): it would never run"
                )
        else:
            until = now + _seconds(expires, "expires", allow_zero=False)
        if not_before is not None and until <= not_before:
            raise ValueError(
                f"expires ({_iso(until)}) must come after the start ({_iso(not_before)}): "
                "the task would expire before it could run"
            )
    if not_before is None and until is None:
        return NO_TIMING
    return Timing(not_before, until)


def expiry(headers: Mapping[str, Any]) -> float | None:
    """The ``expires`` header of a checked envelope (see :func:`check`), or None."""
    found = headers.get(EXPIRES) if headers else None
    return None if found is None else float(found)


def check(headers: Mapping[str, Any]) -> None:
    """Refuse ``eta``/``expires`` headers that are not finite epoch seconds."""
    for name in (ETA, EXPIRES):
        if name in headers:
            value = headers[name]
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
            ):
                raise MessageRejected(f"header {name!r} must be a time in epoch seconds")


def _epoch(moment: Any, what: str) -> float:
    if not isinstance(moment, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(moment).__name__} {moment!r}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"{what} must be a timezone-aware datetime, got the naive {moment.isoformat()}; "
            "give it a tz, e.g. datetime.now(timezone.utc) + timedelta(seconds=10)"
        )
    return moment.timestamp()


def _seconds(value: Any, what: str, *, allow_zero: bool) -> float:
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        kind = "a datetime or " if what == "expires" else ""
        raise TypeError(
            f"{what} must be {kind}a number of seconds (or a timedelta), "
            f"got {type(value).__name__} {value!r}"
        )
    bound = ">= 0" if allow_zero else "> 0"
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        raise ValueError(f"{what} must be a finite number of seconds {bound}, got {value!r}")
    return seconds


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="milliseconds")
