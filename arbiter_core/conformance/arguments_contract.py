"""Bad arguments are refused alike by every node, before anything changes, as tests.

The public methods of :class:`arbiter_core.node.EventNode` check every argument and
only then call the protected method a backend writes (see
:mod:`arbiter_core.node.arguments`), so a backend passes these without a check of its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from arbiter_core.conformance.support import ContractBase, Inbox, unique
from arbiter_core.node import Claim, Delivery, EventNode, Record, TransitionPush

TTL = 60.0

BadCall = Callable[[Any, str, Delivery], object]
"""Calls ``node``'s method with one bad argument, given a queue and a leased delivery."""

Q = Record("queued", b"")
OK = Claim("running", ("queued",), TTL)


def claim(**changes: Any) -> Claim:
    """``OK`` with ``changes`` (bad ones included)."""
    return OK._replace(**changes)


BAD_CALLS: dict[str, tuple[BadCall, type[Exception], str]] = {
    # work queues
    "push body str": (lambda n, q, d: n.push(q, "text"), TypeError, "body must be bytes, got str"),
    "push queue empty": (lambda n, q, d: n.push("", b""), ValueError, "queue must not be empty"),
    "push queue int": (lambda n, q, d: n.push(5, b""), TypeError, "queue must be a str, got int"),
    "push queue surrogate": (lambda n, q, d: n.push("\ud800", b""), ValueError, "lone surrogate"),
    "pull lease 0": (
        lambda n, q, d: n.pull(q, timeout=0, lease=0),
        ValueError,
        "lease must be > 0 seconds, got 0",
    ),
    "pull lease nan": (lambda n, q, d: n.pull(q, timeout=0, lease=math.nan), ValueError, "lease"),
    "pull max_messages 0": (
        lambda n, q, d: n.pull(q, timeout=0, lease=1, max_messages=0),
        ValueError,
        "max_messages must be >= 1, got 0",
    ),
    "pull max_messages float": (
        lambda n, q, d: n.pull(q, timeout=0, lease=1, max_messages=1.5),
        TypeError,
        "max_messages must be an int, got float",
    ),
    "pull timeout negative": (
        lambda n, q, d: n.pull(q, timeout=-1, lease=1),
        ValueError,
        "timeout must be >= 0 or None, got -1",
    ),
    "pull queue empty": (lambda n, q, d: n.pull("", timeout=0, lease=1), ValueError, "queue"),
    "nack delay negative": (
        lambda n, q, d: n.nack(d, delay=-1),
        ValueError,
        "delay must be >= 0 seconds, got -1",
    ),
    "renew lease 0": (lambda n, q, d: n.renew([d], 0), ValueError, "lease must be > 0"),
    "dead_letter reason": (
        lambda n, q, d: n.dead_letter(d, 5),
        TypeError,
        "reason must be a str, got int",
    ),
    "dead_letters queue": (lambda n, q, d: n.dead_letters(""), ValueError, "queue must not be"),
    "queue_size queue": (lambda n, q, d: n.queue_size(None), TypeError, "queue must be a str"),
    "pull_and_claim claim.ttl": (
        lambda n, q, d: n.pull_and_claim(q, timeout=0, lease=1, claim=claim(ttl=0)),
        ValueError,
        "claim.ttl must be > 0 seconds",
    ),
    "pull_and_claim claim.state": (
        lambda n, q, d: n.pull_and_claim(q, timeout=0, lease=1, claim=claim(state=1)),
        TypeError,
        "claim.state must be a str",
    ),
    "pull_and_claim claim.expect": (
        lambda n, q, d: n.pull_and_claim(q, timeout=0, lease=1, claim=claim(expect=[None])),
        TypeError,
        "claim.expect states must be str",
    ),
    "pull_and_claim lease": (
        lambda n, q, d: n.pull_and_claim(q, timeout=0, lease=-1, claim=OK),
        ValueError,
        "lease must be > 0",
    ),
    # state
    "transition ttl 0": (
        lambda n, q, d: n.transition(q, Q, ttl=0),
        ValueError,
        "ttl must be > 0 seconds, got 0",
    ),
    "transition state int": (
        lambda n, q, d: n.transition(q, Record(5, b""), ttl=TTL),  # type: ignore[arg-type]
        TypeError,
        "record.state must be a str, got int",
    ),
    "transition data str": (
        lambda n, q, d: n.transition(q, Record("queued", "x"), ttl=TTL),  # type: ignore[arg-type]
        TypeError,
        "record.data must be bytes, got str",
    ),
    "transition not a record": (
        lambda n, q, d: n.transition(q, ("queued", b""), ttl=TTL),
        TypeError,
        "record must be a Record, got tuple",
    ),
    "transition expect int": (
        lambda n, q, d: n.transition(q, Q, ttl=TTL, expect=[None, 1]),
        TypeError,
        "expected states must be str or None, got 1",
    ),
    "transition expect str": (
        lambda n, q, d: n.transition(q, Q, ttl=TTL, expect="queued"),
        TypeError,
        "expect must be a collection of states",
    ),
    "transition key empty": (
        lambda n, q, d: n.transition("", Q, ttl=TTL),
        ValueError,
        "key must not be empty",
    ),
    "get key int": (lambda n, q, d: n.get(5), TypeError, "key must be a str, got int"),
    "get_many key empty": (lambda n, q, d: n.get_many([q, ""]), ValueError, "key must not be"),
    "delete key": (lambda n, q, d: n.delete(b"k"), TypeError, "key must be a str, got bytes"),
    "heartbeat info": (
        lambda n, q, d: n.heartbeat(q, "info", TTL),
        TypeError,
        "info must be bytes, got str",
    ),
    "heartbeat ttl": (lambda n, q, d: n.heartbeat(q, b"", 0), ValueError, "ttl must be > 0"),
    "heartbeat worker_id": (
        lambda n, q, d: n.heartbeat("", b"", TTL),
        ValueError,
        "worker_id must not be empty",
    ),
    "remove_worker worker_id": (
        lambda n, q, d: n.remove_worker(None),
        TypeError,
        "worker_id must be a str, got NoneType",
    ),
    # broadcast
    "emit payload": (
        lambda n, q, d: n.emit(q, "text"),
        TypeError,
        "payload must be bytes, got str",
    ),
    "emit event": (lambda n, q, d: n.emit("", b""), ValueError, "event must not be empty"),
    "subscribe callback": (
        lambda n, q, d: n.subscribe(q, "print"),
        TypeError,
        "callback must be callable, got str",
    ),
    "unsubscribe event": (
        lambda n, q, d: n.unsubscribe(5, Inbox()),
        TypeError,
        "event must be a str, got int",
    ),
    # the operator's tools
    "queue_stats queue": (lambda n, q, d: n.queue_stats(""), ValueError, "queue must not be empty"),
    "purge queue": (lambda n, q, d: n.purge(5), TypeError, "queue must be a str, got int"),
    "purge_dead_letters queue": (
        lambda n, q, d: n.purge_dead_letters(None),
        TypeError,
        "queue must be a str, got NoneType",
    ),
    "requeue_dead_letters ids str": (
        lambda n, q, d: n.requeue_dead_letters(q, d.message_id),
        TypeError,
        "message_ids must be a collection of ids",
    ),
    "requeue_dead_letters id int": (
        lambda n, q, d: n.requeue_dead_letters(q, [7]),
        TypeError,
        "message id must be a str, got int",
    ),
    "requeue_dead_letters ids int": (
        lambda n, q, d: n.requeue_dead_letters(q, 7),
        TypeError,
        "message_ids must be a collection of ids, got int",
    ),
    # combined operations
    "transition_and_push body": (
        lambda n, q, d: n.transition_and_push(q, Q, ttl=TTL, expect=None, queue=q, body="x"),
        TypeError,
        "body must be bytes, got str",
    ),
    "transition_and_push queue": (
        lambda n, q, d: n.transition_and_push(q, Q, ttl=TTL, expect=None, queue="", body=b""),
        ValueError,
        "queue must not be empty",
    ),
    "transition_and_push ttl": (
        lambda n, q, d: n.transition_and_push(q, Q, ttl=-1, expect=None, queue=q, body=b""),
        ValueError,
        "ttl must be > 0 seconds",
    ),
    "transition_and_push_many item": (
        lambda n, q, d: n.transition_and_push_many([(q, Q, TTL, None, q, b"")]),
        TypeError,
        "items must be TransitionPush, got tuple",
    ),
    "transition_and_ack payload": (
        lambda n, q, d: n.transition_and_ack(d, q, Q, ttl=TTL, expect=None, event=q, payload="x"),
        TypeError,
        "payload must be bytes, got str",
    ),
    "transition_and_ack event": (
        lambda n, q, d: n.transition_and_ack(d, q, Q, ttl=TTL, expect=None, event=b"e"),
        TypeError,
        "event must be a str, got bytes",
    ),
    "transition_and_ack expect": (
        lambda n, q, d: n.transition_and_ack(d, q, Q, ttl=TTL, expect=[3]),
        TypeError,
        "expected states must be str or None",
    ),
    "transition_ack_and_pull lease": (
        lambda n, q, d: n.transition_ack_and_pull(d, q, Q, ttl=TTL, expect=None, lease=0),
        ValueError,
        "lease must be > 0 seconds",
    ),
    "transition_ack_and_pull max_messages": (
        lambda n, q, d: n.transition_ack_and_pull(
            d, q, Q, ttl=TTL, expect=None, lease=1, max_messages=0
        ),
        ValueError,
        "max_messages must be >= 1",
    ),
    "transition_ack_and_pull claim": (
        lambda n, q, d: n.transition_ack_and_pull(
            d, q, Q, ttl=TTL, expect=None, lease=1, claim=claim(ttl=math.nan)
        ),
        ValueError,
        "claim.ttl must be > 0 seconds",
    ),
    "transition_ack_and_pull record": (
        lambda n, q, d: n.transition_ack_and_pull(d, q, None, ttl=TTL, expect=None, lease=1),
        TypeError,
        "record must be a Record, got NoneType",
    ),
}


