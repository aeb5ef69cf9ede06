"""Start slots of a rate-limited task, reserved by compare-and-set in the state store.

This is GCRA (the generic cell rate algorithm, "virtual scheduling"): the record
:func:`slots_key` of a task name holds, as its *state*, the theoretical arrival
time (TAT) — the earliest moment the next start may have, in whole microseconds
of the store's clock (:meth:`~arbiter_core.node.StateStore.now`). Reserving a slot
takes ``slot = max(now, TAT)`` and moves the TAT to ``slot + interval`` with one
``transition(expect=(TAT read,))``; of minions racing for one slot exactly one
wins, and the others read the new TAT from the refusal and try again (at most
:data:`RESERVE_TRIES` times). No record, or a TAT in the past, is a free slot now.

Why the rate holds across minions: every start, on every minion, is a slot some
compare-and-set handed out, and no two slots are closer than ``interval``. One
clock decides — the store's — so minions whose own clocks disagree still agree
on the slots. The record lives until its TAT has passed (plus
:data:`SLOTS_TTL_MARGIN`), after which an absent record means the same thing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from arbiter_core.errors import ArbiterError
from arbiter_core.node import ABSENT, EventNode, Record
from arbiter_core.rate_limit import RateLimit

RESERVE_TRIES = 32
"""Compare-and-sets one reservation attempts while other minions keep taking slots."""
SLOTS_TTL_MARGIN = 10.0
"""Seconds a slots record outlives its TAT (past it, absent and present read the same)."""
MICROS = 1_000_000


def slots_key(name: str) -> str:
    """The record holding task ``name``'s next free start time."""
    return f"rate:{name}"


class SlotsContended(ArbiterError):
    """Every compare-and-set of one reservation lost to another minion's."""


@dataclass(frozen=True, slots=True)
class Reservation:
    """A reserved start: ``slot`` and ``now`` in the store's epoch seconds."""

    slot: float
    now: float

    @property
    def wait(self) -> float:
        """Seconds from now until the slot (0 when it is now)."""
        return max(0.0, self.slot - self.now)


class Slots:
    """Reserves start slots for one minion run; remembers the last TAT it saw per key,
    so a reservation without contention is one round trip (a wrong guess costs one more)."""

    def __init__(self, node: EventNode) -> None:
        self.node = node
        self._seen: dict[str, str | None] = {}
        self._lock = threading.Lock()  # this minion's lanes take turns: they race only others

    def reserve(
        self, name: str, rate: RateLimit, not_after: float | None = None
    ) -> Reservation | None:
        """Reserve the next start of ``name``; None, reserving nothing, if it would be at
        or after ``not_after`` (the store's epoch seconds: the task expires by then).

        Raises :class:`SlotsContended` after :data:`RESERVE_TRIES` lost races, and a
        :class:`~arbiter_core.errors.BrokerError` as the node does.
        """
        with self._lock:
            return self._reserve(name, rate, not_after)

    def _reserve(self, name: str, rate: RateLimit, not_after: float | None) -> Reservation | None:
        key = slots_key(name)
        interval = max(1, round(rate.interval * MICROS))
        expected = self._seen.get(key)
        for _ in range(RESERVE_TRIES):
            now_seconds = self.node.now()
            now = int(now_seconds * MICROS)
            slot = max(now, _tat(expected))
            if not_after is not None and slot >= not_after * MICROS:
                return None
            tat = slot + interval
            ttl = (tat - now) / MICROS + SLOTS_TTL_MARGIN
            written, current = self.node.transition(
                key, Record(str(tat), b""), ttl=ttl, expect=(expected,)
            )
            if written:
                self._seen[key] = str(tat)
                return Reservation(slot / MICROS, now_seconds)
            expected = ABSENT if current is None else current.state
        self._seen.pop(key, None)
        raise SlotsContended(
            f"rate limit of task {name!r}: {RESERVE_TRIES} attempts to reserve a start slot "
            "lost to other minions"
        )


def _tat(state: str | None) -> int:
    """The TAT a slots record's state holds; 0 (free now) if absent or not a number."""
    if state is None or not (state.isascii() and state.isdigit()):
        return 0
    return int(state)
