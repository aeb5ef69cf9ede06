"""What the Arbiter's inspection methods return: queues, workers, dead letters, a ping.

Plain frozen dataclasses with an ``as_dict()`` that is JSON-able, so ``arbiter ... --json``
prints exactly what the Python API returns. Built from the node's answers by the
Arbiter (:mod:`arbiter_core.client`); nothing here talks to a broker.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from arbiter_core import records
from arbiter_core.errors import MessageRejected
from arbiter_core.node import DeadLetter
from arbiter_core.wire import WireFormat

RAW_BODY_SHOWN = 200
"""Bytes of an undecodable body that a dead letter's ``raw`` shows (as a repr)."""


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """One queue, as ``arbiter queues`` shows it."""

    name: str
    ready: int
    in_flight: int
    """Leased by a worker right now."""
    delayed: int
    dead: int
    """Dead letters kept (see ``Arbiter.dead_letters``)."""
    consumers: int
    """Live workers serving the queue."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """One live worker (a Minion), from its latest heartbeat.

    ``beat_at``, ``pool``, ``counts`` (tasks by outcome), ``signing`` (whether it
    refuses unsigned messages) and ``signing_keys`` (how many secrets verify) are
    None when the minion's heartbeat does not carry them.
    """

    id: str
    queue: str
    host: str
    pid: int | None
    busy: int
    slots: int
    started_at: float | None
    beat_at: float | None = None
    pool: str | None = None
    counts: dict[str, int] | None = None
    tasks: tuple[str, ...] = ()
    signing: bool | None = None
    signing_keys: int | None = None

    @classmethod
    def from_heartbeat(cls, worker_id: str, info: bytes) -> WorkerInfo:
        """Read a heartbeat's info; fields a minion did not send are left empty."""
        try:
            data = json.loads(info)
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        counts = data.get("counts")
        signing = data.get("signing")
        signing = signing if isinstance(signing, dict) else {}
        return cls(
            id=str(data.get("id") or worker_id),
            queue=str(data.get("queue", "?")),
            host=str(data.get("host", "?")),
            pid=_int_or_none(data.get("pid")),
            busy=_int_or_none(data.get("busy")) or 0,
            slots=_int_or_none(data.get("slots")) or 0,
            started_at=_float_or_none(data.get("started_at")),
            beat_at=_float_or_none(data.get("beat_at")),
            pool=str(data["pool"]) if data.get("pool") else None,
            counts={str(k): int(v) for k, v in counts.items()}
            if isinstance(counts, dict)
            else None,
            tasks=tuple(str(t) for t in data.get("tasks") or ()),
            signing=bool(signing["on"]) if "on" in signing else None,
            signing_keys=_int_or_none(signing.get("keys")),
        )

    def uptime(self, now: float | None = None) -> float | None:
        """Seconds since the worker started, if its heartbeat says when."""
        if self.started_at is None:
            return None
        return max(0.0, (time.time() if now is None else now) - self.started_at)

    def as_dict(self) -> dict[str, Any]:
        shown = asdict(self)
        shown["tasks"] = list(self.tasks)
        shown["uptime"] = self.uptime()
        return shown


@dataclass(frozen=True, slots=True)
class PingInfo:
    """What ``Arbiter.ping`` learnt: where, which server, and how long a round trip takes."""

    url: str
    """The broker URL, password masked."""
    server: dict[str, str]
    """The node's ``server_info()``, e.g. ``{"server": "redis 7.0.15"}``."""
    round_trip: float
    """Seconds, the best of a few reads of the broker."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class DeadLetterInfo:
    """A dead letter with its message decoded through the wire format, where it decodes.

    ``envelope`` is the decoded message (task, args, kwargs, ids, headers) or None;
    then ``undecodable`` says why, and ``raw`` shows the start of the bytes safely
    (a repr, truncated). ``task_id`` comes from the envelope, or from the record the
    message was bound to when the body does not decode.
    """

    queue: str
    message_id: str
    task_id: str | None
    task: str | None
    reason: str
    deliveries: int
    dead_at: float
    envelope: dict[str, Any] | None
    undecodable: str | None = None
    raw: str = ""
    size: int = 0
    record: str | None = field(default=None, repr=False)

    @classmethod
    def of(cls, letter: DeadLetter, wire: WireFormat) -> DeadLetterInfo:
        task_id = records.task_id_of_key(letter.record) if letter.record else None
        try:
            envelope = wire.decode(letter.body)
        except MessageRejected as exc:
            raw = repr(letter.body[:RAW_BODY_SHOWN])
            if len(letter.body) > RAW_BODY_SHOWN:
                raw += f" ... ({len(letter.body)} bytes)"
            return cls(
                queue=letter.queue,
                message_id=letter.message_id,
                task_id=task_id,
                task=None,
                reason=letter.reason,
                deliveries=letter.delivery_count,
                dead_at=letter.dead_at,
                envelope=None,
                undecodable=exc.reason,
                raw=raw,
                size=len(letter.body),
                record=letter.record,
            )
        shown = envelope.to_dict()
        shown.pop("v", None)
        return cls(
            queue=letter.queue,
            message_id=letter.message_id,
            task_id=envelope.id,
            task=envelope.task,
            reason=letter.reason,
            deliveries=letter.delivery_count,
            dead_at=letter.dead_at,
            envelope=shown,
            size=len(letter.body),
            record=letter.record,
        )

    def matches(self, wanted: str) -> bool:
        """Whether ``wanted`` is this letter's message id or task id."""
        return wanted in (self.message_id, self.task_id)

    def as_dict(self) -> dict[str, Any]:
        shown = asdict(self)
        del shown["record"]
        return shown


def signing_shown(keys: int) -> str:
    """``off``, or ``on, N key(s) verify``, as the banner and ``arbiter workers`` say it."""
    return f"on, {keys} key(s) verify" if keys else "off"


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        return None


def _float_or_none(value: Any) -> float | None:
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None
