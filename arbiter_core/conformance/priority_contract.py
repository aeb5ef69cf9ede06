"""The priority guarantees (see :mod:`arbiter_core.node.priority`), as tests.

A node that declares :data:`~arbiter_core.node.PRIORITY` must serve a higher level
before every ready message of a lower one, FIFO within a level, and keep a message's
level on every way back to ready. A node that does not declare it must still accept
every level and lose nothing: its ordering tests are skipped *with that reason*, and
:meth:`PriorityContract.test_without_the_capability_every_level_is_served_fifo` checks
the fallback instead, so the report says which of the two a backend gives.
"""

from __future__ import annotations

import time

import pytest

from arbiter_core.conformance.support import ContractBase, unique
from arbiter_core.node import PRIORITY, Delivery, EventNode, Record, TransitionPush

FLOOD = 200
"""Level-0 messages ahead of the urgent one: far more than one pull takes."""

UNORDERED = (
    "this node does not declare the PRIORITY capability: it serves every level in plain "
    "FIFO order (checked by test_without_the_capability_every_level_is_served_fifo)"
)


class PriorityContract(ContractBase):
    """Higher levels first, FIFO within a level, the level kept through redeliveries."""

    def ordered(self, node: EventNode) -> None:
        """Skip, saying why, unless ``node`` orders by priority."""
        if PRIORITY not in node.capabilities:
            pytest.skip(UNORDERED)

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
        self.ordered(node)
        self.flood(node, queue)
        node.push(queue, b"urgent", priority=9)
        [first] = self.take(node, queue, 1)
        assert first.body == b"urgent"
        assert node.queue_stats(queue).ready == FLOOD

    def test_levels_in_order_fifo_within_each(self, node: EventNode, queue: str) -> None:
        self.ordered(node)
        pushed = [(level, f"{level}-{i}".encode()) for i in range(3) for level in (0, 3, 9, 1)]
        for level, body in pushed:
            node.push(queue, body, priority=level)
        got = [d.body for d in self.take(node, queue, len(pushed))]
        expected = [body for _, body in sorted(pushed, key=lambda item: -item[0])]
        assert got == expected  # sorted() is stable: push order within a level

    def test_a_batch_pull_takes_the_highest_levels_first(self, node: EventNode, queue: str) -> None:
        self.ordered(node)
        self.flood(node, queue, 5)
        node.push(queue, b"five", priority=5)
        node.push(queue, b"eight", priority=8)
        batch = node.pull(queue, timeout=self.wait, lease=self.long_lease, max_messages=4)
        assert [d.body for d in batch] == [b"eight", b"five", b"low0", b"low1"]

    def test_a_nacked_message_keeps_its_level(self, node: EventNode, queue: str) -> None:
        self.ordered(node)
        node.push(queue, b"urgent", priority=7)
        self.flood(node, queue, 20)
        [leased] = node.pull(queue, timeout=self.wait, lease=self.long_lease)
        assert leased.body == b"urgent"
        assert node.nack(leased)
        [again] = self.take(node, queue, 1)
        assert (again.body, again.delivery_count) == (b"urgent", 2)

    def test_a_message_whose_lease_ran_out_keeps_its_level(
        self, node: EventNode, queue: str
    ) -> None:
        self.ordered(node)
        node.push(queue, b"urgent", priority=4)
        [leased] = node.pull(queue, timeout=self.wait, lease=self.lease)
        assert leased.body == b"urgent"
        self.flood(node, queue, 20)
        time.sleep(self.lease + self.settle)  # the consumer "died"
        [again] = self.take(node, queue, 1)
        assert (again.body, again.delivery_count) == (b"urgent", 2)

    def test_a_delayed_message_keeps_its_level_when_it_falls_due(
        self, node: EventNode, queue: str
    ) -> None:
        self.ordered(node)
        node.push(queue, b"later", not_before=time.time() + self.lease, priority=6)
        self.flood(node, queue, 20)
        time.sleep(self.lease + self.settle)
        [first] = self.take(node, queue, 1)
        assert first.body == b"later"

    def test_a_requeued_dead_letter_keeps_its_level(self, node: EventNode, queue: str) -> None:
        self.ordered(node)
        node.push(queue, b"urgent", priority=8)
        [leased] = node.pull(queue, timeout=self.wait, lease=self.long_lease)
        assert node.dead_letter(leased, "bad day")
        [letter] = node.dead_letters(queue)
        assert letter.priority == 8
        self.flood(node, queue, 20)
        assert node.requeue_dead_letters(queue) == [leased.message_id]
        [first] = self.take(node, queue, 1)
        assert first.body == b"urgent"

    def test_transition_and_push_carries_the_level(self, node: EventNode, queue: str) -> None:
        self.ordered(node)
        self.flood(node, queue, 10)
        key = unique("key")
        item = TransitionPush(
            key, Record("queued", b""), 60.0, (None,), queue, b"urgent", None, priority=9
        )
        assert node.transition_and_push_many([item]) == [True]
        [first] = self.take(node, queue, 1)
        assert first.body == b"urgent"

    def test_stats_and_purge_count_every_level(self, node: EventNode, queue: str) -> None:
        self.flood(node, queue, 3)
        for level in (2, 9):
            node.push(queue, b"leveled", priority=level)
        assert node.queue_stats(queue).ready == 5
        assert node.queue_size(queue) == 5
        assert node.purge(queue) == 5
        assert node.queue_size(queue) == 0
        assert node.pull(queue, timeout=0, lease=self.long_lease) == []

    def test_without_the_capability_every_level_is_served_fifo(
        self, node: EventNode, queue: str
    ) -> None:
        if PRIORITY in node.capabilities:
            pytest.skip("this node orders by priority (the tests above check it)")
        pushed = [(level, f"m{i}".encode()) for i, level in enumerate((0, 9, 3, 0, 5))]
        for level, body in pushed:
            node.push(queue, body, priority=level)
        assert [d.body for d in self.take(node, queue, len(pushed))] == [b for _, b in pushed]
