"""How a failed task is tried again: how many times, and how long to wait before each try.

One :class:`RetryPolicy` serves the local DAG runner (``create_task(retry=...)``)
and the distributed minion (``@app.task(retry=...)``), so a task retries the
same way wherever it runs. The waits follow
:func:`arbiter_core.backoff.exponential`; ``jitter`` spreads the retries of many
tasks that failed together (a broker outage) so they do not all return at once.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from arbiter_core.backoff import exponential
from arbiter_core.errors import TaskDefinitionError
from arbiter_core.seconds import Seconds, to_seconds


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_attempt(attempt: int) -> None:
    if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
        raise ValueError(f"attempts are numbered from 1, got {attempt!r}")


@dataclass(frozen=True, slots=True, init=False)
class RetryPolicy:
    """Retry a failed attempt ``retries`` times; wait ``delay`` seconds before the first retry.

    Each further retry waits ``backoff`` times longer than the one before (``1``:
    a constant delay, ``2``: doubling), never more than ``max_delay`` (``None``: no
    cap). ``jitter`` is the fraction of each wait drawn at random: ``0.25`` waits
    between 75% and 100% of it, so a wait never exceeds the cap. ``delay`` and
    ``max_delay`` take seconds or a ``datetime.timedelta`` and are stored as seconds.
    Every value is checked here, so a bad policy fails where it is written.
    """

    retries: int
    delay: float
    backoff: float
    max_delay: float | None
    jitter: float

    def __init__(
        self,
        retries: int = 0,
        delay: Seconds = 0.0,
        backoff: float = 1.0,
        max_delay: Seconds | None = None,
        jitter: float = 0.0,
    ) -> None:
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise TaskDefinitionError(f"retries must be an int >= 0, got {retries!r}")
        seconds = to_seconds(delay, "delay")
        if seconds is None:
            raise TaskDefinitionError("delay must be a number of seconds or a timedelta, got None")
        cap = to_seconds(max_delay, "max_delay")
        if cap is not None and cap < seconds:
            raise TaskDefinitionError(
                f"max_delay ({cap:g}s) must not be shorter than delay ({seconds:g}s)"
            )
        if not _is_number(backoff) or not 1 <= backoff < math.inf:
            raise TaskDefinitionError(
                f"backoff must be a finite number >= 1 (1: constant delay, 2: doubling), "
                f"got {backoff!r}"
            )
        if not _is_number(jitter) or not 0 <= jitter <= 1:
            raise TaskDefinitionError(
                f"jitter must be a fraction between 0 and 1 of each delay, got {jitter!r}"
            )
        object.__setattr__(self, "retries", retries)
        object.__setattr__(self, "delay", seconds)
        object.__setattr__(self, "backoff", float(backoff))
        object.__setattr__(self, "max_delay", cap)
        object.__setattr__(self, "jitter", float(jitter))

    @property
    def is_constant(self) -> bool:
        """Whether every retry waits exactly ``delay``: no backoff, cap or jitter to say."""
        return self.backoff == 1 and self.max_delay is None and self.jitter == 0

    def allows(self, attempt: int) -> bool:
        """Whether failed attempt number ``attempt`` (1 for the first) may be retried."""
        _check_attempt(attempt)
        return attempt <= self.retries

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based) before the next one."""
        _check_attempt(attempt)
        seconds = exponential(self.delay, self.backoff, attempt - 1, self.max_delay)
        if self.jitter and 0 < seconds < math.inf:
            seconds -= random.uniform(0.0, seconds * self.jitter)
        return seconds


NO_RETRY = RetryPolicy()
"""The default: one attempt, no retry."""


def retry_policy(
    where: str,
    retries: int = 0,
    delay: Seconds | None = None,
    retry: RetryPolicy | None = None,
) -> RetryPolicy:
    """The policy of a task declared with ``retries=``/``delay=``, or with ``retry=``: not both.

    ``where`` starts every error message (``"task 'nightly'"``), so the message
    names the task whose declaration is wrong.
    """
    if retry is not None:
        if not isinstance(retry, RetryPolicy):
            raise TypeError(
                f"{where}: 'retry' takes a RetryPolicy, got {retry!r}; "
                f"did you mean 'retries'? (retries={retry!r})"
            )
        if retries != 0 or delay is not None:
            raise TaskDefinitionError(
                f"{where}: give retry=RetryPolicy(...) or retries=/delay=, not both "
                f"(got retry={retry!r}, retries={retries!r}, delay={delay!r}); "
                f"put retries and delay in the policy"
            )
        return retry
    try:
        return RetryPolicy(retries, 0.0 if delay is None else delay)
    except TaskDefinitionError as error:
        raise TaskDefinitionError(f"{where}: {error}") from None
