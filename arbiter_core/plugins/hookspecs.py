"""Every hook an arbiter plugin can implement: the whole extension surface in one file.

A plugin is a module (or any object) with functions named after these hooks and
decorated with :data:`hookimpl`; it is found through the ``arbiter`` entry-point
group of its distribution::

    [project.entry-points.arbiter]
    myplugin = "mypackage.arbiter_plugin"

Hooks are always called with keyword arguments, and an implementation may accept
any subset of a hook's arguments, so a hook can grow an argument without
breaking older plugins. Implementations are checked against these specs when the
plugin is loaded: a misspelt hook or argument name is reported then, naming the
plugin, rather than silently never called. See ``docs/plugins.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pluggy

from arbiter_core.node import EventNode
from arbiter_core.pool import WorkerPool
from arbiter_core.settings import Settings

PROJECT = "arbiter"
"""The pluggy project name, which is also the entry-point group plugins register in."""

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

NodeFactory = Callable[[str, Settings], EventNode]
"""``factory(url, settings) -> EventNode``: builds a node for one URL."""
PoolFactory = Callable[[int], WorkerPool]
"""``PoolClass(slots) -> WorkerPool``: builds a pool with that many slots."""


# --- backends ---------------------------------------------------------------------------------


@hookspec
def arbiter_node_schemes() -> Mapping[str, NodeFactory | str]:
    """Declare the broker URL schemes this plugin serves.

    Called when a :class:`~arbiter_core.plugins.PluginRegistry` first needs the
    schemes (``connect()``, ``arbiter plugins``), and again only after another
    plugin is registered on it: the answer is cached and should not change.

    Return a mapping ``{scheme: factory}``, schemes lower-case and without
    ``://``. A factory is either a callable ``factory(url: str, settings:
    Settings) -> EventNode`` or, preferably, a ``"package.module:attribute"``
    string naming one; a string is imported only when a URL with that scheme is
    used, so a plugin whose broker client is an optional extra can still list
    its schemes, and importing the registry stays cheap (kombu's
    ``TRANSPORT_ALIASES`` work the same way). If the import fails, the user is
    told which plugin and which module are missing.

    The factory receives the URL as the user wrote it and the resolved
    :class:`~arbiter_core.settings.Settings` (namespace, lease, ...). It should
    raise :class:`~arbiter_core.errors.ConfigurationError` for a malformed URL.
    """
    raise NotImplementedError  # a spec is never called


@hookspec
def arbiter_worker_pools() -> Mapping[str, type[Any] | PoolFactory | str]:
    """Declare the worker pools this plugin provides, by name (``"thread"``, ``"process"``).

    Called when a registry first needs the pools (a Minion starting), and cached
    like :func:`arbiter_node_schemes`.

    Return ``{name: pool}`` where ``pool`` is a class (or callable) constructed
    as ``pool(slots)`` whose instances honour
    :class:`~arbiter_core.pool.WorkerPool`, or a lazy ``"module:Class"`` string
    imported only when that pool is chosen.
    """
    raise NotImplementedError


@hookspec
def arbiter_public_names() -> Mapping[str, str]:
    """Declare names that ``from arbiter import NAME`` should find in this plugin.

    Return ``{name: "package.module:attribute"}``, each name a Python identifier
    (``{"RedisEventNode": "arbiter_redis.node:RedisEventNode"}``). The ``arbiter``
    package resolves such a name only when it is first looked up, and only the
    names some plugin declared, so ``import arbiter`` imports no backend. A name
    that ``arbiter`` itself defines always wins; a name two plugins declare is
    reported as a conflict and the first registered one is used.
    """
    raise NotImplementedError


# --- task lifecycle observers -------------------------------------------------------------------
#
# For metrics, tracing and audit plugins. Every observer is called synchronously,
# on the thread where the event happens (a Minion's worker thread, or the thread
# that called Arbiter.apply), so it must return quickly: hand slow work (network
# exports) to a queue of your own. An exception raised by an observer is logged
# with the plugin's name and never reaches the task or the other observers.
# Observers return None and cannot be wrappers.
#
# Every hook whose name starts with one of OBSERVER_PREFIXES is an observer: arbiter
# calls it with PluginRegistry.notify(hook_name, **arguments), the arguments being
# exactly the spec's, so a new observer needs only its spec here.

OBSERVER_PREFIXES = ("arbiter_task_", "arbiter_minion_")
"""Hooks named ``arbiter_task_*`` (a task's life) or ``arbiter_minion_*`` (a minion's
run) are observers."""


@hookspec
def arbiter_task_submitted(task_id: str, name: str, queue: str, eta: float | None) -> None:
    """A task was accepted by the broker (``Arbiter.apply`` and friends).

    ``task_id`` is the id returned to the caller, ``name`` the registered task
    name, ``queue`` the queue it was pushed to, and ``eta`` the ``time.time()``
    before which it will not run, or None for "as soon as possible".
    """


@hookspec
def arbiter_task_started(task_id: str, name: str, queue: str, attempt: int, worker_id: str) -> None:
    """A worker began running one attempt of a task.

    ``attempt`` is 1 for the first run and grows with each retry; ``worker_id``
    is the Minion's id as listed by ``Arbiter.workers()``.
    """


@hookspec
def arbiter_task_retried(
    task_id: str, name: str, queue: str, attempt: int, error: BaseException, delay: float
) -> None:
    """An attempt failed and the task will run again.

    ``attempt`` is the attempt that failed, ``error`` what it raised, and
    ``delay`` the seconds before the next attempt becomes deliverable.
    """


@hookspec
def arbiter_task_succeeded(
    task_id: str, name: str, queue: str, attempt: int, value: object, duration: float
) -> None:
    """A task returned; its result is stored.

    ``value`` is the return value (do not mutate it), ``duration`` the seconds
    the successful attempt took.
    """


@hookspec
def arbiter_task_failed(
    task_id: str, name: str, queue: str, attempt: int, error: BaseException, duration: float
) -> None:
    """A task failed for good: its last attempt raised, timed out or its worker was lost.

    ``error`` is the final exception (for example a
    :class:`~arbiter_core.errors.TaskTimeoutError` or
    :class:`~arbiter_core.errors.WorkerLostError`), ``duration`` the seconds
    the last attempt took.
    """


@hookspec
def arbiter_task_cancelled(task_id: str, name: str, queue: str, reason: str) -> None:
    """A task was killed or cancelled before finishing; ``reason`` says by whom or why."""


@hookspec
def arbiter_task_expired(task_id: str, name: str, queue: str, expires: float) -> None:
    """A task's ``expires`` (a ``time.time()``) passed before a worker started it.

    It ended in state ``expired`` without running; called by the minion that found it.
    """


@hookspec
def arbiter_task_dead_lettered(task_id: str, name: str, queue: str, reason: str) -> None:
    """A task's message went to the dead letters; it will not run unless requeued.

    Called by the minion that refused it (bad signature, unknown task, malformed
    envelope: ``name`` is then what the envelope said), or, when the backend buried
    it because its deliveries were spent, by one minion of its queue. A message that
    did not even decode has no task: it is logged, but not told here.
    """


# --- minion lifecycle observers ------------------------------------------------------------------


@hookspec
def arbiter_minion_started(
    worker_id: str, queue: str, slots: int, pool: str, node: EventNode, settings: Settings
) -> None:
    """A Minion's ``run`` began, before its first pull.

    ``node`` is the EventNode it serves (read queue sizes from it, never write),
    ``settings`` its resolved settings, ``pool`` the pool's name. A plugin that
    serves something for the run's lifetime (a ``/metrics`` endpoint) starts it here
    and stops it in :func:`arbiter_minion_stopped`; it must not block.
    """


@hookspec
def arbiter_minion_stopped(worker_id: str, queue: str) -> None:
    """A Minion's ``run`` ended: its in-flight work finished or was given back."""
