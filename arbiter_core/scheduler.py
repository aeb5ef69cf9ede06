"""Dependency bookkeeping for a run: what may start now, and what can never run.

The :class:`Scheduler` is a pure state machine with no threads, pools or
brokers, so the local runner and a distributed DAG drive the same logic. Its shape
follows :class:`graphlib.TopologicalSorter` (``get_ready`` / ``done``), with the
parts a task runner needs on top:

Task names are any hashables (the original arbiter's rule); messages and attributes
list them sorted, by type and repr when a run mixes types that do not compare.

* the graph is validated up front: duplicate names raise; a missing
  dependency or a cycle does *not* raise but marks the culprits and everything
  downstream of them as unsatisfied, so every other task still runs;
* a failure cascades: every task downstream of a failed task is blocked with a
  :class:`~arbiter_core.errors.FailedDependencyError` naming it.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Hashable, Iterable

from arbiter_core.errors import (
    DependencyError,
    DuplicateTaskError,
    FailedDependencyError,
    UnsatisfiedDependencyError,
    sorted_names,
)
from arbiter_core.task import Task


class Scheduler:
    """Tracks a set of tasks through a run.

    Call :meth:`get_ready` for tasks whose dependencies all succeeded,
    :meth:`get_blocked` for tasks that will never run (with the reason), and
    :meth:`done` when a started task ends. :meth:`is_active` stays true until every
    task has either been reported done or handed out as blocked.
    """

    def __init__(self, tasks: Iterable[Task]) -> None:
        task_list = list(tasks)
        counts = Counter(t.name for t in task_list)
        duplicates = [name for name, n in counts.items() if n > 1]
        if duplicates:
            raise DuplicateTaskError(duplicates, first=_first_repeated(task_list))
        self.tasks: dict[Hashable, Task] = {t.name: t for t in task_list}
        self._dependents: dict[Hashable, list[Hashable]] = {name: [] for name in self.tasks}
        for task in task_list:
            for dep in task.dependencies:
                if dep in self._dependents:
                    self._dependents[dep].append(task.name)

        self._blocked: deque[tuple[Hashable, DependencyError]] = deque()
        self._closed: set[Hashable] = set()  # blocked, or reported done
        self._started: set[Hashable] = set()
        for name, error in self._find_unsatisfied().items():
            self._block(name, error)

        self._waiting: dict[Hashable, int] = {}
        self._ready: deque[Hashable] = deque()
        for task in task_list:
            if task.name in self._closed:
                continue
            self._waiting[task.name] = len(task.dependencies)
            if not task.dependencies:
                self._ready.append(task.name)

    # ------------------------------------------------------------------ queries
    def is_active(self) -> bool:
        """True while some task is not yet done nor handed out as blocked."""
        return len(self._closed) < len(self.tasks) or bool(self._blocked)

    def get_ready(self) -> list[Task]:
        """Return (once each) the tasks whose dependencies have all succeeded."""
        ready = [self.tasks[name] for name in self._ready]
        self._ready.clear()
        self._started.update(t.name for t in ready)
        return ready

    def get_blocked(self) -> list[tuple[Hashable, DependencyError]]:
        """Return (once each) the tasks that will never run, with the reason."""
        blocked = list(self._blocked)
        self._blocked.clear()
        return blocked

    # ------------------------------------------------------------------ updates
    def done(self, name: Hashable, success: bool) -> None:
        """Record that started task ``name`` ended; release or block its dependents."""
        if name not in self._started:
            raise ValueError(f"task {name!r} was not handed out by get_ready()")
        if name in self._closed:
            raise ValueError(f"task {name!r} was already reported done")
        self._closed.add(name)
        if success:
            for dependent in self._dependents[name]:
                if dependent in self._closed:
                    continue
                self._waiting[dependent] -= 1
                if self._waiting[dependent] == 0:
                    self._ready.append(dependent)
        else:
            self._cascade_failure(name)

    # ------------------------------------------------------------------ internals
    def _block(self, name: Hashable, error: DependencyError) -> None:
        self._closed.add(name)
        self._blocked.append((name, error))

    def _cascade_failure(self, failed: Hashable) -> None:
        queue = deque((dependent, failed) for dependent in self._dependents[failed])
        while queue:
            name, via = queue.popleft()
            if name in self._closed:
                continue
            self._block(name, FailedDependencyError(name, dependency=failed, via=via))
            queue.extend((dependent, name) for dependent in self._dependents[name])

    def _find_unsatisfied(self) -> dict[Hashable, UnsatisfiedDependencyError]:
        """Culprits (missing dependency, member of a cycle) and everything downstream."""
        missing: dict[Hashable, set[Hashable]] = {}
        for task in self.tasks.values():
            absent = {d for d in task.dependencies if d not in self.tasks}
            if absent:
                missing[task.name] = absent
        cycles: dict[Hashable, frozenset[Hashable]] = {}
        for component in _strongly_connected(self.tasks):
            for member in component:
                cycles[member] = component

        # Each affected task inherits the culprits of its affected dependencies:
        # propagate sets to a fixed point (the affected part may itself be cyclic).
        # Sets are shared, not copied: a 10,000-task ring stays linear, not quadratic.
        found: tuple[dict[Hashable, frozenset[Hashable]], dict[Hashable, frozenset[Hashable]]] = (
            {n: frozenset(m) for n, m in missing.items()},
            dict(cycles),
        )
        via: dict[Hashable, Hashable] = {}
        queue = deque(set(found[0]) | set(found[1]))
        while queue:
            name = queue.popleft()
            for dependent in self._dependents[name]:
                changed = False
                for culprits in found:
                    source = culprits.get(name)
                    if not source:
                        continue
                    old = culprits.get(dependent)
                    if old is None:
                        culprits[dependent] = source
                    elif source is not old and not source <= old:
                        culprits[dependent] = old | source
                    else:
                        continue
                    changed = True
                if dependent not in missing and dependent not in cycles:
                    via[dependent] = _first_name(via.get(dependent, name), name)
                if changed:
                    queue.append(dependent)
        ordered: dict[int, tuple[Hashable, ...]] = {}  # sort each distinct set once

        def sort_once(names: frozenset[Hashable]) -> tuple[Hashable, ...]:
            if id(names) not in ordered:
                ordered[id(names)] = sorted_names(names)
            return ordered[id(names)]

        empty: frozenset[Hashable] = frozenset()
        affected = set(found[0]) | set(found[1])
        return {
            name: UnsatisfiedDependencyError(
                name,
                missing=sort_once(found[0].get(name, empty)),
                cycle=sort_once(found[1].get(name, empty)),
                via=via.get(name, ""),
                # Its own dependencies that cannot be satisfied, as the original reported.
                unsatisfied={
                    d for d in self.tasks[name].dependencies if d in affected or d not in self.tasks
                },
            )
            for name in sorted_names(affected)
        }


def _first_name(a: Hashable, b: Hashable) -> Hashable:
    """The one of two names that :func:`~arbiter_core.errors.sorted_names` puts first."""
    try:
        return a if a <= b else b  # type: ignore[operator]  # tried, not assumed
    except TypeError:
        return sorted_names((a, b))[0]


def _first_repeated(tasks: list[Task]) -> Hashable:
    """The first name met a second time, going through ``tasks`` in order."""
    seen: set[Hashable] = set()
    for task in tasks:
        if task.name in seen:
            return task.name
        seen.add(task.name)
    raise ValueError("no task name is repeated")


def _strongly_connected(tasks: dict[Hashable, Task]) -> list[frozenset[Hashable]]:
    """Cycles of the dependency graph: components of two or more tasks, or a self-loop.

    Iterative Tarjan, so a 100,000-task chain does not hit the recursion limit.
    """
    index: dict[Hashable, int] = {}
    low: dict[Hashable, int] = {}
    on_stack: set[Hashable] = set()
    stack: list[Hashable] = []
    cycles: list[frozenset[Hashable]] = []
    counter = 0
    for root, root_task in tasks.items():
        if root in index:
            continue
        work: list[tuple[Hashable, list[Hashable]]] = [
            (root, [d for d in root_task.dependencies if d in tasks])
        ]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            if children:
                child = children.pop()
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, [d for d in tasks[child].dependencies if d in tasks]))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in tasks[node].dependencies:
                    cycles.append(frozenset(component))
    return cycles
