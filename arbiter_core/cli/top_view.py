"""What ``arbiter top`` shows: a snapshot of the broker, and its rendering with rich.

Reading and drawing are kept apart so that the drawing is a pure function of a
:class:`TopSnapshot`: tests render hand-made snapshots (with and without the
heartbeat fields newer minions send) and compare text, without a terminal or a
broker. :class:`TopReader` takes a snapshot with a registry read and one
``queue_stats`` read per queue (``Arbiter.queues()``); the command decides how
often (at most once a second).

Heartbeats differ between minion versions: every field but ``id`` and ``queue``
may be missing, and a missing one is drawn as ``-``, never guessed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from arbiter_core.errors import BrokerError, UnsupportedOperationError
from arbiter_core.masking import mask_url

if TYPE_CHECKING:
    from arbiter_core.client import Arbiter
    from arbiter_core.inspection import QueueInfo

MISSING = "-"
"""What a cell shows for a value the worker's heartbeat does not carry."""

DONE_OUTCOMES = ("succeeded", "failed", "dead", "cancelled", "expired")
"""The counters summed into a queue's rate: tasks that ended (a retry is not an end)."""

DEAD_LETTER_LIMIT = 1000
"""Dead letters read per queue and refresh; more are shown as ``1000+``."""

FAILURES_SHOWN = 10


@dataclass(frozen=True)
class WorkerRow:
    """One live worker, from its heartbeat; None where the heartbeat has no such field."""

    id: str
    queue: str
    host: str | None = None
    pid: int | None = None
    pool: str | None = None
    slots: int | None = None
    busy: int | None = None
    started_at: float | None = None
    beat_at: float | None = None
    counts: Mapping[str, int] | None = None


@dataclass(frozen=True)
class QueueRow:
    """One queue: its depth (messages not yet acked), dead letters, serving workers and rate.

    ``ready``, ``in_flight`` and ``delayed`` are filled only by a reader that can
    tell them apart; ``rate`` (tasks ended per second) only once two snapshots of
    workers that count their outcomes have been compared.
    """

    name: str
    depth: int | None
    dead: int | None
    workers: int = 0
    busy: int | None = None
    slots: int | None = None
    rate: float | None = None
    ready: int | None = None
    in_flight: int | None = None
    delayed: int | None = None


@dataclass(frozen=True)
class FailureRow:
    """A recent failure a worker reported in its heartbeat."""

    worker: str
    id: str
    task: str
    error: str
    at: float | None


@dataclass(frozen=True)
class TopSnapshot:
    """Everything one refresh of ``arbiter top`` draws; ``error`` if the broker could not
    be read (the rows are then the last ones read)."""

    taken_at: float
    broker: str
    workers: tuple[WorkerRow, ...] = ()
    queues: tuple[QueueRow, ...] = ()
    failures: tuple[FailureRow, ...] = ()
    error: str | None = None


# ----------------------------------------------------------------------------- reading


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def parse_worker(worker_id: str, info: bytes) -> tuple[WorkerRow, list[FailureRow]]:
    """A worker's row and recent failures from its heartbeat; a field of the wrong type
    (or a heartbeat that is no JSON object) counts as absent, so one odd minion
    cannot stop ``top``."""
    try:
        data = json.loads(info)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = {}
    counts = data.get("counts")
    row = WorkerRow(
        id=worker_id,
        queue=_str(data.get("queue")) or MISSING,
        host=_str(data.get("host")),
        pid=_int(data.get("pid")),
        pool=_str(data.get("pool")),
        slots=_int(data.get("slots")),
        busy=_int(data.get("busy")),
        started_at=_float(data.get("started_at")),
        beat_at=_float(data.get("beat_at")),
        counts=(
            {str(k): v for k, v in counts.items() if _int(v) is not None}
            if isinstance(counts, dict)
            else None
        ),
    )
    failures = []
    recent = data.get("recent_failures")
    for item in recent if isinstance(recent, list) else ():
        if isinstance(item, dict):
            failures.append(
                FailureRow(
                    worker=worker_id,
                    id=_str(item.get("id")) or MISSING,
                    task=_str(item.get("task")) or MISSING,
                    error=_str(item.get("error")) or MISSING,
                    at=_float(item.get("at")),
                )
            )
    return row, failures


