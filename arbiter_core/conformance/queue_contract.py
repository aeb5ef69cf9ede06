"""The work-queue guarantees (see :class:`arbiter_core.node.WorkQueue`), as tests."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from arbiter_core.conformance.support import ContractBase, NodeFactory, in_thread
from arbiter_core.node import QUEUE, Delivery, EventNode


class QueueContract(ContractBase):
    """Durable competing-consumer queues with leases, delays and dead letters."""

    def pull_one(self, node: EventNode, queue: str, *, lease: float | None = None) -> Delivery:
        """Pull exactly one message that should be there (waiting up to ``wait``)."""
        batch = node.pull(queue, timeout=self.wait, lease=lease or self.long_lease)
        assert len(batch) == 1, f"expected one message on {queue!r}, got {batch!r}"
        return batch[0]

    def test_declares_queue_capability(self, node: EventNode) -> None:
        assert QUEUE in node.capabilities

    def test_push_pull_ack(self, node: EventNode, queue: str) -> None:
        body = bytes(range(256))
        message_id = node.push(queue, body)
        assert isinstance(message_id, str) and message_id
        before = time.time()
        delivery = self.pull_one(node, queue)
        assert delivery.queue == queue
        assert delivery.message_id == message_id
        assert delivery.body == body
        assert delivery.delivery_count == 1
        assert delivery.receipt
        assert delivery.enqueued_at <= before + self.clock_tolerance
        assert node.queue_size(queue) == 1, "a leased message is still stored"
        assert node.ack(delivery) is True
        assert node.queue_size(queue) == 0

    def test_empty_body_round_trips(self, node: EventNode, queue: str) -> None:
        node.push(queue, b"")
        delivery = self.pull_one(node, queue)
        assert delivery.body == b""
        assert node.ack(delivery)

    def test_queues_are_independent(self, node: EventNode, queue: str) -> None:
        node.push(queue, b"mine")
        assert node.pull(queue + "-other", timeout=0, lease=self.long_lease) == []
        assert node.queue_size(queue + "-other") == 0
        assert node.queue_size(queue) == 1

    def test_fifo_among_ready_messages(self, node: EventNode, queue: str) -> None:
        bodies = [f"m{i}".encode() for i in range(20)]
        for body in bodies:
            node.push(queue, body)
        got = []
        for _ in bodies:
            delivery = self.pull_one(node, queue)
            got.append(delivery.body)
            assert node.ack(delivery)
        assert got == bodies

    def test_pull_batches_up_to_max_messages(self, node: EventNode, queue: str) -> None:
        bodies = [f"m{i}".encode() for i in range(5)]
        for body in bodies:
            node.push(queue, body)
        first = node.pull(queue, timeout=self.wait, lease=self.long_lease, max_messages=3)
        rest = node.pull(queue, timeout=self.wait, lease=self.long_lease, max_messages=10)
        assert [d.body for d in first] == bodies[:3]
        assert [d.body for d in rest] == bodies[3:]
        assert len({d.receipt for d in first + rest}) == 5
        for delivery in first + rest:
            assert node.ack(delivery)
        assert node.queue_size(queue) == 0

    def test_competing_consumers_get_each_message_exactly_once(
        self, new_node: NodeFactory, queue: str
    ) -> None:
        nodes = [new_node(), new_node()]
        bodies = [f"m{i}".encode() for i in range(200)]
        for body in bodies:
            nodes[0].push(queue, body)
        start = threading.Barrier(4)

        def consume(node: EventNode) -> list[bytes]:
            start.wait(self.wait)
            got = []
            while batch := node.pull(queue, timeout=self.settle, lease=self.long_lease):
                for delivery in batch:
                    got.append(delivery.body)
                    assert node.ack(delivery)
            return got

        with ThreadPoolExecutor(4) as pool:
            per_consumer = list(pool.map(consume, nodes * 2))
        counts = Counter(body for got in per_consumer for body in got)
        assert counts == Counter(bodies), "every message delivered exactly once"
        assert nodes[1].queue_size(queue) == 0

    def test_ack_removes_for_good(self, new_node: NodeFactory, queue: str) -> None:
        node, other = new_node(), new_node()
        node.push(queue, b"done")
        delivery = self.pull_one(node, queue, lease=self.lease)
        assert node.ack(delivery)
        assert node.queue_size(queue) == 0
        # Past the old lease, nobody gets it again.
        assert other.pull(queue, timeout=self.lease + self.settle, lease=self.long_lease) == []
        assert node.ack(delivery) is False, "a second ack finds no lease"
        assert node.nack(delivery) is False
        assert node.queue_size(queue) == 0

    def test_nack_requeues_at_once(self, new_node: NodeFactory, queue: str) -> None:
        node, other = new_node(), new_node()
        node.push(queue, b"again")
        first = self.pull_one(node, queue)
        assert node.nack(first) is True
        second = self.pull_one(other, queue)
        assert second.message_id == first.message_id
        assert second.body == b"again"
        assert second.delivery_count == 2
        assert second.receipt != first.receipt
        assert node.ack(first) is False, "the nacked delivery's receipt is stale"
        assert other.ack(second)

    def test_nack_with_delay_waits(self, node: EventNode, queue: str) -> None:
        node.push(queue, b"later")
        first = self.pull_one(node, queue)
        nacked_at = time.monotonic()
        assert node.nack(first, delay=self.lease)
        assert node.pull(queue, timeout=0, lease=self.long_lease) == []
        assert node.queue_size(queue) == 1, "a delayed message is still stored"
        second = self.pull_one(node, queue)
        assert time.monotonic() - nacked_at >= self.lease - self.clock_tolerance
        assert second.message_id == first.message_id
        assert node.ack(second)

    def test_crashed_consumer_message_comes_back_after_lease_not_before(
        self, new_node: NodeFactory, queue: str
    ) -> None:
        crashed, survivor = new_node(), new_node()
        crashed.push(queue, b"work")
        pulled_at = time.monotonic()
        first = self.pull_one(crashed, queue, lease=self.lease)
        # The consumer dies: never acks, its node is abandoned (the fixture closes it later).
        assert survivor.pull(queue, timeout=self.lease / 2, lease=self.long_lease) == [], (
            "redelivered before the lease ran out"
        )
        second = self.pull_one(survivor, queue)
        assert time.monotonic() - pulled_at >= self.lease - self.clock_tolerance
        assert second.message_id == first.message_id
        assert second.delivery_count == 2
        assert survivor.ack(second)
        assert survivor.queue_size(queue) == 0

    def test_renewed_lease_keeps_a_long_task_from_being_redelivered(
        self, new_node: NodeFactory, queue: str
    ) -> None:
        worker, rival = new_node(), new_node()
        worker.push(queue, b"long task")
        delivery = self.pull_one(worker, queue, lease=self.lease)
        started = time.monotonic()
        while time.monotonic() - started < 3 * self.lease:
            time.sleep(self.lease / 3)  # working; a live worker renews well within the lease
            assert worker.renew([delivery], self.lease) == [True]
            assert rival.pull(queue, timeout=0, lease=self.long_lease) == []
        assert worker.ack(delivery) is True
        assert rival.queue_size(queue) == 0

    def test_renew_reports_each_delivery(self, node: EventNode, queue: str) -> None:
        node.push(queue, b"a")
        node.push(queue, b"b")
        held, acked = node.pull(queue, timeout=self.wait, lease=self.long_lease, max_messages=2)
        assert node.ack(acked)
        assert node.renew([held, acked], self.long_lease) == [True, False]
        assert node.renew([], self.long_lease) == []
        assert node.ack(held)

    def test_stale_receipt_after_redelivery_does_nothing(
        self, new_node: NodeFactory, queue: str
    ) -> None:
        slow, fast = new_node(), new_node()
        slow.push(queue, b"contested")
        old = self.pull_one(slow, queue, lease=self.lease)
        new = self.pull_one(fast, queue)  # after the lease ran out
        assert new.message_id == old.message_id and new.delivery_count == 2
        assert slow.ack(old) is False
        assert slow.nack(old) is False
        assert slow.renew([old], self.long_lease) == [False]
        assert slow.dead_letter(old, "stale") is False
        assert slow.dead_letters(queue) == []
        assert fast.queue_size(queue) == 1, "the stale calls did not touch the new lease"
        assert fast.ack(new) is True
        assert fast.queue_size(queue) == 0

    def test_delivery_count_and_dead_letter_past_max_deliveries(
        self, node: EventNode, queue: str
    ) -> None:
        message_id = node.push(queue, b"poison")
        for count in range(1, self.max_deliveries + 1):
            delivery = self.pull_one(node, queue)
            assert delivery.delivery_count == count
            assert node.nack(delivery)
        assert node.pull(queue, timeout=self.settle, lease=self.long_lease) == [], (
            f"delivered more than max_deliveries={self.max_deliveries} times"
        )
        [letter] = node.dead_letters(queue)
        assert letter.queue == queue
        assert letter.message_id == message_id
        assert letter.body == b"poison"
        assert letter.delivery_count == self.max_deliveries
        assert letter.reason
        assert node.queue_size(queue) == 0

    def test_dead_letter_moves_a_message_directly(self, new_node: NodeFactory, queue: str) -> None:
        node, other = new_node(), new_node()
        message_id = node.push(queue, b"forged")
        delivery = self.pull_one(node, queue, lease=self.lease)
        assert node.dead_letter(delivery, "bad signature") is True
        assert node.queue_size(queue) == 0
        [letter] = other.dead_letters(queue)
        assert (letter.message_id, letter.body, letter.reason) == (
            message_id,
            b"forged",
            "bad signature",
        )
        assert letter.delivery_count == 1
        assert letter.dead_at <= time.time() + self.clock_tolerance
        assert node.ack(delivery) is False
        assert other.pull(queue, timeout=self.lease + self.settle, lease=self.long_lease) == []

    def test_dead_letters_oldest_first_up_to_limit(self, node: EventNode, queue: str) -> None:
        bodies = [b"one", b"two", b"three"]
        for body in bodies:
            node.push(queue, body)
        for delivery in node.pull(queue, timeout=self.wait, lease=self.long_lease, max_messages=3):
            assert node.dead_letter(delivery, f"reason {delivery.body!r}")
        assert [letter.body for letter in node.dead_letters(queue)] == bodies
        assert [letter.body for letter in node.dead_letters(queue, limit=2)] == bodies[:2]
        assert node.dead_letters(queue + "-other") == []

    def test_delayed_message_not_before_its_time(self, node: EventNode, queue: str) -> None:
        not_before = time.time() + self.lease
        node.push(queue, b"first due", not_before=not_before)
        node.push(queue, b"second due", not_before=not_before)
        node.push(queue, b"third due", not_before=not_before)
        assert node.pull(queue, timeout=0, lease=self.long_lease) == []
        assert node.queue_size(queue) == 3
        got = [self.pull_one(node, queue) for _ in range(3)]
        assert time.time() >= not_before - self.clock_tolerance
        assert [d.body for d in got] == [b"first due", b"second due", b"third due"], (
            "ties in time keep push order"
        )
        for delivery in got:
            assert node.ack(delivery)

    def test_ready_message_overtakes_a_delayed_one(self, node: EventNode, queue: str) -> None:
        node.push(queue, b"later", not_before=time.time() + 60)
        node.push(queue, b"now")
        delivery = self.pull_one(node, queue)
        assert delivery.body == b"now"
        assert node.ack(delivery)
        assert node.queue_size(queue) == 1

    def test_past_not_before_is_ready_at_once(self, node: EventNode, queue: str) -> None:
        node.push(queue, b"overdue", not_before=time.time() - 60)
        [delivery] = node.pull(queue, timeout=0, lease=self.long_lease)
        assert delivery.body == b"overdue"
        assert node.ack(delivery)

    def test_delayed_messages_delivered_once_to_racing_consumers(
        self, new_node: NodeFactory, queue: str
    ) -> None:
        nodes = [new_node(), new_node()]
        not_before = time.time() + self.lease / 2
        bodies = [f"delayed {i}".encode() for i in range(3)]
        for body in bodies:
            nodes[0].push(queue, body, not_before=not_before)
        start = threading.Barrier(4)

        def consume(node: EventNode) -> list[tuple[bytes, float]]:
            start.wait(self.wait)
            got = []
            timeout = self.lease + self.settle
            while batch := node.pull(queue, timeout=timeout, lease=self.long_lease):
                for delivery in batch:
                    got.append((delivery.body, time.time()))
                    assert node.ack(delivery)
            return got

        with ThreadPoolExecutor(4) as pool:
            per_consumer = list(pool.map(consume, nodes * 2))
        received = [item for got in per_consumer for item in got]
        assert Counter(body for body, _ in received) == Counter(bodies)
        assert all(at >= not_before - self.clock_tolerance for _, at in received)

    def test_pull_waits_for_the_timeout_then_returns_empty(
        self, node: EventNode, queue: str
    ) -> None:
        started = time.monotonic()
        assert node.pull(queue, timeout=self.settle, lease=self.long_lease) == []
        waited = time.monotonic() - started
        assert self.settle - self.clock_tolerance <= waited < self.settle + self.wait

    def test_pull_with_zero_timeout_returns_at_once(self, node: EventNode, queue: str) -> None:
        started = time.monotonic()
        assert node.pull(queue, timeout=0, lease=self.long_lease) == []
        assert time.monotonic() - started < self.prompt

    def test_blocked_pull_wakes_promptly_on_push(self, new_node: NodeFactory, queue: str) -> None:
        consumer, producer = new_node(), new_node()
        for timeout in (self.wait, None):
            batch = self.check_wakes_promptly(
                consumer, queue, timeout, lambda: producer.push(queue, b"wake up")
            )
            assert [d.body for d in batch] == [b"wake up"]
            assert consumer.ack(batch[0])

    def test_blocked_pull_wakes_promptly_on_nack(self, new_node: NodeFactory, queue: str) -> None:
        consumer, other = new_node(), new_node()
        other.push(queue, b"given back")
        held = self.pull_one(other, queue)
        batch = self.check_wakes_promptly(consumer, queue, self.wait, lambda: other.nack(held))
        assert [d.message_id for d in batch] == [held.message_id]
        assert consumer.ack(batch[0])

    def check_wakes_promptly(
        self, consumer: EventNode, queue: str, timeout: float | None, wake: Callable[[], object]
    ) -> list[Delivery]:
        """Block ``consumer`` in a pull, call ``wake``, and check the pull returns at once."""
        blocking = threading.Event()

        def pull() -> tuple[list[Delivery], float]:
            blocking.set()
            batch = consumer.pull(queue, timeout=timeout, lease=self.long_lease)
            return batch, time.monotonic()

        future = in_thread(pull)
        assert blocking.wait(self.wait)
        time.sleep(self.settle)  # not needed for correctness: lets the pull block first
        woken_at = time.monotonic()
        wake()
        batch, returned_at = future.result(timeout=self.wait)
        assert returned_at - woken_at < self.prompt, (
            f"pull(timeout={timeout}) took {returned_at - woken_at:.3f}s to see a message: "
            "it polls instead of blocking"
        )
        return batch

    def test_queue_size_counts_ready_delayed_and_leased(self, node: EventNode, queue: str) -> None:
        node.push(queue, b"leased")
        node.push(queue, b"ready")
        node.push(queue, b"delayed", not_before=time.time() + 60)
        delivery = self.pull_one(node, queue)
        assert delivery.body == b"leased"
        assert node.queue_size(queue) == 3
        assert node.ack(delivery)
        assert node.queue_size(queue) == 2
