"""Periodic tasks: ``@app.periodic("*/5 * * * *")`` or ``@app.periodic(every=...)``.

Exactly one firing per tick across any number of minions, with no beat process:
every running minion has a ticker thread, and firing a tick is one atomic
compare-and-set in the state store that creates the tick's task record only if
none exists, and pushes the task only then. Two minions (or twenty) firing the
same tick, whatever their clocks say, produce one task; a minion killed at any
moment holds no lock that others must wait out. Double firing is impossible by
construction, not by keeping a single scheduler alive.

The parts, one idea each:

* :mod:`~arbiter_core.periodic.schedule`: when a task is due (cron in a time
  zone, or an interval aligned on the epoch);
* :mod:`~arbiter_core.periodic.table`: a minion's periodic tasks and the
  missed-tick policy;
* :mod:`~arbiter_core.periodic.claim`: firing one tick, exactly once;
* :mod:`~arbiter_core.periodic.ticker`: the thread that fires due ticks;
* :mod:`~arbiter_core.periodic.listing`: what ``arbiter periodic`` shows.

Keys (logical, under the node's namespace): ``task:periodic:{name}:{tick}``, the
fired task's ordinary record, which is the claim; ``periodic-last:{name}``, the
latest tick fired (state: the tick; data: tick, task id, worker, time).
"""

from arbiter_core.periodic.claim import last_fired_key, tick_task_id
from arbiter_core.periodic.listing import PeriodicInfo, periodic_tasks
from arbiter_core.periodic.schedule import Cron, Every, Schedule
from arbiter_core.periodic.table import (
    MISSED_POLICIES,
    RUN_ONCE,
    SKIP,
    Missed,
    PeriodicTable,
    PeriodicTask,
)

__all__ = [
    "MISSED_POLICIES",
    "RUN_ONCE",
    "SKIP",
    "Cron",
    "Every",
    "Missed",
    "PeriodicInfo",
    "PeriodicTable",
    "PeriodicTask",
    "Schedule",
    "last_fired_key",
    "periodic_tasks",
    "tick_task_id",
]
