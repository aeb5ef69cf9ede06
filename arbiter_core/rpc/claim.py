"""The claim: of every minion that received a call, exactly one runs it.

Each minion that means to answer a request creates the request's claim record with
a compare-and-set from "no record" (the state store's ``transition`` with
``expect=(ABSENT,)``): the store lets one write win, so one minion runs the call and
the others drop it. The record lives as long as the call may still be taken plus
:data:`~arbiter_core.rpc.channels.CLOCK_TOLERANCE`, so a late or replayed copy of the
request meets it and is dropped too; then it expires, and nothing is left behind.

This is what makes RPC *at most once*: a claimed call is run once or, if its minion
dies while running it, not at all; nobody runs it again.
"""

from __future__ import annotations

from arbiter_core.node import ABSENT, EventNode, Record
from arbiter_core.rpc.channels import CLOCK_TOLERANCE, claim_key

CLAIMED = "claimed"
_ONLY_IF_ABSENT = (ABSENT,)


def claim_call(node: EventNode, request_id: str, worker_id: str, budget: float) -> bool:
    """Whether this minion won the call: True for exactly one caller per request id."""
    written, _ = node.transition(
        claim_key(request_id),
        Record(CLAIMED, worker_id.encode()),
        ttl=budget + CLOCK_TOLERANCE,
        expect=_ONLY_IF_ABSENT,
    )
    return written
