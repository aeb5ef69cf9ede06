"""The lifecycle guarantees, and :class:`EventNodeContract`: every face of the contract at once."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from arbiter_core.conformance.arguments_contract import ArgumentsContract
from arbiter_core.conformance.broadcast_contract import BroadcastContract
from arbiter_core.conformance.burial_contract import BurialContract
from arbiter_core.conformance.combined_contract import CombinedContract
from arbiter_core.conformance.operations_contract import OperationsContract
from arbiter_core.conformance.priority_contract import PriorityContract
from arbiter_core.conformance.queue_contract import QueueContract
from arbiter_core.conformance.state_contract import StateContract
from arbiter_core.conformance.support import ContractBase, Inbox, NodeFactory, in_thread, unique
from arbiter_core.errors import NodeClosedError
from arbiter_core.node import Delivery, EventNode


class LifecycleContract(ContractBase):
    """``close()`` releases everything, is idempotent, and ends blocked calls."""

    def test_closed_node_refuses_queue_and_broadcast_calls(
        self, node: EventNode, queue: str
    ) -> None:
        node.push(queue, b"x")
        [delivery] = node.pull(queue, timeout=self.wait, lease=self.long_lease)
        node.close()
        node.close()  # idempotent
        event = unique("event")
        calls: list[Callable[[], object]] = [
            lambda: node.push(queue, b"y"),
            lambda: node.pull(queue, timeout=0, lease=self.long_lease),
            lambda: node.ack(delivery),
            lambda: node.nack(delivery),
            lambda: node.renew([delivery], self.long_lease),
            lambda: node.dead_letter(delivery, "closed"),
            lambda: node.dead_letters(queue),
            lambda: node.queue_size(queue),
            lambda: node.queue_stats(queue),
            node.known_queues,
            lambda: node.purge(queue),
            lambda: node.requeue_dead_letters(queue),
            lambda: node.purge_dead_letters(queue),
            node.server_info,
            lambda: node.emit(event, b""),
            lambda: node.subscribe(event, Inbox()),
            lambda: node.unsubscribe(event, Inbox()),
        ]
        for call in calls:
            with pytest.raises(NodeClosedError):
                call()

    def test_close_ends_a_pull_blocked_in_another_thread(self, node: EventNode, queue: str) -> None:
        def pull() -> tuple[list[Delivery], float]:
            return node.pull(queue, timeout=None, lease=self.long_lease), time.monotonic()

        future = in_thread(pull)
        time.sleep(self.settle)  # let the pull block (a pull started after close() would raise)
        closed_at = time.monotonic()
        node.close()
        batch, returned_at = future.result(timeout=self.wait)
        assert batch == []
        assert returned_at - closed_at < self.prompt

    def test_context_manager_closes(self, node_factory: NodeFactory, queue: str) -> None:
        with node_factory() as node:
            node.push(queue, b"x")
        with pytest.raises(NodeClosedError):
            node.push(queue, b"y")

    def test_closing_unsubscribes(self, new_node: NodeFactory) -> None:
        emitter, leaving, staying = new_node(), new_node(), new_node()
        event = unique("event")
        gone, present = Inbox(), Inbox()
        leaving.subscribe(event, gone)
        staying.subscribe(event, present)
        leaving.close()
        emitter.emit(event, b"after close")
        assert present.wait_for(1, self.wait)
        time.sleep(self.settle)  # absence can only be checked by waiting a little
        assert gone.received == []

    def test_unacked_message_of_a_closed_node_is_not_lost(
        self, new_node: NodeFactory, queue: str
    ) -> None:
        leaving, staying = new_node(), new_node()
        leaving.push(queue, b"in flight")
        assert leaving.pull(queue, timeout=self.wait, lease=self.lease)
        leaving.close()
        batch = staying.pull(queue, timeout=self.lease + self.wait, lease=self.long_lease)
        assert [d.body for d in batch] == [b"in flight"]
        assert staying.ack(batch[0])


class EventNodeContract(
    BroadcastContract,
    QueueContract,
    StateContract,
    CombinedContract,
    OperationsContract,
    PriorityContract,
    BurialContract,
    LifecycleContract,
    ArgumentsContract,
):
    """Every guarantee of :class:`arbiter_core.node.EventNode`; see the package docs."""
