"""The state face: task records with TTLs, atomic state transitions, the worker registry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Record:
    """A stored record: a ``state`` the store can compare, and opaque ``data``."""

    state: str
    data: bytes


ABSENT = None
"""In ``transition(..., expect=…)``: the record must not exist yet."""


class StateStore(ABC):
    """Records with expiry, compare-and-set on their state, and live workers.

    Guarantees an implementation makes:

    * ``get`` never returns a record past its TTL; every write sets a TTL, so
      nothing is left behind forever.
    * ``transition`` is atomic: the check of the current state and the write
      happen as one step, so of two racing writers at most one wins. This is
      what keeps a final state final when a duplicate delivery finishes late.
    * The worker registry lists exactly the workers whose last ``heartbeat``
      is younger than the TTL it gave.
    * Every method is safe to call from any thread.
    """

    @abstractmethod
    def get(self, key: str) -> Record | None:
        """The record stored at ``key``, or None if absent or expired."""

    @abstractmethod
    def get_many(self, keys: Collection[str]) -> dict[str, Record]:
        """The records that exist among ``keys`` (one round trip where the store allows)."""

    @abstractmethod
    def transition(
        self,
        key: str,
        record: Record,
        *,
        ttl: float,
        expect: Collection[str | None] | None = None,
    ) -> tuple[bool, Record | None]:
        """Write ``record`` (expiring after ``ttl`` seconds) if the current state allows it.

        ``expect=None`` writes unconditionally. Otherwise the write happens only
        if the current record's state is in ``expect``, where ``None`` in
        ``expect`` stands for "no record". Returns ``(written, current)`` where
        ``current`` is the record now stored (the new one if written).
        """

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""

    @abstractmethod
    def heartbeat(self, worker_id: str, info: bytes, ttl: float) -> None:
        """Register or refresh a live worker; it counts as gone ``ttl`` seconds after."""

    @abstractmethod
    def live_workers(self) -> dict[str, bytes]:
        """Every worker whose heartbeat has not expired, with its latest info."""

    @abstractmethod
    def remove_worker(self, worker_id: str) -> None:
        """Drop a worker from the registry (a clean shutdown says goodbye)."""
