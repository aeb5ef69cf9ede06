"""The operator's tools of :class:`arbiter_core.node.WorkQueue`, as tests.

``queue_stats``, ``known_queues``, ``purge``, ``requeue_dead_letters`` and
``purge_dead_letters`` (and ``server_info`` of the node): what ``arbiter queues``,
``arbiter purge`` and ``arbiter dead-letter`` stand on, on every backend. The record
rules of a purge and a requeue are :mod:`arbiter_core.node.burial`'s; the purge test of a
bound record skips on a node whose broker cannot end it (``buries_records`` False), as
the burial tests of spent messages do.
"""

from __future__ import annotations

import functools
import threading
import time

from arbiter_core.conformance.burial_contract import TTL, BurialContract
from arbiter_core.conformance.support import NodeFactory, in_thread, unique
from arbiter_core.node import (
    DEAD,
    PURGED,
    REQUEUED,
    EventNode,
    QueueStats,
    Record,
    buried_data,
)


class OperationsContract(BurialContract):
    """Inspect a queue, purge it, and bring its dead letters back, atomically.

    It builds on the burial tests (and runs them): a purge and a requeue follow the
    rules burial set for records.
    """

    def dead(self, node: EventNode, queue: str, body: bytes = b"job") -> str:
        """Push an unbound message and dead-letter it; returns its message id."""
        message_id = node.push(queue, body)
        delivery = self.lease_one(node, queue, self.long_lease)
        assert node.dead_letter(delivery, "broken")
        return message_id

    def bound_dead(self, node: EventNode, queue: str, data: bytes = b"queued data") -> str:
        """A bound message, dead-lettered (its record ended ``dead``); returns its record key."""
        key = self.bound(node, queue, data)
        assert node.dead_letter(self.lease_one(node, queue, self.long_lease), "broken")
        return key

    # -- queue_stats and known_queues
    def test_queue_stats_counts_messages_by_where_they_are(
        self, node: EventNode, queue: str
    ) -> None:
        assert node.queue_stats(queue) == QueueStats(0, 0, 0, 0), "an unknown queue is empty"
        self.dead(node, queue)
        node.push(queue, b"leased")
        leased = self.lease_one(node, queue, self.long_lease)
        node.push(queue, b"ready 1")
        node.push(queue, b"ready 2")
        node.push(queue, b"later", not_before=time.time() + 60)
        stats = node.queue_stats(queue)
        assert stats == QueueStats(ready=2, delayed=1, leased=1, dead=1)
        assert stats.stored == node.queue_size(queue) == 4
        assert node.ack(leased)
        assert node.queue_stats(queue).leased == 0

    def test_queue_stats_settles_leases_that_ran_out(self, node: EventNode, queue: str) -> None:
        node.push(queue, b"x")
        self.lease_one(node, queue, self.lease)
        time.sleep(self.lease + self.settle)
        assert node.queue_stats(queue) == QueueStats(ready=1, delayed=0, leased=0, dead=0)

    def test_known_queues_lists_queues_holding_messages_or_dead_letters(
        self, node: EventNode, queue: str
    ) -> None:
        with_messages, with_dead, emptied = queue, queue + "-dead", queue + "-emptied"
        node.push(with_messages, b"x")
        node.push(with_messages, b"later", not_before=time.time() + 60)
        self.dead(node, with_dead)
        node.push(emptied, b"y")
        assert node.ack(self.lease_one(node, emptied, self.long_lease))
        known = node.known_queues()
        assert isinstance(known, set)
        assert {with_messages, with_dead} <= known
        assert emptied not in known, "a queue with nothing left is not listed"

    def test_known_queues_keeps_odd_queue_names_whole(self, node: EventNode, queue: str) -> None:
        odd = f"{queue}:a*b?[c]\\d é"
        node.push(odd, b"x")
        assert odd in node.known_queues()

    # -- purge
    def test_purge_drops_ready_and_delayed_messages_but_not_leased_ones(
        self, node: EventNode, queue: str
    ) -> None:
        node.push(queue, b"held")
        held = self.lease_one(node, queue, self.long_lease)
        for index in range(3):
            node.push(queue, b"ready %d" % index)
        node.push(queue, b"later", not_before=time.time() + 60)
        self.dead(node, queue)
        assert node.purge(queue) == 4
        assert node.queue_stats(queue) == QueueStats(ready=0, delayed=0, leased=1, dead=1)
        assert node.pull(queue, timeout=self.settle, lease=self.long_lease) == []
        assert node.ack(held), "a leased message is left to its consumer"
        assert node.purge(queue) == 0
        assert node.purge(unique("never-used")) == 0

    def test_purge_ends_the_records_of_the_messages_it_drops(
        self, new_node: NodeFactory, queue: str
    ) -> None:
        node = new_node()
        inbox = self.buried(new_node)
        key = self.bound(node, queue, on_its_own=True)
        assert node.purge(queue) == 1
        assert node.get(key) == Record(DEAD, buried_data(PURGED, b"queued data"))
        assert inbox.wait_for(1, self.wait) and inbox.payloads == [key.encode()]

    # -- requeue_dead_letters
    def test_requeue_keeps_the_id_and_body_and_restarts_the_count(
        self, node: EventNode, queue: str
    ) -> None:
        message_id = self.dead(node, queue, bytes(range(256)))
        assert node.requeue_dead_letters(queue, [message_id]) == [message_id]
        assert node.dead_letters(queue) == []
        assert node.queue_stats(queue) == QueueStats(ready=1, delayed=0, leased=0, dead=0)
        before = time.time()
        delivery = self.lease_one(node, queue, self.long_lease)
        assert (delivery.message_id, delivery.body) == (message_id, bytes(range(256)))
        assert delivery.delivery_count == 1, "the delivery count starts again"
        assert delivery.enqueued_at >= before - 5, "enqueued again at the requeue"
        assert node.ack(delivery)

    def test_a_requeued_message_gets_max_deliveries_again(
        self, node: EventNode, queue: str
    ) -> None:
        node.push(queue, b"spent")
        for _ in range(self.max_deliveries):
            assert node.nack(self.lease_one(node, queue, self.long_lease))
        [letter] = node.dead_letters(queue)
        assert node.requeue_dead_letters(queue) == [letter.message_id]
        for attempt in range(1, self.max_deliveries + 1):
            delivery = self.lease_one(node, queue, self.long_lease)
            assert delivery.delivery_count == attempt
            assert node.nack(delivery)
        assert node.pull(queue, timeout=self.settle, lease=self.long_lease) == []
        assert [d.message_id for d in node.dead_letters(queue)] == [letter.message_id]

    def test_requeue_takes_only_the_ids_named_and_skips_unknown_ones(
        self, node: EventNode, queue: str
    ) -> None:
        first, second, third = (self.dead(node, queue, b"%d" % i) for i in range(3))
        assert node.requeue_dead_letters(queue, [third, "no-such-id", first, third]) == [
            first,
            third,
        ], "dead-letter order, each once"
        assert [d.message_id for d in node.dead_letters(queue)] == [second]
        assert node.requeue_dead_letters(queue, []) == []
        assert node.requeue_dead_letters(unique("never-used")) == []
        bodies = []
        for _ in range(2):
            delivery = self.lease_one(node, queue, self.long_lease)
            bodies.append(delivery.body)
            assert node.ack(delivery)
        assert bodies == [b"0", b"2"]

    def test_requeue_of_all_takes_every_dead_letter_oldest_first(
        self, node: EventNode, queue: str
    ) -> None:
        ids = [self.dead(node, queue, b"%d" % i) for i in range(4)]
        assert node.requeue_dead_letters(queue) == ids
        assert node.dead_letters(queue) == []
        assert node.requeue_dead_letters(queue) == []
        got = [self.lease_one(node, queue, self.long_lease) for _ in ids]
        assert [d.message_id for d in got] == ids, "FIFO again, in dead-letter order"

    def test_concurrent_requeues_of_one_letter_requeue_it_once(
        self, new_node: NodeFactory, queue: str
    ) -> None:
        nodes = [new_node() for _ in range(4)]
        message_id = self.dead(nodes[0], queue)
        start = threading.Barrier(len(nodes))

        def requeue(node: EventNode) -> list[str]:
            start.wait(self.wait)
            return node.requeue_dead_letters(queue, [message_id])

        futures = [in_thread(functools.partial(requeue, n)) for n in nodes]
        results = [future.result(timeout=self.wait) for future in futures]
        assert sorted(results, key=len) == [[], [], [], [message_id]]
        assert nodes[0].queue_stats(queue) == QueueStats(ready=1, delayed=0, leased=0, dead=0)

    def test_requeue_revives_the_dead_record_and_binds_the_message_again(
        self, node: EventNode, queue: str
    ) -> None:
        key = self.bound_dead(node, queue)
        [letter] = node.dead_letters(queue)
        assert letter.record == key
        assert node.requeue_dead_letters(queue) == [letter.message_id]
        assert node.get(key) == Record(REQUEUED, b"queued data"), "queued again, data restored"
        # bound again: burying it once more ends the record once more
        assert node.dead_letter(self.lease_one(node, queue, self.long_lease), "again")
        assert node.get(key) == Record(DEAD, buried_data("again", b"queued data"))

    def test_requeue_never_reopens_an_outcome(self, node: EventNode, queue: str) -> None:
        key = self.bound_dead(node, queue)
        node.transition(key, Record("succeeded", b"done"), ttl=TTL)  # e.g. run by hand
        assert len(node.requeue_dead_letters(queue)) == 1
        assert node.get(key) == Record("succeeded", b"done")
        gone = self.bound_dead(node, queue)
        node.delete(gone)
        assert len(node.requeue_dead_letters(queue)) == 1
        assert node.get(gone) is None, "a requeue never creates a record"

    # -- purge_dead_letters and server_info
    def test_purge_dead_letters_drops_them_for_good(self, node: EventNode, queue: str) -> None:
        for _ in range(3):
            self.dead(node, queue)
        node.push(queue, b"alive")
        assert node.purge_dead_letters(queue) == 3
        assert node.dead_letters(queue) == []
        assert node.queue_stats(queue) == QueueStats(ready=1, delayed=0, leased=0, dead=0)
        assert node.purge_dead_letters(queue) == 0

    def test_server_info_is_short_text(self, node: EventNode) -> None:
        info = node.server_info()
        assert isinstance(info, dict)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in info.items())
