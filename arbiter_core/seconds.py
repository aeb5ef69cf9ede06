"""Durations as arbiter takes them: a ``datetime.timedelta`` or a number of seconds.

Its own module so that both a task (:mod:`arbiter_core.task`) and its retry
policy (:mod:`arbiter_core.retry`) check durations the same way without
importing each other.
"""

from __future__ import annotations

import math
from datetime import timedelta

from arbiter_core.errors import TaskDefinitionError

Seconds = float | int | timedelta


def to_seconds(value: Seconds | None, what: str) -> float | None:
    """Normalise a ``timedelta`` or a number of seconds; refuse negatives and NaN."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise TaskDefinitionError(
            f"{what} must be a number of seconds or a datetime.timedelta, got {value!r}"
        )
    if math.isnan(seconds) or seconds < 0:
        raise TaskDefinitionError(f"{what} must not be negative, got {value!r}")
    return seconds
