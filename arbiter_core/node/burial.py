"""Burying a bound message ends its task: no dead letter leaves a record running.

A message pushed by ``transition_and_push`` (or its batch form) is bound to the
record written with it (see :mod:`arbiter_core.node.claim`). Whenever such a
message goes to the dead letters — because ``dead_letter`` was called (it did not
decode or verify, or could not be handled) or because it was delivered
``max_deliveries`` times without an ack — a backend that serves both the queue and
the state face must, in the same atomic step:

* leave the record alone if it is absent or its state is in :data:`FINAL_STATES`
  (a task that already ended keeps its outcome);
* otherwise write state :data:`DEAD` with data :func:`buried_data` ``(reason,
  data)``: the reason in front of the record's data, which is kept unchanged (its
  expiry too), and clear any write id the backend keeps, as a claim does;
* emit :data:`BURIED_EVENT` with the record's key as payload, so whoever waits for
  the task wakes and reads the record.

The format of the data is written down here because backends build it without
Python (a Lua script on Redis): ``b"dead:" + str(len(reason_bytes)) + b":" +
reason_bytes + data``, the reason in UTF-8.

Two operator's tools follow the same rules:

* ``purge`` drops messages nobody holds; each one bound to a record ends it exactly
  as a burial does, with reason :data:`PURGED`.
* ``requeue_dead_letters`` is the way back: a requeued letter is bound to its record
  again and, in the same atomic step, a record in state :data:`DEAD` is *revived*:
  state :data:`REQUEUED`, data :func:`revived_data` (what it held before the burial),
  expiry kept, write id cleared. A record in another state is left alone: a requeue
  never reopens an outcome (a task that succeeded after all stays succeeded).
  Nothing is announced: the task is not final any more, so no waiter is due a wake-up.

A :class:`~arbiter_core.node.ComposedNode`, whose queues and records live on different
brokers, keeps these rules in two steps instead of one: it binds a message by writing
its record's key into the body (:mod:`~arbiter_core.node.bound_body`), and ends or
revives the record in its state store right after the broker buries or requeues the
message — for burials the broker makes on its own, when the broker reports them
(:meth:`~arbiter_core.node.EventNode.watch_burials`).
"""

from __future__ import annotations

DEAD = "dead"
"""The state of a task whose message was dead-lettered: it will not run (again)."""

FINAL_STATES = frozenset({"succeeded", "failed", "cancelled", "expired", DEAD})
"""States no later write may leave, burial included (see ``arbiter_core.records.FINAL``)."""

REQUEUED = "queued"
"""The state a requeue gives back to a dead record (the core's ``records.QUEUED``)."""

PURGED = "purged from its queue"
"""The reason a purge gives the records of the messages it drops."""

BURIED_EVENT = "buried"
"""Broadcast event of a namespace: the key of a record that burial just ended."""

_PREFIX = b"dead:"


def buried_data(reason: str, data: bytes) -> bytes:
    """A buried record's data: ``reason`` in front of the record's ``data``."""
    text = reason.encode("utf-8", "replace")
    return b"%s%d:%s%s" % (_PREFIX, len(text), text, data)


def parse_buried(data: bytes) -> tuple[str, bytes] | None:
    """The reason and the original data of :func:`buried_data`; None if not of that form."""
    if not data.startswith(_PREFIX):
        return None
    length, colon, rest = data[len(_PREFIX) :].partition(b":")
    if not colon or not length.isdigit() or int(length) > len(rest):
        return None
    size = int(length)
    return rest[:size].decode("utf-8", "replace"), rest[size:]


def revived_data(data: bytes) -> bytes:
    """A revived record's data: what :func:`buried_data` had put the reason in front of.

    Data not of that form (a record a third party wrote ``dead``) is kept as it is.
    """
    parsed = parse_buried(data)
    return data if parsed is None else parsed[1]
