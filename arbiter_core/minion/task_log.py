"""What a minion logs about its tasks, on the ``arbiter.minion`` logger.

One record per event, each with its structured fields in ``extra`` (``task``,
``task_id``, ``outcome``, ``duration``, ``attempt``, ``queue``, ``worker``, and
``delay``, ``reason`` or ``expires`` where they apply), so a JSON formatter can emit them:

* INFO when a task ends ``succeeded`` or ``cancelled``;
* ERROR, with the traceback, when it ends ``failed``;
* WARNING for a task that expired before it started (with its ``expires``), for a
  retry (with its delay) and for a dead letter (with the reason),
  whether a minion refused the message or the backend buried it, its deliveries
  spent (then one minion of the queue logs it, see :mod:`~arbiter_core.minion.burials`).

The library adds no handler. Without one, INFO is below the root's WARNING
level, and a task that succeeds costs one ``isEnabledFor`` call here.
"""

from __future__ import annotations

import logging

from arbiter_core import records, timing
from arbiter_core.minion.describe import describe
from arbiter_core.wire import Envelope

log = logging.getLogger("arbiter.minion")

LEVELS = {
    records.SUCCEEDED: logging.INFO,
    records.CANCELLED: logging.INFO,
    records.FAILED: logging.ERROR,
    records.EXPIRED: logging.WARNING,
}
"""The level of the line logged when a task ends in each final state a minion writes."""


def log_end(
    envelope: Envelope,
    state: str,
    error: BaseException | None,
    duration: float,
    worker: str,
) -> None:
    """One line for a task that ended: name, id, outcome, duration and attempt."""
    level = LEVELS.get(state, logging.INFO)
    if not log.isEnabledFor(level):
        return
    extra = {
        "task": envelope.task,
        "task_id": envelope.id,
        "outcome": state,
        "duration": round(duration, 6),
        "attempt": envelope.attempt,
        "queue": envelope.queue,
        "worker": worker,
    }
    if error is None:
        log.log(
            level,
            "task %s[%s] %s in %.3fs (attempt %d)",
            envelope.task, envelope.id, state, duration, envelope.attempt,
            extra=extra,
        )  # fmt: skip
    else:
        log.log(
            level,
            "task %s[%s] %s in %.3fs (attempt %d): %s",
            envelope.task, envelope.id, state, duration, envelope.attempt, describe(error),
            exc_info=error if state == records.FAILED and _has_traceback(error) else None,
            extra=extra,
        )  # fmt: skip


def _has_traceback(error: BaseException) -> bool:
    """Whether a traceback would say more than the message (one never raised has none)."""
    return error.__traceback__ is not None or isinstance(
        getattr(error, "traceback_text", None), str
    )


def log_retry(
    envelope: Envelope, error: BaseException, delay: float, duration: float, worker: str
) -> None:
    """A failed attempt that will run again ``delay`` seconds from now."""
    if not log.isEnabledFor(logging.WARNING):
        return
    log.warning(
        "task %s[%s] failed in %.3fs (attempt %d), retrying in %.1fs: %s",
        envelope.task, envelope.id, duration, envelope.attempt, delay, describe(error),
        extra={
            "task": envelope.task,
            "task_id": envelope.id,
            "outcome": "retried",
            "duration": round(duration, 6),
            "attempt": envelope.attempt,
            "delay": delay,
            "queue": envelope.queue,
            "worker": worker,
        },
    )  # fmt: skip


def log_expired(envelope: Envelope, worker: str) -> None:
    """A task whose ``expires`` passed before it started: it ended without running.

    WARNING, as a retry is: expiries usually mean a queue that falls behind.
    """
    if not log.isEnabledFor(logging.WARNING):
        return
    expires = envelope.headers.get(timing.EXPIRES)
    log.warning(
        "task %s[%s] expired before it started (attempt %d)",
        envelope.task, envelope.id, envelope.attempt,
        extra={
            "task": envelope.task,
            "task_id": envelope.id,
            "outcome": records.EXPIRED,
            "duration": 0.0,
            "attempt": envelope.attempt,
            "expires": expires,
            "queue": envelope.queue,
            "worker": worker,
        },
    )  # fmt: skip


def log_dead_letter(
    message_id: str, envelope: Envelope | None, reason: str, queue: str, worker: str
) -> None:
    """A message refused (bad signature, malformed, ...) and moved to the dead letters."""
    if not log.isEnabledFor(logging.WARNING):
        return
    extra: dict[str, object] = {
        "outcome": records.DEAD,
        "reason": reason,
        "message_id": message_id,
        "queue": queue,
        "worker": worker,
    }
    if envelope is None:  # it did not even decode: nothing but the message id to go by
        log.warning("dead-lettered message %s: %s", message_id, reason, extra=extra)
        return
    extra.update(task=envelope.task, task_id=envelope.id, attempt=envelope.attempt)
    log.warning(
        "task %s[%s] dead-lettered (message %s): %s",
        envelope.task, envelope.id, message_id, reason,
        extra=extra,
    )  # fmt: skip


def log_burial(task_id: str, name: str, attempt: int, reason: str, queue: str, worker: str) -> None:
    """A task whose message the backend buried (its deliveries spent): no minion held it."""
    if not log.isEnabledFor(logging.WARNING):
        return
    log.warning(
        "task %s[%s] dead-lettered by the broker: %s",
        name, task_id, reason,
        extra={
            "task": name,
            "task_id": task_id,
            "outcome": records.DEAD,
            "reason": reason,
            "attempt": attempt,
            "queue": queue,
            "worker": worker,
        },
    )  # fmt: skip
