"""The server's clock, as seen from this machine: every due time and lease is the server's.

Consumers on machines with skewed clocks still agree on leases and delays because the
scripts read the server's time; only a ``not_before`` (this machine's ``time.time()``)
and the times in replies are converted, with one measured offset.
"""

from __future__ import annotations

import math
import time
from typing import Any

CLOCK_RECHECK = 300.0
"""Seconds between measurements of the offset between this machine's clock and the server's."""


def ms(seconds: float) -> int:
    """Whole milliseconds, rounded up so a wait or delay is never shortened."""
    return max(0, math.ceil(seconds * 1000))


class ServerClock:
    """The offset between this machine's clock and one Redis server's.

    Measured once (and again every ``CLOCK_RECHECK``), never per call: with one
    offset, equal ``not_before`` times give equal due times, so ties keep push order.
    Measuring is a TIME command, so call it where a broker error is handled.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._measured: tuple[float, float] | None = None  # (offset, at monotonic)

    def offset(self) -> float:
        """Seconds to add to a ``time.time()`` to get the server's time."""
        measured = self._measured
        if measured is not None and time.monotonic() - measured[1] < CLOCK_RECHECK:
            return measured[0]
        before = time.time()
        seconds, micros = self._client.time()
        after = time.time()
        offset = float(seconds) + float(micros) / 1e6 - (before + after) / 2
        self._measured = (offset, time.monotonic())
        return offset

    def due(self, not_before: float | None) -> str:
        """A script's due-time argument: server ms, or '' for "now"."""
        if not_before is None:
            return ""
        return str(math.ceil((not_before + self.offset()) * 1000))
