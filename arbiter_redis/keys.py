"""Every Redis key and channel the backend uses, in one place (arq's ``constants.py`` habit).

All names of a namespace start with the hash tag ``{<namespace>}``, so every key a
Lua script touches lives in one slot and the backend runs on Redis Cluster too.
``Q`` is a queue name, ``KEY`` a state-store key, ``ID`` a message or node id.

==============================  ========  ==================================================
key                             type      content; who removes it
==============================  ========  ==================================================
``{ns}:q:Q:ready``              LIST      ids ready to deliver: LPUSH new, RPOP next (FIFO);
                                          redelivered ones go back to the RPOP end. Empty
                                          (so gone) once its messages are leased
``{ns}:q:Q:readyL``             LIST      L is 1 to 9: ids of priority level L ready to
                                          deliver, as ``ready`` (which holds level 0); gone
                                          once empty
``{ns}:q:Q:levels``             ZSET      L -> L for each level whose ``readyL`` is not
                                          empty, so a pull finds the highest in one call;
                                          the scripts derive both names from ``ready``
``{ns}:q:Q:delayed``            ZSET      id -> due time (server ms); emptied as they fall due
``{ns}:q:Q:leases``             ZSET      id -> lease expiry (server ms); an entry leaves on
                                          ack, nack, dead letter or when the lease is reclaimed
``{ns}:q:Q:body``               HASH      id -> body; the field is deleted with the message
                                          (ack or dead letter)
``{ns}:q:Q:meta``               HASH      id -> ``"count|enqueued_ms|receipt|record"``
                                          (record: the key of the record the message was
                                          pushed with, claimed by pulls), or for priority
                                          level L > 0 ``"count|enqueued_ms|receipt|L|record"``;
                                          deleted with the message, like its body
``{ns}:q:Q:dead``               STREAM    dead letters (id, body, reason, count, dead_at,
                                          record: the bound record's key, '' for none;
                                          priority, only when not 0);
                                          at most ~``DEAD_LETTER_LIMIT`` entries, and the
                                          stream expires ``DEAD_LETTER_TTL`` after the last
                                          one; a requeue XDELs the entries it takes
``{ns}:q:Q:wake``               LIST      wake tokens, one per ready message (at most
                                          ``WAKE_TOKENS_MAX``), popped by blocked pulls;
                                          deleted when ``ready`` empties, expires after
                                          ``WAKE_TTL``
``{ns}:r:KEY``                  HASH      a record: ``state``, ``data`` and ``write`` (the id
                                          of the call that wrote it, so a retried call knows
                                          its own write); PEXPIRE on every write (its TTL).
                                          Burying its message sets ``state`` dead and puts
                                          the reason in front of ``data`` (node.burial)
``{ns}:workers``                ZSET      worker id -> heartbeat expiry (server ms); expired
                                          entries are dropped on every heartbeat and read; the
                                          key expires with its latest heartbeat
``{ns}:workers:info``           HASH      worker id -> info; pruned and expiring with
                                          ``{ns}:workers``
``{ns}:n:ID:wake``              LIST      a node's own wake-up, pushed by ``close()`` so its
                                          blocked pulls return; deleted by ``close()``, and
                                          expires after ``WAKE_TTL`` regardless
==============================  ========  ==================================================

Pub/sub channels (no storage): ``{ns}:e:EVENT`` carries broadcast ``EVENT``, and
``{ns}:n:ID:ctl`` wakes node ``ID``'s listener thread when its subscriptions change.

Which queues exist is read by SCANning for ``{ns}:q:*`` keys ending in ``:body`` or
``:dead`` (:meth:`Keys.queue_scan`): no registry of queues is written on the push path.

So the queue keys of a namespace disappear once every message is acked or
dead-lettered; what stays has an expiry. A queue name cannot collide with another
queue's keys: the suffix after the last ``:`` is always one of the fixed names above.
"""

from __future__ import annotations

from typing import NamedTuple

WAKE_TOKENS_MAX = 1024
"""Wake tokens kept per queue: enough to wake every consumer that could be blocked on it."""
WAKE_TTL_MS = 60_000
"""A token older than this is useless: every blocked pull re-checks its queue more often."""
DEAD_LETTER_LIMIT = 10_000
"""Dead letters kept per queue (approximately: ``XADD MAXLEN ~``); the oldest are dropped."""
DEAD_LETTER_TTL_MS = 7 * 24 * 3600 * 1000
"""A queue's dead letters are dropped a week after the latest one arrived."""


class QueueKeys(NamedTuple):
    """The keys of one queue, in the order every queue script takes them as KEYS[1..7]."""

    ready: str
    delayed: str
    leases: str
    body: str
    meta: str
    dead: str
    wake: str


def check_namespace(namespace: str) -> None:
    """Refuse a namespace that would break the ``{namespace}`` hash tag."""
    if "{" in namespace or "}" in namespace:
        raise ValueError(
            f"a Redis namespace cannot contain '{{' or '}}' (it is the keys' hash tag), "
            f"got {namespace!r}"
        )


class Keys:
    """Builds the names above for one namespace."""

    def __init__(self, namespace: str) -> None:
        check_namespace(namespace)
        self.namespace = namespace
        self.prefix = f"{{{namespace}}}"
        self.workers = f"{self.prefix}:workers"
        self.workers_info = f"{self.prefix}:workers:info"

    def queue(self, queue: str) -> QueueKeys:
        base = f"{self.prefix}:q:{queue}"
        return QueueKeys(*(f"{base}:{part}" for part in QueueKeys._fields))

    def queue_scan(self) -> tuple[str, int, tuple[str, ...]]:
        """What finds the queues: a SCAN pattern, where a queue name starts in a key, and
        the suffixes of the keys that exist exactly while a queue holds something."""
        base = f"{self.prefix}:q:"
        escaped = "".join("\\" + c if c in "*?[]\\" else c for c in base)
        return escaped + "*", len(base), (":body", ":dead")

    def record(self, key: str) -> str:
        return f"{self.prefix}:r:{key}"

    def channel(self, event: str) -> str:
        return f"{self.prefix}:e:{event}"

    def node_wake(self, node_id: str) -> str:
        return f"{self.prefix}:n:{node_id}:wake"

    def node_control(self, node_id: str) -> str:
        return f"{self.prefix}:n:{node_id}:ctl"
