"""The envelope headers of a DAG task, and the per-call options ``create_task`` gives it.

``dag`` (every task of a graph: a DAG's, and a group's, squad's or pipe's, which are
graphs on the same engine, see :mod:`arbiter_core.composition`)::

    {"id": plan id, "name": the task's name in the graph,
     "then": [[dependent name, dependent task id, its dependency count, my index
               among its dependencies], ...],
     "finally": [[the same, for a dependent that runs whatever my end], ...],
     "bind": [["a", arg index, dependency name, dependency task id]
              | ["k", kwarg name, dependency name, dependency task id]
              | ["l", arg index, dependency name, dependency task id], ...]}

``then`` and ``finally`` are what the minion that ends the task advances (see
:mod:`arbiter_core.dag.advance`): a ``then`` dependent needs my success (it fails
with a FailedDependencyError otherwise), a ``finally`` dependent only my end (a
group's finalizer). The two share one count per dependent. ``bind`` says which
arguments are a dependency's value (:func:`~arbiter_core.task.result_of`), filled in
when the task is released; ``"l"`` entries make the argument at that index a list
of their values, in the order listed (a group callback's member results).

``retry`` (a :class:`~arbiter_core.retry.RetryPolicy` as a dict) and ``timeout``
(seconds) override the registered task's own options for this call; ``create_task``
sends them only when it was given ``retries``/``delay``/``retry`` or ``timeout``.
Any task may carry them, not only a DAG's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from arbiter_core.errors import MessageRejected
from arbiter_core.retry import RetryPolicy

DAG = "dag"
RETRY = "retry"
TIMEOUT = "timeout"


def retry_header(policy: RetryPolicy) -> dict[str, Any]:
    return {
        "retries": policy.retries,
        "delay": policy.delay,
        "backoff": policy.backoff,
        "max_delay": policy.max_delay,
        "jitter": policy.jitter,
    }


def call_retry(headers: Mapping[str, Any], registered: RetryPolicy) -> RetryPolicy:
    """The retry policy of one call: its ``retry`` header, else the registered one."""
    given = headers.get(RETRY) if headers else None
    return registered if given is None else RetryPolicy(**given)


def call_timeout(headers: Mapping[str, Any], registered: float | None) -> float | None:
    """The per-attempt timeout of one call: its ``timeout`` header, else the registered one."""
    given = headers.get(TIMEOUT) if headers else None
    return registered if given is None else float(given)


def check(headers: Mapping[str, Any]) -> None:
    """Refuse malformed ``dag``/``retry``/``timeout`` headers before the task runs."""
    if RETRY in headers:
        given = headers[RETRY]
        try:
            if not isinstance(given, dict):
                raise TypeError(type(given).__name__)
            RetryPolicy(**given)
        except (TypeError, ValueError) as exc:
            raise MessageRejected(f"header 'retry' is not a retry policy: {exc}") from None
    if TIMEOUT in headers:
        seconds = headers[TIMEOUT]
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
            raise MessageRejected("header 'timeout' must be a number of seconds > 0")
    if DAG in headers:
        info = headers[DAG]
        if not isinstance(info, dict):
            raise MessageRejected("header 'dag' must be an object")
        for name in ("id", "name"):
            if not isinstance(info.get(name), str) or not info[name]:
                raise MessageRejected(f"header 'dag' needs a non-empty string {name!r}")
        for field in ("then", "finally"):
            then = info.get(field, [])
            if not isinstance(then, list) or not all(_is_then(t) for t in then):
                raise MessageRejected(f"header 'dag': {field!r} must list [name, id, count, index]")
        bind = info.get("bind", [])
        if not isinstance(bind, list) or not all(_is_bind(b) for b in bind):
            raise MessageRejected("header 'dag': 'bind' must list [where, key, name, id]")


def _is_then(entry: Any) -> bool:
    return (
        isinstance(entry, list)
        and len(entry) == 4
        and all(isinstance(x, str) and x for x in entry[:2])
        and all(type(x) is int and x >= 0 for x in entry[2:])
        and entry[3] < entry[2]
    )


def _is_bind(entry: Any) -> bool:
    if not isinstance(entry, list) or len(entry) != 4 or entry[0] not in ("a", "k", "l"):
        return False
    if entry[0] == "k":
        key_ok = isinstance(entry[1], str)
    else:
        key_ok = type(entry[1]) is int and entry[1] >= 0
    return key_ok and all(isinstance(x, str) and x for x in entry[2:])
