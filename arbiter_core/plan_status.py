"""The aggregate status of a group, squad or pipe: what ``Arbiter.status(plan_id)`` returns.

Read from the state store alone (the plan's record lists every task id and the role
each plays, see :mod:`arbiter_core.composition`), so any process can ask by the id.
Two round trips: the plan's record, then every task's record at once.

A plan's status is a JSON-able dict, told apart from a task's by its ``kind``:

* ``id``, ``kind`` (``group``, ``squad``, ``pipe`` or ``dag``) and ``state``: ``pending`` while
  nothing has started, ``running`` until every task is final, then ``succeeded`` (all
  did), ``cancelled`` (those that did not were all killed) or ``failed``;
* counts that add up to ``total``: ``pending`` (waiting or queued), ``running`` and
  ``done`` (final, whatever the outcome); of the done, ``succeeded`` and ``failed``
  (failed, cancelled or dead);
* ``tasks``: every task's own status (as ``status(task_id)`` returns it), in plan order
  (members, then callback, then finalizer; a pipe's steps in order), each with its
  ``role``: ``task``, ``callback`` or ``finalizer``;
* ``result``: a group's or squad's member results, in order (None for one not
  succeeded); a pipe's last step's result; a DAG's ``{name: value}`` of the tasks
  that succeeded (and ``states``, ``{name: state}``, each task's ``dag_task`` name);
  ``error``: once the plan ended otherwise
  than ``succeeded``, the error of its first task that did not succeed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from arbiter_core import composition, records
from arbiter_core.errors import MessageRejected
from arbiter_core.node import Record
from arbiter_core.submission import read_status

if TYPE_CHECKING:
    from arbiter_core.endpoint import Endpoint

TASK = "task"
CALLBACK = "callback"
FINALIZER = "finalizer"

PlanLike = composition.GroupPlan | composition.PipePlan


def roles_of_data(data: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """``(task id, role, task name if known)`` for every task a plan record lists."""
    roles: list[tuple[str, str, str | None]] = [(i, TASK, None) for i in data["members"]]
    for role in (CALLBACK, FINALIZER):
        then = data.get(role)
        if then:
            roles.append((then["id"], role, then.get("task")))
    return roles


def roles_of_plan(plan: PlanLike) -> list[tuple[str, str, str | None]]:
    """The same, from the plan object ``group``/``squad``/``pipe`` returned."""
    if isinstance(plan, composition.PipePlan):
        return [(i, TASK, None) for i in plan]
    roles: list[tuple[str, str, str | None]] = [(i, TASK, None) for i in plan.members]
    roles += [(i, CALLBACK, None) for i in (plan.callback,) if i is not None]
    roles += [(i, FINALIZER, None) for i in (plan.finalizer,) if i is not None]
    return roles


def read_plan_status(endpoint: Endpoint, plan_id: str) -> dict[str, Any] | None:
    """The aggregate status of the plan ``plan_id``; None if no plan record has that id."""
    record = endpoint.node.get(records.group_key(plan_id))
    return None if record is None else plan_status(endpoint, plan_id, record)


def plan_status(
    endpoint: Endpoint, plan_id: str, record: Record | None, plan: PlanLike | None = None
) -> dict[str, Any]:
    """The aggregate status of plan ``plan_id`` from its ``record`` (or, if that is
    gone, from the ``plan`` object), reading every task's record in one round trip."""
    try:
        data = composition.plan_data(endpoint, record)
    except MessageRejected as exc:  # a tampered plan record lists nothing to trust
        if plan is None:
            return {
                "id": plan_id,
                "state": "unknown",
                "result": None,
                "error": records.error_info(exc),
            }
        data = None
    if data is None and plan is not None:
        return summarize(endpoint, plan_id, plan.kind, roles_of_plan(plan))
    data = data or {"kind": composition.GROUP, "members": []}
    status = summarize(endpoint, plan_id, str(data["kind"]), roles_of_data(data))
    if data["kind"] == composition.DAG:
        _name_dag_tasks(status, data)
    return status


def _name_dag_tasks(status: dict[str, Any], data: dict[str, Any]) -> None:
    """A DAG's status: each task's DAG name as ``dag_task``, ``states`` (name → state)
    and ``result`` (name → value of each task that succeeded)."""
    for task, name in zip(status["tasks"], data["names"], strict=True):
        task["dag_task"] = name
    status["states"] = {t["dag_task"]: t["state"] for t in status["tasks"]}
    status["result"] = {
        t["dag_task"]: t["result"] for t in status["tasks"] if t["state"] == records.SUCCEEDED
    }


def summarize(
    endpoint: Endpoint, plan_id: str, kind: str, roles: Sequence[tuple[str, str, str | None]]
) -> dict[str, Any]:
    keys = [records.task_key(task_id) for task_id, _, _ in roles]
    stored = endpoint.node.get_many(keys)
    tasks = []
    for (task_id, role, name), key in zip(roles, keys, strict=True):
        try:
            status = read_status(endpoint, stored.get(key), task_id)
        except MessageRejected as exc:  # one forged record does not hide the others
            status = {"id": task_id, "state": "unknown", "result": None}
            status["error"] = records.error_info(exc)
        if name is not None:
            status.setdefault("name", name)
        status["role"] = role
        tasks.append(status)
    return _aggregate(plan_id, kind, tasks)


def _aggregate(plan_id: str, kind: str, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    states = [task["state"] for task in tasks]
    done = sum(state in records.FINAL for state in states)
    succeeded = states.count(records.SUCCEEDED)
    running = states.count(records.RUNNING)
    unsuccessful = [
        task
        for task in tasks
        if task["state"] in records.FINAL and task["state"] != records.SUCCEEDED
    ]
    if done == len(tasks):
        if not unsuccessful:
            state = records.SUCCEEDED
        elif all(t["state"] == records.CANCELLED for t in unsuccessful):
            state = records.CANCELLED
        else:
            state = records.FAILED
    else:
        state = records.RUNNING if running or done else "pending"  # unknown: not written yet
    members = [t for t in tasks if t["role"] == TASK]
    if kind == composition.PIPE:
        last = members[-1] if members else None
        result = last["result"] if last is not None and last["state"] == records.SUCCEEDED else None
    else:
        result = [t["result"] if t["state"] == records.SUCCEEDED else None for t in members]
    ended_badly = done == len(tasks) and unsuccessful
    return {
        "id": plan_id,
        "kind": kind,
        "state": state,
        "total": len(tasks),
        "pending": len(tasks) - done - running,
        "running": running,
        "done": done,
        "succeeded": succeeded,
        "failed": len(unsuccessful),
        "result": result,
        "error": unsuccessful[0].get("error") if ended_badly else None,
        "tasks": tasks,
    }


def is_plan_status(status: dict[str, Any]) -> bool:
    """Whether ``status`` is a plan's aggregate (it has a ``kind``), not a task's."""
    return status.get("kind") in composition.PLAN_KINDS
