"""What the minion that stored a DAG task's outcome does next: readiness, on the minions.

Run by :func:`arbiter_core.composition.advance` after the task's final state is
stored and before its message is acked, so a crash in between leaves the message to
be delivered again, and the minion that finds its task final runs this again. Every
step is idempotent:

* a success reports to each dependent (:mod:`~arbiter_core.dag.fan_in` for one
  with several dependencies); the dependent whose dependencies have all reported
  is released: its ``result_of`` arguments are filled in from the stored results,
  and ``waiting`` → ``queued`` and the push happen in one ``transition_and_push``,
  so it is pushed exactly once;
* any other end (failed, cancelled, dead) ends every descendant still ``waiting``
  with a :class:`~arbiter_core.errors.FailedDependencyError`, as the local runner
  does; a descendant that ended already keeps its end;
* whatever the end, the ``finally`` dependents (a group's finalizer) are reported
  to, those of the task itself and of each descendant the cascade ended: they run
  once everything they wait for has ended, however it ended.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from arbiter_core import records
from arbiter_core.dag import fan_in
from arbiter_core.dag.headers import DAG
from arbiter_core.dag.outcomes import failed_dependency_record
from arbiter_core.errors import SerializationError
from arbiter_core.node import Record, TransitionItem
from arbiter_core.submission import announce, queued_item, read_status
from arbiter_core.unqueueable import fail_unqueueable
from arbiter_core.wire import Envelope

if TYPE_CHECKING:
    from arbiter_core.endpoint import Endpoint

WAITING = (records.WAITING,)


NO_RESULT: Any = object()
"""``advance``'s ``result`` when the caller does not hold the value: it is read back."""


def reads_first(envelope: Envelope, state: str, ttl: float) -> list[TransitionItem]:
    """What :func:`advance` reads first after ``envelope``'s task ends in ``state``, as
    read-only ``transition_many`` items: after a success, the records of its dependents
    when each waits for it alone (a pipe's next step). The minion sends them with the
    outcome's own write, which spares the round trip that would read them; a waiting
    record read before the write is as good as one read after it (it does not change
    until released, and the release's compare-and-set sees if it did). With a fan-in
    among them, none: they are read with its report, in a round trip made anyway."""
    if state != records.SUCCEEDED:
        return []
    info = envelope.headers[DAG]
    dependents = (*info.get("then", ()), *info.get("finally", ()))
    if any(entry[2] > 1 for entry in dependents):
        return []
    return [(records.task_key(entry[1]), fan_in.READ, ttl, ()) for entry in dependents]


def advance(
    endpoint: Endpoint,
    envelope: Envelope,
    state: str,
    deferred: list[Envelope] | None = None,
    result: Any = NO_RESULT,
    read: Mapping[str, Record | None] | None = None,
) -> None:
    """Move the DAG on after ``envelope``'s task ended in ``state``; with ``deferred``,
    the tasks released are added to it, to be pushed by the caller, instead of pushed.
    ``result``: the value just stored, if the caller holds it; a dependent bound to it
    (a pipe's next step) then gets it without reading it back. ``read``: the records
    of :func:`reads_first`, by key, if the caller read them (None: absent)."""
    info = envelope.headers[DAG]
    if state == records.SUCCEEDED:
        known = {} if result is NO_RESULT else {envelope.id: result}
        dependents = [*info.get("then", ()), *info.get("finally", ())]
        report(endpoint, dependents, deferred, known, read)
    else:
        report(endpoint, info.get("finally", ()), deferred)
        cascade(endpoint, info)


def report(
    endpoint: Endpoint,
    dependents: Sequence[Sequence[Any]],
    deferred: list[Envelope] | None = None,
    known: Mapping[str, Any] | None = None,
    read: Mapping[str, Record | None] | None = None,
) -> None:
    """Report an end to each ``[name, id, count, index]`` dependent; release those whose
    dependencies have all reported (see :func:`release_many` for ``deferred``
    and ``known``; ``read``: dependents' records read already, by key)."""
    if not dependents:
        return
    read = read or {}
    ready = [dependent_id for _, dependent_id, count, _ in dependents if count == 1]
    several = [(dependent_id, count, index) for _, dependent_id, count, index in dependents]
    # Every dependent's record not read yet is read with the first reports, in one
    # round trip: a record read before its fan-in ends is still right, for a waiting
    # record does not change, and the release's compare-and-set refuses one that has.
    keys = [records.task_key(dependent_id) for _, dependent_id, _, _ in dependents]
    counted, stored = fan_in.report_many(
        endpoint, [item for item in several if item[1] > 1], read=[k for k in keys if k not in read]
    )
    stored.update((key, record) for key, record in read.items() if record is not None)
    release_many(endpoint, ready + counted, stored, deferred, known)


