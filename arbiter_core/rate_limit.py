"""Rate limits: ``@app.task(rate_limit="100/m")`` caps how often a task starts, across all minions.

The limit belongs to the task's *name*, not to a process: every minion of the app,
on any machine, draws its starts from one schedule kept in the state store
(:mod:`arbiter_core.rate_limit_slots`). ``"N/s"``, ``"N/m"`` and ``"N/h"`` mean N
starts a second, minute or hour, evenly spaced: one every ``period / N`` seconds,
with no bursts (a task idle for a while does not save up starts). A plain number
is starts per second.

A task that comes to a minion before its turn reserves the next free start time
(its *slot*) and goes back to the queue as a delayed message due then, carrying the
slot in its :data:`RATE_SLOT` header (checked by :func:`check`): it holds no worker
slot while it waits, keeps its place in line, and runs at its slot without asking
again. See :mod:`arbiter_core.minion.rate_gate` for the gate itself.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from arbiter_core.errors import MessageRejected, TaskDefinitionError

RATE_SLOT = "rate_slot"
"""Header: ``[slot, attempt]``, the start time (the state store's epoch seconds) that
attempt ``attempt`` of the task reserved; any other attempt reserves its own."""

PERIODS = {"s": 1.0, "m": 60.0, "h": 3600.0}
"""The units a rate may be given in, as seconds."""

_RATE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*([smh]))?\s*")


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``count`` starts per ``period`` seconds, evenly spaced; ``text`` as given."""

    count: float
    period: float
    text: str

    @property
    def interval(self) -> float:
        """Seconds between two starts."""
        return self.period / self.count


def parse_rate_limit(value: object, what: str) -> RateLimit | None:
    """Check a task's ``rate_limit`` option; None when it has none.

    Raises :class:`~arbiter_core.errors.TaskDefinitionError` (a ValueError) naming
    ``what`` and the bad value, at decoration time rather than at the first start.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TaskDefinitionError(
            f"{what}: rate_limit must be a string such as '100/m' (or a number of starts "
            f"per second), got {type(value).__name__} {value!r}"
        )
    if isinstance(value, str):
        match = _RATE.fullmatch(value)
        if match is None:
            raise TaskDefinitionError(
                f"{what}: rate_limit {value!r} is not a rate: give 'N/s', 'N/m' or 'N/h' "
                "(N starts a second, minute or hour), e.g. '100/m'"
            )
        count, period = float(match.group(1)), PERIODS[match.group(2) or "s"]
    else:
        count, period = float(value), 1.0
    if not math.isfinite(count) or count <= 0:
        raise TaskDefinitionError(
            f"{what}: rate_limit must allow more than 0 starts, got {value!r}; "
            "leave rate_limit out for no limit"
        )
    if period / count < 1e-6:
        raise TaskDefinitionError(
            f"{what}: rate_limit {value!r} is more than a million starts a second; "
            "leave rate_limit out for no limit"
        )
    return RateLimit(count, period, str(value))


def held_slot(headers: Mapping[str, Any], attempt: int) -> float | None:
    """The slot a checked envelope's ``attempt`` reserved (see :func:`check`), or None."""
    held = headers.get(RATE_SLOT) if headers else None
    if held is None or held[1] != attempt:
        return None
    return float(held[0])


def check(headers: Mapping[str, Any]) -> None:
    """Refuse a ``rate_slot`` header that is not ``[epoch seconds, attempt]``."""
    if RATE_SLOT not in headers:
        return
    held = headers[RATE_SLOT]
    if (
        isinstance(held, list)
        and len(held) == 2
        and not isinstance(held[0], bool)
        and isinstance(held[0], (int, float))
        and math.isfinite(held[0])
        and held[0] >= 0
        and not isinstance(held[1], bool)
        and isinstance(held[1], int)
        and held[1] >= 1
    ):
        return
    raise MessageRejected(f"header {RATE_SLOT!r} must be [epoch seconds, attempt number]")
