"""Claiming a record with the lease: a worker's start gate without a round trip of its own.

A message pushed by ``transition_and_push`` (or its batch form) is bound to the
record written with it. A pull given a :class:`Claim` may, atomically with the
lease, move that record to ``claim.state`` if its state is one of
``claim.expect``; the delivery then says how it went (:class:`Claimed`). The
record's data is kept; only its state changes. A backend that cannot do this in
the same step, a message pushed without a record, and a record that is gone all
leave ``Delivery.claim`` as None: the caller then transitions the record itself.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import NamedTuple

from arbiter_core.node.state_store import Record


class Claim(NamedTuple):
    """What a pull does to the record each bound message was pushed with."""

    state: str
    """The state the record takes: the task is started."""
    expect: Collection[str]
    """The states it may take it from; any other state refuses the claim."""
    ttl: float
    """Seconds the claimed record lives (its expiry restarts)."""


@dataclass(frozen=True, slots=True)
class Claimed:
    """How the claim of one delivery went."""

    written: bool
    """True: the record is now in the claim's state, so the task may start."""
    current: Record | None = None
    """When refused: the record as it is (a killed task's, a finished duplicate's)."""
