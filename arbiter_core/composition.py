"""Groups, callbacks, finalizers and pipes: tasks that start when other tasks end.

The Arbiter creates the plan (``plan_group``, ``plan_pipe``); minions carry it
out as each task reaches its final state (``advance``), so a plan finishes even
if the Arbiter that made it has gone away. Every step that must happen once
happens behind an atomic ``transition``:

* a group's record counts its unfinished members in its state (``pending:N``),
  decremented by compare-and-set; the minion that takes it to ``pending:0``
  starts what comes after;
* pipe steps, callbacks and finalizers are recorded ``waiting`` from the start
  and leave that state exactly once, so each is queued (or run) exactly once,
  whether the group's end or the finalizer's timeout comes first.

Each plan is recorded under its own id (``group:{id}``, for a pipe too): its kind
(group, squad, pipe), every task id and the role each plays, so ``Arbiter.status``
and ``kill_group`` work from the id alone, in any process (see :mod:`arbiter_core.plan_status`).

Every follow-up is idempotent, so a minion that finds a redelivered message's
task already final runs them again: a crash between storing an outcome and
advancing its group or pipe loses nothing.

Headers an envelope may carry: ``group`` (member of that group), ``then``
(``"callback"``/``"finalizer"`` of group ``of``), ``claim_finalizer`` (the
delayed copy of a finalizer, run only if still ``waiting``), ``pipe`` (the
steps after this one) and ``dag`` (a task of a distributed DAG, advanced by
:mod:`arbiter_core.dag.advance`, which is recorded under ``group:{id}`` too, kind
``dag``; see :mod:`arbiter_core.dag.plan`). Any task may carry ``eta`` and
``expires`` (see :mod:`arbiter_core.timing`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from arbiter_core import rate_limit, records, task_priority, timing, unique
from arbiter_core.dag import advance as dag
from arbiter_core.dag import headers as dag_headers
from arbiter_core.errors import FailedDependencyError, MessageRejected, SerializationError
from arbiter_core.node import Record
from arbiter_core.node.priority import MAX_PRIORITY, require_priority
from arbiter_core.submission import read_status, settle_unrun, submit, submit_many
from arbiter_core.unqueueable import fail_unqueueable
from arbiter_core.wire import Envelope, new_task_id

if TYPE_CHECKING:
    from arbiter_core.endpoint import Endpoint

WAITING = (records.WAITING,)


@dataclass(frozen=True)
class TaskCall:
    """One task to apply inside a group, squad or pipe: name, arguments, queue and
    ``priority`` (0 to 9, as ``apply``'s; checked here, so a bad level fails where it is
    given). The level travels in the task's header, so every push of it keeps it: the
    first, a pipe's next step, a callback or finalizer when it falls due, a retry."""

    name: str
    args: Sequence[Any] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    queue: str = "default"
    priority: int = 0

    def __post_init__(self) -> None:
        if type(self.priority) is not int or not 0 <= self.priority <= MAX_PRIORITY:
            require_priority(self.priority, f"TaskCall({self.name!r}, priority=...)")

    def envelope(self, reply_to: str | None, **headers: Any) -> Envelope:
        return Envelope(
            task=self.name,
            args=tuple(self.args),
            kwargs=dict(self.kwargs),
            queue=self.queue,
            reply_to=reply_to,
            headers={task_priority.HEADER: self.priority, **headers} if self.priority else headers,
        )


GROUP = "group"
SQUAD = "squad"
PIPE = "pipe"
DAG = "dag"
PLAN_KINDS = (GROUP, SQUAD, PIPE, DAG)
"""What a plan record (``group:{id}``) describes; ``kind`` in its data, ``group`` if absent."""

PIPE_STATE = "pipe"
"""The state of a pipe's plan record: nothing counts a pipe down (its steps carry the
rest of it, see ``_advance_pipe``), so its record only lists the steps, for
``Arbiter.status`` and ``kill_group`` by the pipe's id."""


@dataclass(frozen=True)
class GroupPlan:
    """What ``Arbiter.group`` (or ``squad``) created: the group id and every task id it
    will produce. ``Arbiter.status(plan)`` and ``kill_group(plan)`` take it whole."""

    id: str
    members: list[str]
    callback: str | None
    finalizer: str | None
    kind: str = GROUP

    @property
    def all_ids(self) -> list[str]:
        extra = [i for i in (self.callback, self.finalizer) if i is not None]
        return [*self.members, *extra]


