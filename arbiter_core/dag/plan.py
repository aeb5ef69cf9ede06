"""Starting a DAG on the minions: every task recorded, then the roots pushed.

What is written, in this order, so that minions can advance the DAG alone (see
:mod:`arbiter_core.dag.advance`) and any process can follow or resume it:

1. every task that can never run (a missing dependency, a cycle, and what lies
   behind them, as the core :class:`~arbiter_core.scheduler.Scheduler` finds them)
   gets its final ``failed`` record with its ``UnsatisfiedDependencyError``;
2. every task with dependencies gets a ``waiting`` record holding its envelope,
   and one with several a fan-in record (:mod:`~arbiter_core.dag.fan_in`);
3. the DAG's own record (``group:{dag id}``, kind ``dag``): every task's name and id,
   in the order given, and the roots' envelopes;
4. the roots (tasks without dependencies) are pushed.

If the starter dies before step 4 ends, :func:`push_roots` (``Arbiter.resume``)
pushes them from step 3's record; a root pushed already is not pushed again.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arbiter_core import records
from arbiter_core.dag import fan_in
from arbiter_core.dag.headers import DAG, RETRY, TIMEOUT, retry_header
from arbiter_core.dag.outcomes import unsatisfied_record
from arbiter_core.errors import TaskDefinitionError, UnsatisfiedDependencyError
from arbiter_core.minion.task_function import TaskFunction
from arbiter_core.node import Record, TransitionItem
from arbiter_core.retry import NO_RETRY
from arbiter_core.scheduler import Scheduler
from arbiter_core.submission import submit_many
from arbiter_core.task import ResultOf, Task
from arbiter_core.wire import Envelope, new_task_id

if TYPE_CHECKING:
    from arbiter_core.endpoint import Endpoint

KIND = "dag"
"""The ``kind`` of a DAG's plan record, beside ``group``, ``squad`` and ``pipe``."""
STATE = "dag"
"""The state of a DAG's plan record: it lists the tasks; nothing counts it down."""


@dataclass(frozen=True)
class DagPlan:
    """A started DAG: its ``id``, and each task's name and id, in the order given."""

    id: str
    ids: dict[str, str]
    timeouts: dict[str, float | None]
    kind: str = KIND

    @property
    def names(self) -> list[str]:
        return list(self.ids)

    @property
    def all_ids(self) -> list[str]:
        return list(self.ids.values())


def dag_event(dag_id: str) -> str:
    """The event the DAG's tasks announce their ends on: any process may follow it."""
    return records.reply_event(f"dag-{dag_id}")


def registered_name(task: Task) -> str:
    """The name of the task the minions registered, from ``task.function``."""
    function: Any = task.function
    if isinstance(function, TaskFunction):
        return function.name
    if isinstance(function, str) and function:
        return function
    raise TypeError(
        f"task {task.name!r}: Arbiter.run_tasks() runs tasks registered on minions; give "
        f"create_task() the registered name or the @app.task function, not {function!r}"
    )


def check_tasks(tasks: Iterable[Any]) -> list[Task]:
    """The tasks, refused before anything is written if one cannot run on minions."""
    task_list = list(tasks)
    for task in task_list:
        if not isinstance(task, Task):
            raise TypeError(f"run_tasks() takes tasks made by create_task(), got {task!r}")
        for name in (task.name, *task.dependencies):
            if not isinstance(name, str) or not name:
                raise TaskDefinitionError(
                    f"task {task.name!r}: distributed task names must be non-empty strings "
                    f"(they are stored and sent as text), got {name!r}"
                )
        registered_name(task)
    return task_list


