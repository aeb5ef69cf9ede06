"""Exponential backoff: how long to wait before trying again something that keeps failing.

One formula for every "try again later" in arbiter: a retried task's delay
(:class:`~arbiter_core.retry.RetryPolicy`), a lane whose pulls fail while the
broker is away, the Redis listener reconnecting. The wait doubles (``factor``)
with each failure and never exceeds ``cap``, so an outage costs a few log lines
a minute, not a busy loop, and recovery is noticed within ``cap`` seconds.
"""

from __future__ import annotations

import math


def exponential(base: float, factor: float, step: int, cap: float | None) -> float:
    """``base * factor**step``, at most ``cap`` (None: no cap); never overflows.

    ``step`` counts from 0 (a negative one counts as 0), so ``step=0`` is ``base``
    itself; a ``base`` of 0 or less means "no wait" whatever the factor. A result too
    large for a float is ``cap``, or ``inf`` without one, rather than an OverflowError.
    """
    if base <= 0:
        return 0.0
    try:
        delay = base * float(factor) ** max(step, 0)
    except OverflowError:
        delay = math.inf
    return delay if cap is None else min(cap, delay)


class Backoff:
    """The waits of one loop that retries after failures; ``reset()`` when one succeeds.

    The first failure waits ``base * factor``, the next ``base * factor**2``, and
    so on up to ``cap``.
    """

    __slots__ = ("base", "cap", "factor", "failures")

    def __init__(self, base: float = 0.1, cap: float = 5.0, factor: float = 2.0) -> None:
        if base <= 0 or cap < base or factor < 1:
            raise ValueError(
                f"backoff needs 0 < base <= cap and factor >= 1, got {base!r}, {cap!r}, {factor!r}"
            )
        self.base = base
        self.cap = cap
        self.factor = factor
        self.failures = 0

    def next(self) -> float:
        """Count one more failure; the seconds to wait before the next try."""
        self.failures += 1
        return exponential(self.base, self.factor, self.failures, self.cap)

    def reset(self) -> None:
        """A try succeeded: the next failure starts from the shortest wait again."""
        self.failures = 0
