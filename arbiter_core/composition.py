"""Groups, squads, callbacks, finalizers and pipes: how each maps onto a graph.

They run on the engine of distributed DAGs (:mod:`arbiter_core.dag`): the Arbiter
records the plan and pushes what can start; the minion that ends a task moves its
graph on before it acks (:mod:`arbiter_core.dag.advance`), so a plan finishes even if
the Arbiter that made it has gone away, and every step that must happen once happens
behind a compare-and-set (a fan-in count, a ``waiting`` → ``queued`` release). The
mapping (headers in :mod:`arbiter_core.dag.headers`):

* a pipe is a chain: step ``i`` depends on step ``i - 1`` and gets its result as its
  first argument (a bind to argument 0);
* a group's (or squad's) callback depends on every member and gets their results as
  one list after its own arguments (``"l"`` binds);
* a finalizer is a ``finally`` dependent of every member and of the callback: it waits
  for their ends, however they ended. With a timeout, a delayed copy of it (header
  ``claim_finalizer``) runs it if it is still ``waiting`` then.

Each plan is recorded under its own id (``group:{id}``): its kind (group, squad,
pipe), every task id and the role each plays, so ``Arbiter.status`` and
``kill_group`` work from the id alone, in any process (see
:mod:`arbiter_core.plan_status`). A DAG is recorded there too, kind ``dag`` (see
:mod:`arbiter_core.dag.plan`). Any task may carry ``eta`` and ``expires`` (see
:mod:`arbiter_core.timing`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from arbiter_core import rate_limit, records, task_priority, timing, unique
from arbiter_core.dag import advance as dag
from arbiter_core.dag import headers as dag_headers
from arbiter_core.dag import plan as dag_plan
from arbiter_core.errors import MessageRejected
from arbiter_core.node import Record, TransitionItem
from arbiter_core.node.priority import MAX_PRIORITY, require_priority
from arbiter_core.submission import submit, submit_many
from arbiter_core.wire import Envelope, new_task_id

if TYPE_CHECKING:
    from arbiter_core.endpoint import Endpoint


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
"""The state of a pipe's plan record (a group's is its kind): nothing counts a plan
down (its tasks' records and fan-ins do), so the record only lists the tasks, for
``Arbiter.status`` and ``kill_group`` by the plan's id."""


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
    """A group as a graph: the callback needs every member's success and gets their
    results as its last argument; the finalizer needs only their ends and the callback's.
    Recorded, then the members pushed (and a delayed finalizer if it has a timeout)."""
    if not calls:
        raise ValueError("a group needs at least one task")
    group_id = new_task_id()
    members = [call.envelope(reply_to) for call in calls]
    then_callback = callback.envelope(reply_to) if callback else None
    then_finalizer = finalizer.envelope(reply_to) if finalizer else None
    waits = len(members) + (then_callback is not None)  # what the finalizer waits for
    after_all = [[then_finalizer.task, then_finalizer.id, waits]] if then_finalizer else []
    if then_callback is not None or then_finalizer is not None:
        members = [
            _in_graph(
                envelope,
                group_id,
                then=[[then_callback.task, then_callback.id, len(members), index]]
                if then_callback
                else [],
                finally_=[[*entry, index] for entry in after_all],
            )
            for index, envelope in enumerate(members)
        ]
    if then_callback is not None:  # the members' results come last, as one list
        slot = len(then_callback.args)
        then_callback = _in_graph(
            replace(then_callback, args=(*then_callback.args, None)),
            group_id,
            finally_=[[*entry, len(members)] for entry in after_all],
            bind=[["l", slot, member.task, member.id] for member in members],
        )
    if then_finalizer is not None:
        then_finalizer = _in_graph(then_finalizer, group_id)
    later: list[Envelope] = []  # what waits, and for how many ends
    counts: list[int] = []
    if then_callback is not None:
        later.append(then_callback)
        counts.append(len(members))
    if then_finalizer is not None:
        later.append(then_finalizer)
        counts.append(waits)
    for envelope in (*members, *later):
        endpoint.wire.encode(envelope)  # every argument checked before anything is written
    member_ids = [e.id for e in members]
    data = {
        "id": group_id,
        "kind": kind,
        "members": member_ids,
        "callback": then_callback.to_dict() if then_callback else None,
        "finalizer": then_finalizer.to_dict() if then_finalizer else None,
    }
    _record_plan(endpoint, group_id, kind, data, later, counts)
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
    """A pipe as a chain: each step after the first needs the one before and gets its
    result as its first argument. Recorded, then the first step pushed."""
    if not calls:
        raise ValueError("a pipe needs at least one task")
    pipe_id = new_task_id()
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
    chained = [_chained(steps, index, pipe_id) for index in range(len(steps))]
    for step in chained:
        endpoint.wire.encode(step)
    step_ids = [step.id for step in chained]
    data = {"id": pipe_id, "kind": PIPE, "members": step_ids, "callback": None, "finalizer": None}
    _record_plan(endpoint, pipe_id, PIPE_STATE, data, chained[1:], [1] * (len(chained) - 1))
    submit(endpoint, chained[0])
    return PipePlan(pipe_id, step_ids)


def _chained(steps: Sequence[Envelope], index: int, pipe_id: str) -> Envelope:
    """Step ``index`` of a pipe, linked to the steps beside it (a lone step stays plain)."""
    step = steps[index]
    before = steps[index - 1] if index else None
    after = steps[index + 1] if index + 1 < len(steps) else None
    if before is None and after is None:
        return step
    if before is not None:  # the previous result comes first, as in a Celery chain
        step = replace(step, args=(None, *step.args))
    return _in_graph(
        step,
        pipe_id,
        then=[[after.task, after.id, 1, 0]] if after else [],
        bind=[["a", 0, before.task, before.id]] if before else [],
    )


def _in_graph(
    envelope: Envelope,
    plan_id: str,
    *,
    then: list[list[Any]] | None = None,
    finally_: list[list[Any]] | None = None,
    bind: list[list[Any]] | None = None,
) -> Envelope:
    """``envelope`` as a task of plan ``plan_id``'s graph (see :mod:`arbiter_core.dag.headers`)."""
    info: dict[str, Any] = {"id": plan_id, "name": envelope.task, "then": then or []}
    if finally_:
        info["finally"] = finally_
    if bind:
        info["bind"] = bind
    return _with_headers(envelope, **{dag_headers.DAG: info})


def _record_plan(
    endpoint: Endpoint,
    plan_id: str,
    state: str,
    data: dict[str, Any],
    waiting: Sequence[Envelope],
    counts: Sequence[int],
) -> None:
    """Record every task that waits (with how many ends it waits for), then the plan,
    in one batch; so callers can wait on any id from the start."""
    writes = [
        item
        for envelope, count in zip(waiting, counts, strict=True)
        for item in dag_plan.waiting_writes(endpoint, envelope, count)
    ]
    plan = Record(state, endpoint.wire.pack(data, "group"))
    writes.append((records.group_key(plan_id), plan, endpoint.settings.result_ttl, None))
    endpoint.node.transition_many(writes)


# ---------------------------------------------------------------------------- advancing
def advance(
    endpoint: Endpoint,
    envelope: Envelope,
    state: str,
    result: Any = dag.NO_RESULT,
    *,
    deferred: list[Envelope] | None = None,
    read: Mapping[str, Record | None] | None = None,
) -> None:
    """Run after a task's final state was stored: by its minion, or by ``kill``.

    Moves its plan's graph on (see :mod:`arbiter_core.dag.advance`). ``result``: the
    value stored (a success's), if the caller holds it: handed to a dependent bound to
    it (a pipe's next step) without reading it back. ``deferred``: the tasks this
    releases are added to it, for the caller to push (with ``expect`` waiting) before
    it acks, rather than pushed here. ``read``: the records of :func:`reads_first`,
    by key, if the caller read them.
    """
    if dag_headers.DAG in envelope.headers:
        dag.advance(endpoint, envelope, state, deferred, result, read)


def reads_first(envelope: Envelope, state: str, ttl: float) -> list[TransitionItem]:
    """Read-only ``transition_many`` items that :func:`advance` would read first after
    ``envelope``'s task ends in ``state``; the minion sends them with the outcome's write
    and passes what they read as ``read`` (see :func:`arbiter_core.dag.advance.reads_first`)."""
    if dag_headers.DAG not in envelope.headers:
        return []
    return dag.reads_first(envelope, state, ttl)


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


def _with_headers(envelope: Envelope, **headers: Any) -> Envelope:
    return replace(envelope, headers={**envelope.headers, **headers})


RETIRED_HEADERS = ("group", "then", "of", "pipe")
"""Headers of plans made before groups, squads and pipes were graphs. A message that
carries one is dead-lettered with that reason: run, it would never move its plan on."""


def check_headers(headers: Mapping[str, Any]) -> None:
    """Refuse composition headers of the wrong shape before the task runs.

    Raises :class:`MessageRejected` naming the header, so a malformed plan (or one
    of :data:`RETIRED_HEADERS`) is dead-lettered up front instead of failing in a
    follow-up after the task ran. Other headers are the sender's business and pass
    untouched.
    """
    if not headers:
        return
    dag_headers.check(headers)  # ``dag``, and the per-call ``retry`` and ``timeout``
    timing.check(headers)  # ``eta`` and ``expires``
    unique.check(headers)  # ``unique``
    rate_limit.check(headers)  # ``rate_slot``
    for name in RETIRED_HEADERS:
        if name in headers:
            raise MessageRejected(
                f"header {name!r} is from the retired composition engine (headers "
                "'group', 'then', 'of' and 'pipe'): groups, squads and pipes are graphs "
                "now (header 'dag'), so this minion cannot move that plan on; submit it again"
            )
    if "claim_finalizer" in headers and not isinstance(headers["claim_finalizer"], bool):
        raise MessageRejected("header 'claim_finalizer' must be true or false")


def has_follow_ups(envelope: Envelope) -> bool:
    """Whether ending this task moves a graph on (then the minion does it before acking)."""
    headers = envelope.headers
    return bool(headers) and dag_headers.DAG in headers
