"""Firing a tick: one compare-and-set that creates the task and pushes it, or does nothing.

A tick's task has an id made of the task's name and the tick (:func:`tick_task_id`),
the same on every minion. Firing writes that task's ``queued`` record *only if no
record exists* and pushes the message only if it was written, in one atomic node
operation (``transition_and_push`` with ``expect=(ABSENT,)``). Of any number of
minions firing the same tick, on any clocks, exactly one writes; the others learn
the tick was taken and push nothing. The claim is the task's own record, so it
lives as long as the task's record does (``result_ttl``), far longer than the
moment in which minions race for it, and a claimer that dies holds nothing: the
task it pushed is an ordinary task, leased and redelivered like any other.

The claimer then moves the task's last-fired record (:func:`last_fired_key`)
forward, with a compare-and-set on the tick it holds, so a slow claimer of an
older tick never moves it back. That record only informs (``arbiter periodic``,
the ``run_once`` catch-up at start): exactly-once rests on the claim alone.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from arbiter_core import records
from arbiter_core.errors import MessageRejected
from arbiter_core.node import EventNode, Record
from arbiter_core.periodic.table import PeriodicTask
from arbiter_core.submission import announce, queued_item
from arbiter_core.wire import Envelope, WireFormat

if TYPE_CHECKING:  # the minion imports this package: no import of it at run time
    from arbiter_core.minion.run_context import RunContext

log = logging.getLogger("arbiter.periodic")

PERIODIC_HEADER = "periodic"
"""The header a fired task carries: its periodic task's name (``tick`` carries the tick)."""
TICK_HEADER = "tick"

LAST_FIRED_TTL = 40 * 24 * 3600.0
"""Seconds a last-fired record lives at least (longer for a schedule with longer periods)."""
LAST_FIRED_TRIES = 5
"""Compare-and-set attempts to move the last-fired record forward before leaving it."""


def tick_label(tick: float) -> str:
    """A tick as it appears in keys: whole seconds, or with milliseconds when it has them."""
    milliseconds = round(tick * 1000)
    if milliseconds % 1000 == 0:
        return str(milliseconds // 1000)
    return f"{milliseconds / 1000:.3f}"


def tick_task_id(name: str, tick: float) -> str:
    """The id of the task fired for ``tick`` of periodic task ``name``, on every minion."""
    return f"periodic:{name}:{tick_label(tick)}"


def last_fired_key(name: str) -> str:
    """The record of the latest tick fired for ``name``: its state is the tick's label."""
    return f"periodic-last:{name}"


@dataclass(frozen=True, slots=True)
class LastFired:
    """What a last-fired record holds: the tick, its task, who fired it and when."""

    tick: float
    task_id: str
    worker: str
    fired_at: float

    @classmethod
    def read(cls, record: Record | None, wire: WireFormat) -> LastFired | None:
        """The record decoded; None if absent or unreadable (written with another secret)."""
        if record is None:
            return None
        try:
            data: Any = wire.unpack(record.data)
            return cls(
                float(data["tick"]),
                str(data["task_id"]),
                str(data["worker"]),
                float(data["fired_at"]),
            )
        except (MessageRejected, KeyError, TypeError, ValueError):
            return None


def fire(context: RunContext, task: PeriodicTask, tick: float) -> bool:
    """Claim ``tick`` of ``task`` and push its run; False if another minion had it."""
    envelope = Envelope(
        task=task.name,
        args=task.args,
        kwargs=task.call_kwargs(tick),
        id=tick_task_id(task.name, tick),
        queue=task.queue or context.queue,
        headers={PERIODIC_HEADER: task.name, TICK_HEADER: tick},
    )
    [pushed] = context.node.transition_and_push_many(
        [queued_item(context, envelope, (records.ABSENT,))]
    )
    if not pushed:
        log.debug("periodic task %s: tick %s was fired by another minion", task.name, tick)
        return False
    log.info(
        "periodic task %s fired for tick %s",
        task.name,
        tick_label(tick),
        extra={"task": task.name, "task_id": envelope.id, "tick": tick},
    )
    announce(context, envelope)
    fired = LastFired(tick, envelope.id, context.worker_id, time.time())
    ttl = max(LAST_FIRED_TTL, 3 * task.schedule.period(tick))
    mark_fired(context.node, context.wire, task.name, fired, ttl)
    return True


def mark_fired(node: EventNode, wire: WireFormat, name: str, fired: LastFired, ttl: float) -> None:
    """Move ``name``'s last-fired record to ``fired``, unless it holds a later tick already."""
    key = last_fired_key(name)
    record = Record(tick_label(fired.tick), wire.pack(asdict(fired), "record"))
    current = node.get(key)
    for _ in range(LAST_FIRED_TRIES):
        known = LastFired.read(current, wire)
        if known is not None and known.tick >= fired.tick:
            return
        expect = (records.ABSENT,) if current is None else (current.state,)
        written, current = node.transition(key, record, ttl=ttl, expect=expect)
        if written:
            return
    log.debug("periodic task %s: the last-fired record kept moving; left as it is", name)