class ArgumentsContract(ContractBase):
    """Every method refuses a bad argument with the documented error, changing nothing."""

    @pytest.mark.parametrize("name", sorted(BAD_CALLS))
    def test_a_bad_argument_is_refused_before_anything_changes(
        self, node: EventNode, queue: str, name: str
    ) -> None:
        call, error, message = BAD_CALLS[name]
        node.push(queue, b"leased")
        [delivery] = node.pull(queue, timeout=self.wait, lease=self.long_lease)
        with pytest.raises(error, match=message):
            call(node, queue, delivery)
        assert node.queue_size(queue) == 1, "nothing was pushed, acked or dead-lettered"
        assert node.get(queue) is None, "no record was written"
        assert node.ack(delivery), "the lease is still held"

    def test_a_batch_with_one_bad_item_applies_none(self, node: EventNode, queue: str) -> None:
        good, bad = unique("good"), unique("bad")
        items = [
            TransitionPush(good, Record("queued", b""), TTL, [None], queue, b"fine"),
            TransitionPush(bad, Record("queued", b""), TTL, [None], queue, "not bytes"),  # type: ignore[arg-type]
        ]
        with pytest.raises(TypeError, match="body must be bytes"):
            node.transition_and_push_many(items)
        assert node.get_many([good, bad]) == {}
        assert node.queue_size(queue) == 0

    def test_bytes_like_arguments_are_copied(self, node: EventNode, queue: str) -> None:
        body, data = bytearray(b"body"), bytearray(b"data")
        key = unique("key")
        node.push(queue, body)  # type: ignore[arg-type]
        written, stored = node.transition(key, Record("queued", data), ttl=TTL)  # type: ignore[arg-type]
        body[:], data[:] = b"BODY", b"DATA"
        assert written and stored == Record("queued", b"data")
        assert stored is not None and type(stored.data) is bytes
        assert node.get(key) == Record("queued", b"data")
        [delivery] = node.pull(queue, timeout=self.wait, lease=self.long_lease)
        assert delivery.body == b"body" and type(delivery.body) is bytes
        assert node.ack(delivery)