def release_many(
    endpoint: Endpoint,
    task_ids: list[str],
    stored: Mapping[str, Record] | None = None,
    deferred: list[Envelope] | None = None,
    known: Mapping[str, Any] | None = None,
) -> list[bool]:
    """Queue each waiting task with its dependencies' values; whether each was
    pushed (False: not waiting any more: released already, killed, or expired).

    One read of their records (none if ``stored`` holds them already, by key), one
    batch of pushes (plus, for tasks with ``result_of`` arguments, the read of those
    values, except those in ``known``, by task id). With ``deferred``, the envelopes
    are added to it instead of pushed (the caller pushes them, expecting ``waiting``),
    and every answer is False.

    A task whose message cannot be queued (a ``result_of`` value put it over
    ``max_message_size``, say) is not pushed: it fails with that error, and its
    descendants with a FailedDependencyError (see :func:`_unqueueable`)."""
    if not task_ids:
        return []
    if stored is None:
        stored = endpoint.node.get_many([records.task_key(task_id) for task_id in task_ids])
    envelopes: list[Envelope] = []
    which: list[int] = []
    for position, task_id in enumerate(task_ids):
        record = stored.get(records.task_key(task_id))
        if record is None or record.state != records.WAITING:
            continue
        envelope = Envelope.from_dict(endpoint.wire.unpack(record.data)["envelope"])
        bind = envelope.headers[DAG].get("bind")
        if bind:
            envelope = _bound(endpoint, envelope, bind, known or {})
        # Checked here, before the caller's push: its message may have grown by those
        # values, and this minion's limits may be stricter than the planner's.
        if deferred is not None and not _encodes(endpoint, envelope):
            continue
        envelopes.append(envelope)
        which.append(position)
    released = [False] * len(task_ids)
    if deferred is not None:
        deferred.extend(envelopes)
        return released
    items, queued = [], []
    for position, envelope in zip(which, envelopes, strict=True):
        try:  # each encoded once, as submit_many would, but one that fails fails alone
            items.append(queued_item(endpoint, envelope, WAITING))
        except SerializationError as exc:
            _unqueueable(endpoint, envelope, exc)
            continue
        queued.append((position, envelope))
    for (position, envelope), pushed in zip(
        queued, endpoint.node.transition_and_push_many(items), strict=True
    ):
        released[position] = pushed
        if pushed:
            announce(endpoint, envelope)
    return released


def _encodes(endpoint: Endpoint, envelope: Envelope) -> bool:
    try:
        endpoint.wire.encode(envelope)
    except SerializationError as exc:
        _unqueueable(endpoint, envelope, exc)
        return False
    return True


def _unqueueable(endpoint: Endpoint, envelope: Envelope, error: SerializationError) -> None:
    """Fail a released task whose message cannot be queued, then its descendants still
    waiting, as a failure that ran would: none of them waits for ever."""
    fail_unqueueable(endpoint, envelope, error)
    info = envelope.headers[DAG]
    report(endpoint, info.get("finally", ()))  # a group's finalizer runs after this end too
    cascade(endpoint, info)  # idempotent: only waiting ones are ended


def _bound(
    endpoint: Endpoint, envelope: Envelope, bind: list[list[Any]], known: Mapping[str, Any]
) -> Envelope:
    """``envelope`` with each ``result_of`` argument replaced by its dependency's value
    (from ``known``, else read from the dependency's record)."""
    values: dict[str, Any] = dict(known)
    keys = {records.task_key(entry[3]) for entry in bind if entry[3] not in values}
    stored = endpoint.node.get_many(list(keys)) if keys else {}
    for entry in bind:
        dependency_id = entry[3]
        if dependency_id in known:
            continue
        status = read_status(endpoint, stored.get(records.task_key(dependency_id)), dependency_id)
        if status["state"] != records.SUCCEEDED:  # cannot happen before the TTL runs out
            raise RuntimeError(f"dependency {entry[2]!r} has no stored result ({status['state']})")
        values[dependency_id] = status["result"]
    args = list(envelope.args)
    kwargs = dict(envelope.kwargs)
    lists: dict[int, list[Any]] = {}
    for where, key, _, dependency_id in bind:
        if where == "a":
            args[key] = values[dependency_id]
        elif where == "l":
            args[key] = lists.setdefault(key, [])
            lists[key].append(values[dependency_id])
        else:
            kwargs[key] = values[dependency_id]
    return replace(envelope, args=tuple(args), kwargs=kwargs)


def cascade(endpoint: Endpoint, failed: Mapping[str, Any]) -> None:
    """End every descendant of the failed task that still waits, breadth first, each
    with the failed task as ``dependency`` and its direct dependency as ``via``; then
    report the ends of the final ones to their ``finally`` dependents."""
    root = failed["name"]
    queue: deque[tuple[str, str]] = deque((t[1], failed["name"]) for t in failed.get("then", ()))
    seen: set[str] = set()
    node = endpoint.node
    # The ``finally`` dependents of every descendant that is final, ended now or before
    # (reports are idempotent, so a cascade run again after a crash finishes the job).
    finally_dependents: list[Sequence[Any]] = []
    while queue:
        batch = []
        while queue:
            task_id, via = queue.popleft()
            if task_id not in seen:
                seen.add(task_id)
                batch.append((task_id, via))
        stored = node.get_many([records.task_key(task_id) for task_id, _ in batch])
        for task_id, via in batch:
            record = stored.get(records.task_key(task_id))
            if record is None:
                continue
            status = read_status(endpoint, record, task_id)
            info = (status.get("headers") or {}).get(DAG) or {}
            final = record.state in records.FINAL
            if record.state == records.WAITING:
                final = _end_blocked(endpoint, task_id, record, info, root, via)
            if final:
                finally_dependents.extend(info.get("finally", ()))
            queue.extend((t[1], info["name"]) for t in info.get("then", ()))
    report(endpoint, finally_dependents)


def _end_blocked(
    endpoint: Endpoint, task_id: str, record: Record, info: Mapping[str, Any], root: str, via: str
) -> bool:
    data = endpoint.wire.unpack(record.data)
    envelope = Envelope.from_dict(data["envelope"])
    final = failed_dependency_record(endpoint, envelope, info["name"], root, via, time.time())
    written, _ = endpoint.node.transition(
        records.task_key(task_id), final, ttl=endpoint.settings.result_ttl, expect=WAITING
    )
    if written and envelope.reply_to:
        endpoint.node.emit(envelope.reply_to, records.reply_payload(task_id, final))
    return written
