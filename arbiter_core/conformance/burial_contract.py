"""Burying a bound message ends its record (see :mod:`arbiter_core.node.burial`), as tests."""

from __future__ import annotations

import time

import pytest

from arbiter_core.conformance.support import ContractBase, Inbox, NodeFactory, unique
from arbiter_core.node import (
    BURIED_EVENT,
    DEAD,
    Claim,
    ComposedNode,
    Delivery,
    EventNode,
    Record,
    buried_data,
    parse_buried,
)

TTL = 60.0


class BurialContract(ContractBase):
    """No dead letter leaves its task queued or running, whatever path buried it."""

    buries_records = True
    """False only for a node whose queues cannot end a record when they bury a message
    *on their own* (spent, purged): a :class:`~arbiter_core.node.ComposedNode` whose
    broker does not report those burials (``watch_burials`` returned False). Such a node
    must say so in its documentation. A composed node says it itself too: its own
    ``buries_records`` is consulted as well. The tests of ``dead_letter`` and of a
    requeue still run: a composed node ends and revives those records itself."""

    def buries_on_its_own(self, node: EventNode) -> bool:
        """Whether ``node`` ends the records of the messages its queues bury on their own."""
        if isinstance(node, ComposedNode) and not node.buries_records:
            return False
        return self.buries_records

    def bound(
        self, node: EventNode, queue: str, data: bytes = b"queued data", *, on_its_own: bool = False
    ) -> str:
        """Write a queued record and push a message bound to it; returns the record's key.

        ``on_its_own``: the test has the queue bury it on its own (spent, purged), so it
        skips on a node that cannot end the record then (see :attr:`buries_records`).
        """
        if on_its_own and not self.buries_on_its_own(node):  # per test: not a fixture
            pytest.skip("this node's broker does not report the burials it makes on its own")
        key = unique("bound")
        assert node.transition_and_push(
            key, Record("queued", data), ttl=TTL, expect=[None], queue=queue, body=b"job"
        )
        return key

    def lease_one(self, node: EventNode, queue: str, lease: float) -> Delivery:
        batch = node.pull(queue, timeout=self.wait, lease=lease)
        assert len(batch) == 1, f"expected one message on {queue!r}, got {batch!r}"
        return batch[0]

    def buried(self, new_node: NodeFactory) -> Inbox:
        inbox = Inbox()
        new_node().subscribe(BURIED_EVENT, inbox)
        time.sleep(self.settle)  # subscriptions on a remote broker take a moment
        return inbox

    def test_dead_letter_ends_the_bound_record_and_announces_it(
        self, new_node: NodeFactory, queue: str
    ) -> None:
        node = new_node()
        inbox = self.buried(new_node)
        key = self.bound(node, queue)
        delivery = self.lease_one(node, queue, self.long_lease)
        assert node.dead_letter(delivery, "signature refusée €")
        assert node.get(key) == Record(DEAD, buried_data("signature refusée €", b"queued data"))
        assert parse_buried(buried_data("signature refusée €", b"queued data")) == (
            "signature refusée €",
            b"queued data",
        )
        assert inbox.wait_for(1, self.wait) and inbox.payloads == [key.encode()]
        [letter] = node.dead_letters(queue)
        assert letter.reason == "signature refusée €"

    def test_a_claimed_record_is_ended_too(self, node: EventNode, queue: str) -> None:
        key = self.bound(node, queue, b"claimed data")
        claim = Claim("running", ("queued", "running"), TTL)
        [delivery] = node.pull_and_claim(queue, timeout=self.wait, lease=TTL, claim=claim)
        if delivery.claim is None:  # this backend does not claim: the worker would
            node.transition(key, Record("running", b"claimed data"), ttl=TTL)
        assert node.dead_letter(delivery, "does not decode")
        assert node.get(key) == Record(DEAD, buried_data("does not decode", b"claimed data"))

    def test_spent_message_ends_its_record(self, new_node: NodeFactory, queue: str) -> None:
        node = new_node()
        inbox = self.buried(new_node)
        key = self.bound(node, queue, on_its_own=True)
        for _ in range(self.max_deliveries):  # each consumer "dies": its lease runs out
            self.lease_one(node, queue, self.lease)
            time.sleep(self.lease)
        assert node.pull(queue, timeout=self.settle, lease=self.long_lease) == []
        record = node.get(key)
        assert record is not None and record.state == DEAD
        parsed = parse_buried(record.data)
        assert parsed is not None
        reason, data = parsed
        assert data == b"queued data"
        assert reason == node.dead_letters(queue)[0].reason
        assert inbox.wait_for(1, self.wait) and inbox.payloads == [key.encode()]

    def test_spent_by_nacks_ends_its_record(self, node: EventNode, queue: str) -> None:
        key = self.bound(node, queue, on_its_own=True)
        for _ in range(self.max_deliveries):
            assert node.nack(self.lease_one(node, queue, self.long_lease))
        assert node.pull(queue, timeout=self.settle, lease=self.long_lease) == []
        record = node.get(key)
        assert record is not None and record.state == DEAD

    def test_a_final_record_is_left_alone(self, new_node: NodeFactory, queue: str) -> None:
        node = new_node()
        inbox = self.buried(new_node)
        key = self.bound(node, queue)
        delivery = self.lease_one(node, queue, self.long_lease)
        assert node.transition(key, Record("succeeded", b"done"), ttl=TTL)[0]
        assert node.dead_letter(delivery, "too late")
        assert node.get(key) == Record("succeeded", b"done"), "an outcome is never overwritten"
        gone = unique("gone")
        node.transition_and_push(
            gone, Record("queued", b"q"), ttl=TTL, expect=[None], queue=queue, body=b"x"
        )
        node.delete(gone)
        assert node.dead_letter(self.lease_one(node, queue, self.long_lease), "no record")
        assert node.get(gone) is None, "burial never creates a record"
        time.sleep(self.settle)  # absence can only be checked by waiting a little
        assert inbox.received == []

    def test_an_unbound_message_touches_no_record(self, node: EventNode, queue: str) -> None:
        key = unique("unrelated")
        node.transition(key, Record("running", b"r"), ttl=TTL)
        node.push(queue, b"plain")
        assert node.dead_letter(self.lease_one(node, queue, self.long_lease), "garbage")
        assert node.get(key) == Record("running", b"r")

    def test_a_buried_record_is_final_for_later_writers(self, node: EventNode, queue: str) -> None:
        key = self.bound(node, queue)
        assert node.dead_letter(self.lease_one(node, queue, self.long_lease), "bad")
        written, current = node.transition(
            key, Record("succeeded", b"late"), ttl=TTL, expect=["queued", "running"]
        )
        assert not written and current is not None and current.state == DEAD