class PipePlan(list[str]):
    """What ``Arbiter.pipe`` returns: the steps' ids, in order (a plain list of them),
    and the pipe's own ``id``, for ``Arbiter.status(id)`` and ``kill_group(id)``."""

    kind = PIPE

    def __init__(self, pipe_id: str, step_ids: Sequence[str]) -> None:
        super().__init__(step_ids)
        self.id = pipe_id

    @property
    def all_ids(self) -> list[str]:
        return list(self)

    def __repr__(self) -> str:
        return f"PipePlan(id={self.id!r}, steps={list(self)!r})"


# ---------------------------------------------------------------------------- planning
def plan_group(
    endpoint: Endpoint,
    calls: Sequence[TaskCall],
    reply_to: str,
    callback: TaskCall | None = None,
    finalizer: TaskCall | None = None,
    finalizer_timeout: float | None = None,
    kind: str = GROUP,
) -> GroupPlan:
    """Record the group, then push its members (and a delayed finalizer if it has a timeout)."""
    if not calls:
        raise ValueError("a group needs at least one task")
    group_id = new_task_id()
    members = [call.envelope(reply_to, group=group_id) for call in calls]
    for envelope in members:
        endpoint.wire.encode(envelope)  # every argument checked before anything is written
    then_callback = callback.envelope(reply_to, then="callback", of=group_id) if callback else None
    then_finalizer = (
        finalizer.envelope(reply_to, then="finalizer", of=group_id) if finalizer else None
    )
    for later in (then_callback, then_finalizer):
        if later is not None:  # their own arguments, checked now (a callback's grow later)
            endpoint.wire.encode(later)
    member_ids = [e.id for e in members]
    data = {
        "id": group_id,
        "kind": kind,
        "members": member_ids,
        "done": [],
        "callback": then_callback.to_dict() if then_callback else None,
        "finalizer": then_finalizer.to_dict() if then_finalizer else None,
    }
    endpoint.node.transition(
        records.group_key(group_id),
        Record(records.pending_state(len(members)), endpoint.wire.pack(data, "group")),
        ttl=endpoint.settings.result_ttl,
    )
    for later in (then_callback, then_finalizer):
        if later is not None:  # recorded from the start, so callers can wait on its id
            _record_waiting(endpoint, later)
    submit_many(endpoint, members)
    if then_finalizer is not None and finalizer_timeout is not None:
        delayed = _with_headers(then_finalizer, claim_finalizer=True)
        endpoint.node.push(
            delayed.queue,
            endpoint.wire.encode(delayed),
            not_before=time.time() + finalizer_timeout,
            priority=task_priority.of(delayed.headers),
        )
    return GroupPlan(
        id=group_id,
        members=member_ids,
        callback=then_callback.id if then_callback else None,
        finalizer=then_finalizer.id if then_finalizer else None,
        kind=kind,
    )


def plan_pipe(
    endpoint: Endpoint,
    calls: Sequence[TaskCall],
    reply_to: str,
    persistent_args: Sequence[Any] = (),
    persistent_kwargs: Mapping[str, Any] | None = None,
) -> PipePlan:
    """Record the pipe's steps under its own id, record every step after the first
    ``waiting``, and push the first; the minion that ends a step pushes the next."""
    if not calls:
        raise ValueError("a pipe needs at least one task")
    steps = [
        Envelope(
            task=call.name,
            args=(*call.args, *persistent_args),
            kwargs={**call.kwargs, **(persistent_kwargs or {})},
            queue=call.queue,
            reply_to=reply_to,
            headers=task_priority.headers(call.priority),
        )
        for call in calls
    ]
    for step in steps:
        endpoint.wire.encode(step)
    pipe_id = new_task_id()
    step_ids = [step.id for step in steps]
    data = {"id": pipe_id, "kind": PIPE, "members": step_ids, "callback": None, "finalizer": None}
    endpoint.node.transition(
        records.group_key(pipe_id),
        Record(PIPE_STATE, endpoint.wire.pack(data, "group")),
        ttl=endpoint.settings.result_ttl,
    )
    for step in steps[1:]:
        _record_waiting(endpoint, step)
    submit(endpoint, _with_rest(steps[0], steps[1:]))
    return PipePlan(pipe_id, step_ids)


def _with_rest(step: Envelope, rest: Sequence[Envelope]) -> Envelope:
    """Attach the steps still to come, so the minion that ends ``step`` can push the next."""
    return _with_headers(step, pipe=[r.to_dict() for r in rest]) if rest else step


