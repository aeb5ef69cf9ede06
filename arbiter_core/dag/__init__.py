"""Distributed DAGs: ``Arbiter.run_tasks`` runs a ``create_task`` graph on minions.

One idea per module:

* :mod:`~arbiter_core.dag.plan`: check the tasks, record the DAG, push its roots;
* :mod:`~arbiter_core.dag.advance`: on the minion that ends a task, release its
  dependents or end its descendants (readiness advances on the minions);
* :mod:`~arbiter_core.dag.fan_in`: a task with several dependencies released once;
* :mod:`~arbiter_core.dag.headers`: the envelope headers a DAG task carries;
* :mod:`~arbiter_core.dag.outcomes`: records of tasks that never ran, and Results;
* :mod:`~arbiter_core.dag.run`: wait for a DAG (started here, or resumed) and
  return ``{name: Result}``.

Nothing here is imported by this package itself, so the minion's modules can use
:mod:`~arbiter_core.dag.advance` without importing the client's side.
"""
