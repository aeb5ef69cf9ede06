"""The priority guarantees (see :mod:`arbiter_core.node.priority`), as tests.

A node that declares :data:`~arbiter_core.node.PRIORITY` must serve a higher level
before every ready message of a lower one, FIFO within a level, and keep a message's
level on every way back to ready. A node that does not declare it must still accept
every level, lose nothing, and serve plain FIFO (its dead letters report level 0).
Every test checks whichever of the two the node declares, so nothing is skipped: the
report of a backend without the capability shows its FIFO fallback checked.
"""

from __future__ import annotations

import time

import pytest

from arbiter_core.conformance.support import ContractBase, unique
from arbiter_core.node import PRIORITY, Delivery, EventNode, Record, TransitionPush

FLOOD = 200
"""Level-0 messages ahead of the urgent one: far more than one pull takes."""


class PriorityContract(ContractBase):
    """Higher levels first, FIFO within a level, the level kept through redeliveries;
    or, on a node without the capability, FIFO whatever the level, nothing lost."""

    def ordered(self, node: EventNode) -> bool:
        """Whether ``node`` promises priority order (else: plain FIFO)."""
        return PRIORITY in node.capabilities

    def first_again(self, node: EventNode, queue: str, body: bytes, count: int) -> Delivery:
        """The redelivered ``body``: the next message on a node that orders by priority;
        on one that does not, somewhere among the ``count`` messages stored."""
        if self.ordered(node):
            [first] = self.take(node, queue, 1)
            assert first.body == body, f"expected {body!r} first, got {first.body!r}"
            return first
        found = [d for d in self.take(node, queue, count) if d.body == body]
        assert len(found) == 1, f"{body!r} delivered {len(found)} times, expected once"
        return found[0]

    def flood(self, node: EventNode, queue: str, count: int = FLOOD) -> None:
        for i in range(count):
            node.push(queue, f"low{i}".encode())

    def take(self, node: EventNode, queue: str, count: int) -> list[Delivery]:
        """``count`` messages, pulled one at a time (as busy workers would) and acked."""
        taken = []
        for _ in range(count):
            batch = node.pull(queue, timeout=self.wait, lease=self.long_lease)
            assert len(batch) == 1, f"expected a message on {queue!r}, got {batch!r}"
            assert node.ack(batch[0])
            taken.append(batch[0])
        return taken

    def test_a_bad_priority_is_refused_naming_it(self, node: EventNode, queue: str) -> None:
        for bad, error in ((10, ValueError), (-1, ValueError), ("5", TypeError), (True, TypeError)):
            with pytest.raises(error, match="priority"):
                node.push(queue, b"x", priority=bad)  # type: ignore[arg-type]
        assert node.queue_size(queue) == 0

    def test_higher_level_first_under_a_low_priority_flood(
        self, node: EventNode, queue: str
    ) -> None:
        self.flood(node, queue)
        node.push(queue, b"urgent", priority=9)
        [first] = self.take(node, queue, 1)
        assert first.body == (b"urgent" if self.ordered(node) else b"low0")
        assert node.queue_stats(queue).ready == FLOOD

    def test_levels_in_order_fifo_within_each(self, node: EventNode, queue: str) -> None:
        pushed = [(level, f"{level}-{i}".encode()) for i in range(3) for level in (0, 3, 9, 1)]
        for level, body in pushed:
            node.push(queue, body, priority=level)
        got = [d.body for d in self.take(node, queue, len(pushed))]
        if self.ordered(node):  # sorted() is stable: push order within a level
            assert got == [body for _, body in sorted(pushed, key=lambda item: -item[0])]
        else:
            assert got == [body for _, body in pushed]

    def test_a_batch_pull_takes_the_highest_levels_first(self, node: EventNode, queue: str) -> None:
        self.flood(node, queue, 5)
        node.push(queue, b"five", priority=5)
        node.push(queue, b"eight", priority=8)
        batch = node.pull(queue, timeout=self.wait, lease=self.long_lease, max_messages=4)
        got = [d.body for d in batch]
        if self.ordered(node):
            assert got == [b"eight", b"five", b"low0", b"low1"]
        else:  # a batch pull may take fewer than asked for; in FIFO order
            assert got and got == [b"low0", b"low1", b"low2", b"low3"][: len(got)]

    def test_a_nacked_message_keeps_its_level(self, node: EventNode, queue: str) -> None:
        node.push(queue, b"urgent", priority=7)
        self.flood(node, queue, 20)
        [leased] = node.pull(queue, timeout=self.wait, lease=self.long_lease)
        assert leased.body == b"urgent"
        assert node.nack(leased)
        again = self.first_again(node, queue, b"urgent", 21)
        assert again.delivery_count == 2

    def test_a_message_whose_lease_ran_out_keeps_its_level(
        self, node: EventNode, queue: str
    ) -> None:
        node.push(queue, b"urgent", priority=4)
        [leased] = node.pull(queue, timeout=self.wait, lease=self.lease)
        assert leased.body == b"urgent"
        self.flood(node, queue, 20)
        time.sleep(self.lease + self.settle)  # the consumer "died"
        again = self.first_again(node, queue, b"urgent", 21)
        assert again.delivery_count == 2

    def test_a_delayed_message_keeps_its_level_when_it_falls_due(
        self, node: EventNode, queue: str
    ) -> None:
        node.push(queue, b"later", not_before=time.time() + self.lease, priority=6)
        self.flood(node, queue, 20)
        time.sleep(self.lease + self.settle)
        self.first_again(node, queue, b"later", 21)

    def test_a_requeued_dead_letter_keeps_its_level(self, node: EventNode, queue: str) -> None:
        node.push(queue, b"urgent", priority=8)
        [leased] = node.pull(queue, timeout=self.wait, lease=self.long_lease)
        assert node.dead_letter(leased, "bad day")
        [letter] = node.dead_letters(queue)
        assert letter.priority == (8 if self.ordered(node) else 0)
        self.flood(node, queue, 20)
        assert node.requeue_dead_letters(queue) == [leased.message_id]
        self.first_again(node, queue, b"urgent", 21)

    def test_transition_and_push_carries_the_level(self, node: EventNode, queue: str) -> None:
        self.flood(node, queue, 10)
        key = unique("key")
        item = TransitionPush(
            key, Record("queued", b""), 60.0, (None,), queue, b"urgent", None, priority=9
        )
        assert node.transition_and_push_many([item]) == [True]
        self.first_again(node, queue, b"urgent", 11)

    def test_stats_and_purge_count_every_level(self, node: EventNode, queue: str) -> None:
        self.flood(node, queue, 3)
        for level in (2, 9):
            node.push(queue, b"leveled", priority=level)
        assert node.queue_stats(queue).ready == 5
        assert node.queue_size(queue) == 5
        assert node.purge(queue) == 5
        assert node.queue_size(queue) == 0
        assert node.pull(queue, timeout=0, lease=self.long_lease) == []