# ---------------------------------------------------------------------------- advancing
def advance(
    endpoint: Endpoint,
    envelope: Envelope,
    state: str,
    result: Any,
    *,
    killed: bool = False,
    deferred: list[Envelope] | None = None,
) -> None:
    """Run after a task's final state was stored: by its minion, or by ``kill``.

    A killed callback does not start the finalizer early: the group's end does.
    ``deferred``: the DAG tasks this releases are added to it, for the caller to
    push (with ``expect`` waiting) before it acks, rather than pushed here.
    """
    headers = envelope.headers
    if "pipe" in headers:
        _advance_pipe(endpoint, envelope, state, result)
    if "group" in headers:
        _member_done(endpoint, str(headers["group"]), envelope.id)
    if headers.get("then") == "callback" and not killed:
        _fire_finalizer(endpoint, str(headers["of"]))
    if dag_headers.DAG in headers:  # a DAG task: see arbiter_core.dag.advance
        dag.advance(endpoint, envelope, state, deferred)


def _advance_pipe(endpoint: Endpoint, envelope: Envelope, state: str, result: Any) -> None:
    following = [Envelope.from_dict(step) for step in envelope.headers["pipe"]]
    if not following:
        return
    nxt, rest = following[0], following[1:]
    if state == records.SUCCEEDED:  # the previous result comes first, as in a Celery chain
        try:
            submit(endpoint, _with_rest(_with_args(nxt, (result, *nxt.args)), rest), expect=WAITING)
        except SerializationError as exc:  # e.g. the result is over max_message_size
            fail_unqueueable(endpoint, nxt, exc)
            for step in rest:  # the rest of the pipe can never run
                error = FailedDependencyError(step.task, dependency=nxt.task)
                settle_unrun(endpoint, step, records.FAILED, error)
        return
    for step in following:  # the rest of the pipe can never run
        error = FailedDependencyError(step.task, dependency=envelope.task)
        settle_unrun(endpoint, step, records.FAILED, error)


def _member_done(endpoint: Endpoint, group_id: str, member_id: str) -> None:
    """Count a member as done (once, even if called again) and start what follows at zero."""
    key = records.group_key(group_id)
    node = endpoint.node
    while True:
        current = node.get(key)
        if current is None:
            return  # expired with its result TTL: nothing left to start
        data = endpoint.wire.unpack(current.data)
        remaining = int(current.state.partition(":")[2])
        if member_id in data["done"]:
            break  # counted before a crash: only re-run what follows, if due
        remaining -= 1
        data["done"].append(member_id)
        written, _ = node.transition(
            key,
            Record(records.pending_state(remaining), endpoint.wire.pack(data, "group")),
            ttl=endpoint.settings.result_ttl,
            expect=(current.state,),
        )
        if written:
            break
    if remaining == 0:
        _group_done(endpoint, group_id, data)


def _group_done(endpoint: Endpoint, group_id: str, data: dict[str, Any]) -> None:
    callback = data.get("callback")
    if callback is None:
        _fire_finalizer(endpoint, group_id, data)
        return
    envelope = Envelope.from_dict(callback)
    stored = endpoint.node.get_many([records.task_key(i) for i in data["members"]])
    statuses = [  # read as status() reads them: a dead member's record is buried data
        read_status(endpoint, stored[records.task_key(i)], i)
        if records.task_key(i) in stored
        else None
        for i in data["members"]
    ]
    failed = [s for s in statuses if s is None or s["state"] != records.SUCCEEDED]
    if failed:
        culprit = failed[0]["name"] if failed[0] else "an expired member"
        error = FailedDependencyError(envelope.task, dependency=culprit)
        settle_unrun(endpoint, envelope, records.FAILED, error)
        _fire_finalizer(endpoint, group_id, data)
        return
    results = [s["result"] for s in statuses if s is not None]
    try:
        if submit(endpoint, _with_args(envelope, (*envelope.args, results)), expect=WAITING):
            return
    except SerializationError as exc:  # e.g. the results together are over max_message_size
        fail_unqueueable(endpoint, envelope, exc)
        _fire_finalizer(endpoint, group_id, data)  # it runs after a failed callback too
        return
    callback_now = endpoint.node.get(records.task_key(envelope.id))
    if callback_now is not None and callback_now.state in records.FINAL:
        _fire_finalizer(endpoint, group_id, data)  # the callback was killed: nothing else will