def plan_dag(
    endpoint: Endpoint,
    tasks: Iterable[Any],
    *,
    queue: str,
    deadline: float | None,
    dag_id: str | None = None,
) -> DagPlan:
    """Record the DAG and push its roots (see the module docstring); raises before
    writing anything for a mistake in the call (duplicate names, bad arguments)."""
    task_list = check_tasks(tasks)
    scheduler = Scheduler(task_list)  # duplicates raise here
    blocked: dict[Hashable, UnsatisfiedDependencyError] = {
        name: error
        for name, error in scheduler.get_blocked()
        if isinstance(error, UnsatisfiedDependencyError)
    }
    dag_id = dag_id or new_task_id()
    ids = {str(t.name): new_task_id() for t in task_list}
    needs = {str(t.name): sorted(str(d) for d in t.dependencies) for t in task_list}
    then: dict[str, list[list[Any]]] = {name: [] for name in ids}
    for name, deps in needs.items():
        if name in blocked:
            continue
        for index, dep in enumerate(deps):
            then[dep].append([name, ids[name], len(deps), index])
    reply_to = dag_event(dag_id)
    envelopes = {
        str(t.name): _envelope(t, dag_id, ids, then[str(t.name)], queue, reply_to, deadline)
        for t in task_list
    }
    for envelope in envelopes.values():
        endpoint.wire.encode(envelope)  # every argument checked before anything is written
    node, ttl = endpoint.node, endpoint.settings.result_ttl
    now = time.time()
    roots = []
    writes: list[TransitionItem] = []  # steps 1 to 3, in order, in one batch
    for task in task_list:
        name = str(task.name)
        envelope = envelopes[name]
        key = records.task_key(envelope.id)
        if task.name in blocked:
            record = unsatisfied_record(endpoint, envelope, blocked[task.name], now)
            writes.append((key, record, ttl, (records.ABSENT,)))
        elif not needs[name]:
            roots.append(envelope)
        else:
            writes.extend(waiting_writes(endpoint, envelope, len(needs[name])))
    data = {
        "id": dag_id,
        "kind": KIND,
        "members": list(ids.values()),
        "names": list(ids),
        "timeouts": {str(t.name): t.timeout for t in task_list},
        "roots": [e.to_dict() for e in roots],
        "callback": None,
        "finalizer": None,
    }
    plan = Record(STATE, endpoint.wire.pack(data, "group"))
    writes.append((records.group_key(dag_id), plan, ttl, None))  # last: after every task's
    node.transition_many(writes)
    submit_many(endpoint, roots)
    return DagPlan(dag_id, ids, {str(t.name): t.timeout for t in task_list})


def waiting_writes(endpoint: Endpoint, envelope: Envelope, count: int) -> list[TransitionItem]:
    """The records of a task that waits for ``count`` ends: its fan-in if ``count`` > 1,
    and its ``waiting`` record holding its envelope (written only where none is)."""
    ttl = endpoint.settings.result_ttl
    writes: list[TransitionItem] = []
    if count > 1:
        writes.append((fan_in.fan_in_key(envelope.id), fan_in.initial(count), ttl, None))
    status = records.task_status(envelope, records.WAITING)
    status["envelope"] = envelope.to_dict()
    waiting = Record(records.WAITING, endpoint.wire.pack(status, "record"))
    writes.append((records.task_key(envelope.id), waiting, ttl, (records.ABSENT,)))
    return writes


def push_roots(endpoint: Endpoint, data: dict[str, Any]) -> None:
    """Push the roots a starter that died may not have pushed (each at most once)."""
    roots = [Envelope.from_dict(root) for root in data.get("roots", ())]
    if roots:
        submit_many(endpoint, roots)


def plan_of(data: dict[str, Any]) -> DagPlan:
    """The :class:`DagPlan` a DAG's plan record describes."""
    ids = dict(zip(data["names"], data["members"], strict=True))
    return DagPlan(str(data["id"]), ids, dict(data.get("timeouts") or {}))


def _envelope(
    task: Task,
    dag_id: str,
    ids: dict[str, str],
    then: Sequence[list[Any]],
    queue: str,
    reply_to: str,
    deadline: float | None,
) -> Envelope:
    name = str(task.name)
    bind: list[list[Any]] = []
    args: list[Any] = []
    for index, arg in enumerate(task.args):
        if isinstance(arg, ResultOf):  # filled in when released (see dag.advance)
            bind.append(["a", index, str(arg.task), ids.get(str(arg.task), "-")])
        args.append(None if isinstance(arg, ResultOf) else arg)
    kwargs: dict[str, Any] = {}
    for key, value in task.kwargs.items():
        if isinstance(value, ResultOf):
            bind.append(["k", key, str(value.task), ids.get(str(value.task), "-")])
        kwargs[key] = None if isinstance(value, ResultOf) else value
    info: dict[str, Any] = {"id": dag_id, "name": name, "then": list(then)}
    if bind:
        info["bind"] = bind
    headers: dict[str, Any] = {DAG: info}
    if task.retry != NO_RETRY:
        headers[RETRY] = retry_header(task.retry)
    if task.timeout is not None:
        headers[TIMEOUT] = task.timeout
    return Envelope(
        task=registered_name(task),
        args=tuple(args),
        kwargs=kwargs,
        id=ids[name],
        queue=queue,
        deadline=deadline,
        reply_to=reply_to,
        headers=headers,
    )
