"""``Arbiter.run_tasks`` and ``Arbiter.resume``: follow a DAG to its ``{name: Result}``.

The minions advance the DAG (see :mod:`arbiter_core.dag.advance`); this side only
starts it and waits. Its tasks announce their ends on the DAG's own event
(:func:`~arbiter_core.dag.plan.dag_event`), so whichever process waits for it, the
starter or one that resumes it after the starter died, is woken by completions; its
records in the state store are what the Results are built from.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from arbiter_core import composition, records
from arbiter_core.dag.outcomes import result_of_status, whole_run_timeout
from arbiter_core.dag.plan import DagPlan, check_tasks, dag_event, plan_dag, plan_of, push_roots
from arbiter_core.errors import WaitTimeoutError
from arbiter_core.progress import progress_bar
from arbiter_core.result import Result
from arbiter_core.scheduler import Scheduler
from arbiter_core.seconds import Seconds, to_seconds
from arbiter_core.wire import new_task_id

if TYPE_CHECKING:
    from arbiter_core.client import Arbiter


def run_tasks(
    arbiter: Arbiter,
    tasks: Iterable[Any],
    *,
    queue: str,
    timeout: Seconds | None,
    progress: bool | None,
    dag_id: str | None = None,
) -> dict[str, Result]:
    """Start the DAG on ``queue``'s minions and wait for every task's Result."""
    seconds = to_seconds(timeout, "run_tasks() timeout")
    task_list = check_tasks(tasks)
    Scheduler(task_list)  # duplicate names raise before anything is written
    if not task_list:
        return {}
    deadline = None if seconds is None else time.time() + seconds
    if dag_id is None:
        dag_id = new_task_id()
    elif not isinstance(dag_id, str) or not dag_id:
        raise TypeError(f"dag_id must be a non-empty string, got {dag_id!r}")
    elif arbiter.node.get(records.group_key(dag_id)) is not None:
        raise ValueError(f"the id {dag_id!r} is taken by another DAG, group or pipe")
    with arbiter._replies_on(dag_event(dag_id)):  # before the roots: no end is missed
        plan = plan_dag(arbiter, task_list, queue=queue, deadline=deadline, dag_id=dag_id)
        return collect(arbiter, plan, seconds, progress)


def resume(
    arbiter: Arbiter, dag_id: str, *, timeout: Seconds | None, progress: bool | None
) -> dict[str, Result]:
    """Wait for the DAG ``dag_id``, started by any process, and return its Results.

    Pushes the roots its starter may not have pushed before it died (never one that
    was); nothing else needs doing, since minions advance the DAG. Tasks that
    succeeded are not run again: their Results are read from their records.
    ``timeout`` bounds this wait; what is unfinished then gets a ``TaskTimeoutError``
    Result and is killed, as in ``run_tasks``.
    """
    seconds = to_seconds(timeout, "resume() timeout")
    data = composition.plan_data(arbiter, arbiter.node.get(records.group_key(dag_id)))
    if data is None or data.get("kind") != composition.DAG:
        raise LookupError(f"no DAG has the id {dag_id!r} (never started, or its records expired)")
    plan = plan_of(data)
    with arbiter._replies_on(dag_event(dag_id)):
        push_roots(arbiter, data)
        return collect(arbiter, plan, seconds, progress)


def collect(
    arbiter: Arbiter, plan: DagPlan, seconds: float | None, progress: bool | None
) -> dict[str, Result]:
    """Every task's Result, in the DAG's order; at ``seconds``, the rest time out."""
    by_id = {task_id: name for name, task_id in plan.ids.items()}
    results: dict[str, Result] = {}
    with progress_bar(len(by_id), progress) as bar:
        try:
            for status in arbiter.wait_for_tasks(plan.all_ids, timeout=seconds):
                name = by_id[status["id"]]
                results[name] = result_of_status(name, status, plan.timeouts.get(name))
                bar.update(1)
        except WaitTimeoutError:
            unfinished = [name for name in plan.ids if name not in results]
            results.update(whole_run_timeout(unfinished, seconds or 0.0))
            arbiter.kill_group(plan.id)  # what still waits or runs is stopped, as locally
    return {name: results[name] for name in plan.ids}
