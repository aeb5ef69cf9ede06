"""The core modules a plugin may import: the API a backend, pool or observer can rely on.

A plugin author (and arbiter's own backends, which are plugins like any other)
imports from these modules only. Their public names, the ones without a leading
underscore, change only with a deprecation; every other ``arbiter_core`` module
is an implementation detail that may move or change in any release. The test
suite checks that ``arbiter_local`` and ``arbiter_redis`` keep to this list, so
it is the same surface a third-party plugin gets.
"""

from __future__ import annotations

PLUGIN_API: tuple[str, ...] = (
    "arbiter_core",  # tasks, results, the error hierarchy, the scheduler
    "arbiter_core.errors",
    "arbiter_core.node",  # the EventNode contract a broker implements
    "arbiter_core.settings",  # what a node factory receives
    "arbiter_core.plugins",  # hookimpl and the plugin registry
    "arbiter_core.pool",  # the WorkerPool contract
    "arbiter_core.deadlines",  # for writing a WorkerPool: the deadline watchdog,
    "arbiter_core.futures",  # and settling a future a kill or timeout may have settled
    "arbiter_core.task",
    "arbiter_core.result",
    "arbiter_core.scheduler",
    "arbiter_core.retry",  # RetryPolicy: how a failed task is tried again
    "arbiter_core.seconds",  # durations as seconds or timedelta, checked
    "arbiter_core.backoff",  # waits of a loop that retries, e.g. a reconnect
    "arbiter_core.masking",  # URLs safe to log, passwords hidden
    "arbiter_core.progress",  # the progress bar of a run, as run_tasks shows it
)
"""Module names, exactly: a plugin imports these and not their submodules."""