@dataclass
class RateMeter:
    """Tasks ended per second per queue, from the workers' counters between two snapshots.

    A worker seen for the first time, or whose counters went down (it restarted under
    the same id), adds nothing until the next snapshot: a rate is never made up.
    """

    _last: dict[str, tuple[float, int]] = field(default_factory=dict)

    def rates(self, workers: Iterable[WorkerRow], now: float) -> dict[str, float]:
        rates: dict[str, float] = {}
        seen: dict[str, tuple[float, int]] = {}
        for worker in workers:
            if worker.counts is None:
                continue
            done = sum(worker.counts.get(outcome, 0) for outcome in DONE_OUTCOMES)
            seen[worker.id] = (now, done)
            previous = self._last.get(worker.id)
            if previous is None:
                continue
            if now <= previous[0] or done < previous[1]:
                rates.setdefault(worker.queue, 0.0)
                continue
            rate = (done - previous[1]) / (now - previous[0])
            rates[worker.queue] = rates.get(worker.queue, 0.0) + rate
        self._last = seen
        return rates


class TopReader:
    """Takes :class:`TopSnapshot` s through an Arbiter: workers, queues, rates, failures.

    Queues come from ``Arbiter.queues()`` (ready, in flight, delayed, dead letters:
    the queues live workers serve and those holding messages), plus ``queues``, shown
    even while empty and unserved. On a backend without ``queue_stats`` it falls back
    to ``queue_size`` and a count of ``dead_letters`` per queue.
    """

    def __init__(self, arbiter: Arbiter, queues: Sequence[str] = ()) -> None:
        self.arbiter = arbiter
        self.node = arbiter.node
        self.queues = tuple(queues)
        self.meter = RateMeter()
        self._split = True  # until the node says it cannot tell ready from in flight
        self._last: TopSnapshot | None = None

    def watched_queues(self, workers: Iterable[WorkerRow] = ()) -> list[str]:
        """The given queues, then those live workers serve, each once."""
        names = dict.fromkeys(self.queues)
        names.update(dict.fromkeys(w.queue for w in workers if w.queue != MISSING))
        return list(names)

    def snapshot(self, now: float | None = None) -> TopSnapshot:
        """Read the broker once; on a broker error, the last rows with the error."""
        now = time.time() if now is None else now
        broker = f"{mask_url(self.node.url)}  namespace {self.node.namespace}"
        try:
            snapshot = self._read(now, broker)
        except BrokerError as exc:
            last = self._last or TopSnapshot(now, broker)
            return replace(last, taken_at=now, error=f"{type(exc).__name__}: {exc}")
        self._last = snapshot
        return snapshot

    def _read(self, now: float, broker: str) -> TopSnapshot:
        workers: list[WorkerRow] = []
        failures: list[FailureRow] = []
        for worker_id, info in sorted(self.node.live_workers().items()):
            row, recent = parse_worker(worker_id, info)
            workers.append(row)
            failures.extend(recent)
        rates = self.meter.rates(workers, now)
        names = self.watched_queues(workers)
        infos = self._queue_infos(names)
        queues = []
        for name in [*names, *sorted(set(infos) - set(names))]:
            serving = [w for w in workers if w.queue == name]
            stats = infos.get(name)
            queue = (
                QueueRow(
                    name=name,
                    depth=stats.ready + stats.in_flight + stats.delayed,
                    dead=stats.dead,
                    workers=stats.consumers,
                    ready=stats.ready,
                    in_flight=stats.in_flight,
                    delayed=stats.delayed,
                )
                if stats is not None
                else QueueRow(
                    name=name,
                    depth=self.node.queue_size(name),
                    dead=len(self.node.dead_letters(name, limit=DEAD_LETTER_LIMIT)),
                    workers=len(serving),
                )
            )
            queues.append(
                replace(
                    queue,
                    busy=_sum(w.busy for w in serving),
                    slots=_sum(w.slots for w in serving),
                    rate=rates.get(name),
                )
            )
        failures.sort(key=lambda f: f.at or 0.0, reverse=True)
        return TopSnapshot(
            taken_at=now,
            broker=broker,
            workers=tuple(workers),
            queues=tuple(queues),
            failures=tuple(failures[:FAILURES_SHOWN]),
        )

    def _queue_infos(self, names: Iterable[str]) -> dict[str, QueueInfo]:
        """``Arbiter.queues()`` and the named queues it left out; {} where unsupported."""
        if not self._split:
            return {}
        try:
            infos = dict(self.arbiter.queues())
            for name in names:
                if name not in infos:
                    infos[name] = self.arbiter.queue_info(name)
        except UnsupportedOperationError:
            self._split = False  # a backend without queue_stats: depth and dead letters
            return {}
        return infos


