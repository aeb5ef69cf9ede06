"""The names RPC uses on the broker, and the time limits of a call.

==========================  =====================================================
``rpc:{queue}``             (broadcast event) call requests for the minions
                            serving a queue (see :mod:`~arbiter_core.rpc.request`)
``rpc-reply:{arbiter id}``  (broadcast event) answers to one Arbiter's calls
                            (see :mod:`~arbiter_core.rpc.reply`)
``rpc-claim:{request id}``  the record the one minion that runs a call creates
                            (see :mod:`~arbiter_core.rpc.claim`)
==========================  =====================================================
"""

from __future__ import annotations

DEFAULT_TIMEOUT = 10.0
"""Seconds ``Arbiter.rpc`` waits for an answer unless told otherwise."""
MAX_TIMEOUT = 3600.0
"""The longest timeout a call may have; a request asking for more is refused."""

CLOCK_TOLERANCE = 30.0
"""Seconds the clocks of callers and minions may disagree by.

A minion refuses a request whose deadline (the caller's ``time.time()``) passed more
than this long ago, and a call's claim record outlives its timeout by as much, so a
signed request captured and replayed later never runs a second time.
"""

UNKNOWN_GRACE = 0.25
"""Seconds a minion without the called function waits before it answers "unknown".

A minion that has the function claims the call at once; one without it lets them
go first, so on a queue whose minions register different functions the caller gets
the answer of one that has it, and an "unknown function" error only if none has.
"""

REPLY_PREFIX = "rpc-reply:"
"""Every reply event starts so; a minion answers no other event (see :func:`reply_event`)."""


def request_event(queue: str) -> str:
    return f"rpc:{queue}"


def reply_event(arbiter_id: str) -> str:
    return f"{REPLY_PREFIX}{arbiter_id}"


def claim_key(request_id: str) -> str:
    return f"rpc-claim:{request_id}"
