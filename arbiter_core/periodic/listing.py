"""What ``arbiter periodic`` lists: every periodic task, when it last fired and fires next.

The table comes from the live minions' heartbeats (each publishes its own, see
:meth:`~arbiter_core.minion.minion_run.MinionRun.heartbeat_info`), so no app has
to be imported to list it, plus the table of a :class:`~arbiter_core.minion.Minion`
given directly (its periodic tasks show even while no minion runs). The last run
is read from the state store (one round trip for all of them); the next is
computed from the schedule.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from arbiter_core.periodic.claim import LastFired, last_fired_key
from arbiter_core.periodic.schedule import schedule_from_dict

if TYPE_CHECKING:
    from arbiter_core.endpoint import Endpoint


@dataclass(frozen=True, slots=True)
class PeriodicInfo:
    """One periodic task as ``arbiter periodic`` shows it.

    ``cron`` and ``tz``, or ``every`` (seconds), say when it is due; ``schedule`` says
    it for a person. ``last_tick`` (and the task that ran it, ``last_task_id``, fired by
    ``last_worker`` at ``last_fired_at``) is None until it first fires; ``next_tick`` is
    the next tick after now. ``minions`` counts the live minions that fire it.
    Times are ``time.time()`` values.
    """

    name: str
    schedule: str
    cron: str | None
    every: float | None
    tz: str | None
    queue: str
    missed: str
    next_tick: float | None
    """None when this process cannot read the schedule (a zone it does not know)."""
    last_tick: float | None = None
    last_task_id: str | None = None
    last_worker: str | None = None
    last_fired_at: float | None = None
    minions: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def periodic_tasks(endpoint: Endpoint, *, now: float | None = None) -> list[PeriodicInfo]:
    """Every periodic task the live minions of ``endpoint``'s namespace fire, by name.

    ``endpoint`` is an Arbiter, or a Minion, whose own periodic tasks are listed too
    (first: an app's table is what it will fire), whether or not it runs.
    """
    from arbiter_core.minion.minion import Minion  # noqa: PLC0415 - the minion imports this

    published: dict[str, dict[str, Any]] = {}
    if isinstance(endpoint, Minion):
        for entry in endpoint.periodic_table.published(endpoint.queue):
            published[entry["name"]] = entry
    counts: dict[str, int] = {}
    for info in endpoint.node.live_workers().values():
        for entry in _published_by(info):
            published.setdefault(entry["name"], entry)
            counts[entry["name"]] = counts.get(entry["name"], 0) + 1
    names = sorted(published)
    found = endpoint.node.get_many([last_fired_key(name) for name in names])
    moment = time.time() if now is None else now
    listed = []
    for name in names:
        entry = published[name]
        last = LastFired.read(found.get(last_fired_key(name)), endpoint.wire)
        listed.append(
            PeriodicInfo(
                name=name,
                schedule=str(entry.get("schedule", "?")),
                cron=entry.get("cron"),
                every=entry.get("every"),
                tz=entry.get("tz"),
                queue=str(entry.get("queue", "?")),
                missed=str(entry.get("missed", "?")),
                next_tick=_next_tick(entry, moment),
                last_tick=None if last is None else last.tick,
                last_task_id=None if last is None else last.task_id,
                last_worker=None if last is None else last.worker,
                last_fired_at=None if last is None else last.fired_at,
                minions=counts.get(name, 0),
            )
        )
    return listed


def _next_tick(entry: dict[str, Any], moment: float) -> float | None:
    try:
        return schedule_from_dict(entry).next_after(moment)
    except (ValueError, KeyError):  # croniter's errors are ValueErrors, and so is ours
        return None


def _published_by(info: bytes) -> list[dict[str, Any]]:
    """The periodic entries of one heartbeat that read as such; the others are left out."""
    try:
        data = json.loads(info)
    except ValueError:
        return []
    entries = data.get("periodic") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return []
    return [
        entry
        for entry in entries
        if isinstance(entry, dict)
        and isinstance(entry.get("name"), str)
        and (isinstance(entry.get("cron"), str) or isinstance(entry.get("every"), (int, float)))
    ]