def _sum(values: Iterable[int | None]) -> int | None:
    """The sum, or None if any value is unknown (a partial sum would mislead)."""
    total = 0
    for value in values:
        if value is None:
            return None
        total += value
    return total


# ----------------------------------------------------------------------------- drawing


def _cell(value: object) -> str:
    return MISSING if value is None else str(value)


def _ratio(busy: int | None, slots: int | None) -> str:
    return f"{_cell(busy)}/{_cell(slots)}"


def _age(then: float | None, now: float) -> str:
    """``3s``, ``4m05s``, ``2h10m``: how long before ``now``."""
    if then is None:
        return MISSING
    seconds = max(0, int(now - then))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _count(counts: Mapping[str, int] | None, outcome: str) -> str:
    return MISSING if counts is None else str(counts.get(outcome, 0))


def _dead(value: int | None) -> str:
    if value is not None and value >= DEAD_LETTER_LIMIT:
        return f"{DEAD_LETTER_LIMIT}+"
    return _cell(value)


def workers_table(snapshot: TopSnapshot) -> Table:
    table = Table(title="Workers", title_justify="left", expand=True)
    for header in ("WORKER", "QUEUE", "POOL", "BUSY", "OK", "FAILED", "RETRIED", "DEAD"):
        table.add_column(header, no_wrap=header != "WORKER")
    table.add_column("BEAT", no_wrap=True)
    table.add_column("UP", no_wrap=True)
    for w in snapshot.workers:
        table.add_row(
            w.id,
            w.queue,
            _cell(w.pool),
            _ratio(w.busy, w.slots),
            _count(w.counts, "succeeded"),
            _count(w.counts, "failed"),
            _count(w.counts, "retried"),
            _count(w.counts, "dead"),
            _age(w.beat_at, snapshot.taken_at),
            _age(w.started_at, snapshot.taken_at),
        )
    if not snapshot.workers:
        table.add_row("(no live worker)", *[""] * 9)
    return table


def queues_table(snapshot: TopSnapshot) -> Table:
    table = Table(title="Queues", title_justify="left", expand=True)
    split = any(q.ready is not None for q in snapshot.queues)
    headers = ["QUEUE", "DEPTH"]
    headers += ["READY", "IN FLIGHT", "DELAYED"] if split else []
    headers += ["DEAD", "WORKERS", "BUSY", "TASKS/S"]
    for header in headers:
        table.add_column(header, no_wrap=True)
    for q in snapshot.queues:
        cells = [q.name, _cell(q.depth)]
        cells += [_cell(q.ready), _cell(q.in_flight), _cell(q.delayed)] if split else []
        rate = MISSING if q.rate is None else f"{q.rate:.1f}"
        cells += [_dead(q.dead), str(q.workers), _ratio(q.busy, q.slots), rate]
        table.add_row(*cells)
    if not snapshot.queues:
        table.add_row("(no queue)", *[""] * (len(headers) - 1))
    return table


def failures_table(snapshot: TopSnapshot) -> Table:
    table = Table(title="Recent failures", title_justify="left", expand=True)
    for header in ("AGO", "TASK", "ID", "WORKER", "ERROR"):
        table.add_column(header, no_wrap=header != "ERROR")
    for f in snapshot.failures:
        table.add_row(_age(f.at, snapshot.taken_at), f.task, f.id, f.worker, f.error)
    if not snapshot.failures:
        reported = any(w.counts is not None for w in snapshot.workers)
        table.add_row(MISSING, "(none)" if reported else "(not reported by these workers)")
    return table


def render(snapshot: TopSnapshot) -> RenderableType:
    """The whole screen for ``snapshot``: a pure function, so tests compare its text."""
    header = Text.assemble(
        ("arbiter top", "bold"),
        f"  {snapshot.broker}  ",
        time.strftime("%H:%M:%S", time.localtime(snapshot.taken_at)),
        ("  q quits", "dim"),
    )
    parts: list[RenderableType] = [header]
    if snapshot.error is not None:
        parts.append(Text(f"broker unreachable, showing the last read: {snapshot.error}", "red"))
    parts += [workers_table(snapshot), queues_table(snapshot), failures_table(snapshot)]
    return Group(*parts)