def _fire_finalizer(endpoint: Endpoint, group_id: str, data: dict[str, Any] | None = None) -> None:
    """Queue the group's finalizer, unless it was queued (or run by its timeout) already."""
    if data is None:
        current = endpoint.node.get(records.group_key(group_id))
        if current is None:
            return
        data = endpoint.wire.unpack(current.data)
    if data.get("finalizer") is not None:
        finalizer = Envelope.from_dict(data["finalizer"])
        try:
            submit(endpoint, finalizer, expect=WAITING)
        except SerializationError as exc:  # over this minion's limits, stricter than the planner's
            fail_unqueueable(endpoint, finalizer, exc)


def group_members(endpoint: Endpoint, group_id: str) -> list[str]:
    """Every task id of a group (or pipe), what runs after it first (callback, finalizer),
    then the members: killed in that order, the members' ends cannot start what comes after.
    A pipe's steps come last first, so no step ends to push the next one meanwhile."""
    data = plan_data(endpoint, endpoint.node.get(records.group_key(group_id)))
    if data is None:
        return []
    ids = [then["id"] for then in (data.get("callback"), data.get("finalizer")) if then]
    members = list(data["members"])
    if data.get("kind") == PIPE:
        members.reverse()
    return [*ids, *members]


def plan_data(endpoint: Endpoint, record: Record | None) -> dict[str, Any] | None:
    """A plan record's data (``id``, ``kind``, ``members``, ``callback``, ``finalizer``
    envelopes...); None if there is no record. Raises :class:`MessageRejected` if it
    does not decode or verify."""
    if record is None:
        return None
    data: dict[str, Any] = endpoint.wire.unpack(record.data)
    data.setdefault("kind", GROUP)  # recorded before plans had kinds
    return data


def _record_waiting(endpoint: Endpoint, envelope: Envelope) -> None:
    record = records.task_status(envelope, records.WAITING)
    endpoint.node.transition(
        records.task_key(envelope.id),
        Record(records.WAITING, endpoint.wire.pack(record, "record")),
        ttl=endpoint.settings.result_ttl,
        expect=(records.ABSENT,),
    )


def _with_headers(envelope: Envelope, **headers: Any) -> Envelope:
    return replace(envelope, headers={**envelope.headers, **headers})


def _with_args(envelope: Envelope, args: tuple[Any, ...]) -> Envelope:
    return replace(envelope, args=args)


def check_headers(headers: Mapping[str, Any]) -> None:
    """Refuse composition headers of the wrong shape before the task runs.

    Raises :class:`MessageRejected` naming the header, so a malformed plan is
    dead-lettered up front instead of failing in a follow-up after the task ran.
    Pipe steps must each be a valid envelope; their own headers are checked when
    they run. Other headers are the sender's business and pass untouched.
    """
    if not headers:
        return
    dag_headers.check(headers)  # ``dag``, and the per-call ``retry`` and ``timeout``
    timing.check(headers)  # ``eta`` and ``expires``
    unique.check(headers)  # ``unique``
    rate_limit.check(headers)  # ``rate_slot``
    for name in ("group", "of"):
        if name in headers and not (isinstance(headers[name], str) and headers[name]):
            raise MessageRejected(f"header {name!r} must be a non-empty id string")
    if "then" in headers:
        if headers["then"] not in ("callback", "finalizer"):
            raise MessageRejected("header 'then' must be 'callback' or 'finalizer'")
        if "of" not in headers:
            raise MessageRejected("header 'then' needs header 'of', the group id")
    if "claim_finalizer" in headers and not isinstance(headers["claim_finalizer"], bool):
        raise MessageRejected("header 'claim_finalizer' must be true or false")
    if "pipe" in headers:
        steps = headers["pipe"]
        if not isinstance(steps, list):
            raise MessageRejected(f"header 'pipe' must be a list of steps, not {_kind(steps)}")
        for index, step in enumerate(steps):
            try:
                Envelope.from_dict(step)
            except MessageRejected as exc:
                raise MessageRejected(f"header 'pipe', step {index}: {exc.reason}") from exc


def _kind(value: Any) -> str:
    return type(value).__name__


def has_follow_ups(envelope: Envelope) -> bool:
    """Whether ending this task advances a group or pipe (then the minion does it before acking)."""
    headers = envelope.headers
    if not headers:
        return False
    return (
        "pipe" in headers
        or "group" in headers
        or headers.get("then") == "callback"
        or dag_headers.DAG in headers
    )
