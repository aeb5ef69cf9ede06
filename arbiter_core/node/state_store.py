"""The state face: task records with TTLs, atomic state transitions, the worker registry."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from arbiter_core.node.arguments import (
    require_bytes,
    require_expect,
    require_name,
    require_positive,
)


@dataclass(frozen=True, slots=True)
class Record:
    """A stored record: a ``state`` the store can compare, and opaque ``data``."""

    state: str
    data: bytes


ABSENT = None
"""In ``transition(..., expect=…)``: the record must not exist yet."""

Expect: TypeAlias = Collection[str | None] | None
"""What ``transition`` takes as ``expect``: None (write anyway) or the allowed states."""

TransitionItem: TypeAlias = tuple[str, Record, float, Expect]
"""One write of ``transition_many``: ``(key, record, ttl, expect)``."""


def require_record(record: object) -> Record:
    """``record`` if it is a :class:`Record` with a str state and bytes data, else an error.

    Data given as a bytearray or memoryview comes back copied into a new record.
    """
    if not isinstance(record, Record):
        raise TypeError(f"record must be a Record, got {type(record).__name__}")
    if not isinstance(record.state, str):
        raise TypeError(f"record.state must be a str, got {type(record.state).__name__}")
    if isinstance(record.data, bytes):
        return record
    return Record(record.state, require_bytes(record.data, "record.data"))


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

    The public methods check their arguments (keys and worker ids are names, see
    :func:`~arbiter_core.node.arguments.require_name`; TTLs are positive; data is
    bytes) and then call the protected method of the same name, which is what a
    backend writes: ``_get``, ``_get_many``, ``_transition``, ``_delete``,
    ``_heartbeat``, ``_live_workers``, ``_remove_worker``. Those receive checked
    arguments only. A store with a clock of its own (a server's) also writes ``_now``.
    """

    def get(self, key: str) -> Record | None:
        """The record stored at ``key``, or None if absent or expired."""
        return self._get(require_name(key, "key"))

    def get_many(self, keys: Collection[str]) -> dict[str, Record]:
        """The records that exist among ``keys`` (one round trip where the store allows)."""
        return self._get_many([require_name(key, "key") for key in keys])

    def transition(
        self, key: str, record: Record, *, ttl: float, expect: Expect = None
    ) -> tuple[bool, Record | None]:
        """Write ``record`` (expiring after ``ttl`` seconds) if the current state allows it.

        ``expect=None`` writes unconditionally. Otherwise the write happens only
        if the current record's state is in ``expect``, where ``None`` in
        ``expect`` stands for "no record". Returns ``(written, current)`` where
        ``current`` is the record now stored (the new one if written).
        """
        require_positive(ttl, "ttl")
        record = require_record(record)
        require_expect(expect)
        return self._transition(require_name(key, "key"), record, ttl, expect)

    def transition_many(self, items: Sequence[TransitionItem]) -> list[tuple[bool, Record | None]]:
        """:meth:`transition` for each ``(key, record, ttl, expect)``, in order.

        Each item keeps the single call's guarantee (an atomic compare-and-set) and
        gets the single call's ``(written, current)``. An item whose ``expect`` is
        empty (``()``) can never be written: it reads, ``(False, current)``, so one
        batch can read records as it writes others. Items are independent: the
        batch is not atomic, and a broker error may leave a prefix of it applied.
        Every item is checked before any is applied. A backend may override
        ``_transition_many`` to send the whole batch in one round trip; the default
        calls ``_transition`` for each.
        """
        checked = []
        for key, record, ttl, expect in items:
            require_positive(ttl, "ttl")
            require_expect(expect)
            checked.append((require_name(key, "key"), require_record(record), ttl, expect))
        return self._transition_many(checked)

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        self._delete(require_name(key, "key"))

    def heartbeat(self, worker_id: str, info: bytes, ttl: float) -> None:
        """Register or refresh a live worker; it counts as gone ``ttl`` seconds after."""
        require_positive(ttl, "ttl")
        info = require_bytes(info, "info")
        self._heartbeat(require_name(worker_id, "worker_id"), info, ttl)

    def live_workers(self) -> dict[str, bytes]:
        """Every worker whose heartbeat has not expired, with its latest info."""
        return self._live_workers()

    def remove_worker(self, worker_id: str) -> None:
        """Drop a worker from the registry (a clean shutdown says goodbye)."""
        self._remove_worker(require_name(worker_id, "worker_id"))

    def now(self) -> float:
        """The current time on the store's clock, in epoch seconds.

        Every node on one store reads the same clock (to within how well it measures
        it), whatever its own machine's clock says: what minions on many machines
        schedule together (rate limits, :mod:`arbiter_core.rate_limit_slots`) is timed
        by it. Cheap enough to call per task: a backend measures its offset from the
        local clock now and then, not on every call. The default, for a store in this
        process, is ``time.time()``; a backend overrides ``_now``.
        """
        return self._now()

    # -- what a backend writes; the arguments are checked (see the class docstring)
    @abstractmethod
    def _get(self, key: str) -> Record | None: ...

    @abstractmethod
    def _get_many(self, keys: list[str]) -> dict[str, Record]: ...

    @abstractmethod
    def _transition(
        self, key: str, record: Record, ttl: float, expect: Expect
    ) -> tuple[bool, Record | None]:
        """Atomically: compare the current state with ``expect``, write if it is allowed."""

    def _transition_many(
        self, items: list[tuple[str, Record, float, Expect]]
    ) -> list[tuple[bool, Record | None]]:
        return [self._transition(key, record, ttl, expect) for key, record, ttl, expect in items]

    @abstractmethod
    def _delete(self, key: str) -> None: ...

    @abstractmethod
    def _heartbeat(self, worker_id: str, info: bytes, ttl: float) -> None: ...

    @abstractmethod
    def _live_workers(self) -> dict[str, bytes]: ...

    @abstractmethod
    def _remove_worker(self, worker_id: str) -> None: ...

    def _now(self) -> float:
        return time.time()
