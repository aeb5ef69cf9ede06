"""The broadcast guarantees (see :class:`arbiter_core.node.Broadcaster`), as tests."""

from __future__ import annotations

import threading
import time

from arbiter_core.conformance.support import ContractBase, Inbox, NodeFactory, unique
from arbiter_core.node import BROADCAST, EventNode


class BroadcastContract(ContractBase):
    """Fan-out to every subscriber on every node, in order per emitter, at most once."""

    def test_declares_broadcast_capability(self, node: EventNode) -> None:
        assert BROADCAST in node.capabilities

    def test_emit_reaches_every_node_and_the_emitter(self, new_node: NodeFactory) -> None:
        emitter, listener = new_node(), new_node()
        event = unique("event")
        at_emitter, at_listener, second_at_listener = Inbox(), Inbox(), Inbox()
        emitter.subscribe(event, at_emitter)
        listener.subscribe(event, at_listener)
        listener.subscribe(event, second_at_listener)
        emitter.emit(event, b"hello")
        for inbox in (at_emitter, at_listener, second_at_listener):
            assert inbox.wait_for(1, self.wait), "a subscriber missed the event"
            assert inbox.received == [(event, b"hello")]

    def test_subscriber_gets_only_its_event(self, new_node: NodeFactory) -> None:
        emitter, listener = new_node(), new_node()
        event, other_event = unique("event"), unique("other")
        inbox = Inbox()
        listener.subscribe(event, inbox)
        emitter.emit(other_event, b"not for you")
        emitter.emit(event, b"for you")
        assert inbox.wait_for(1, self.wait)
        assert inbox.received == [(event, b"for you")]

    def test_emit_without_subscribers_is_fine(self, node: EventNode) -> None:
        node.emit(unique("event"), b"nobody listens")

    def test_order_per_emitter(self, new_node: NodeFactory) -> None:
        emitter, listener = new_node(), new_node()
        event = unique("event")
        inbox = Inbox()
        listener.subscribe(event, inbox)
        payloads = [str(i).encode() for i in range(100)]
        for payload in payloads:
            emitter.emit(event, payload)
        assert inbox.wait_for(len(payloads), self.wait)
        assert inbox.payloads == payloads

    def test_unsubscribe_stops_delivery(self, new_node: NodeFactory) -> None:
        emitter, listener = new_node(), new_node()
        event = unique("event")
        leaving, staying = Inbox(), Inbox()
        listener.subscribe(event, leaving)
        listener.subscribe(event, staying)
        emitter.emit(event, b"1")
        assert leaving.wait_for(1, self.wait) and staying.wait_for(1, self.wait)
        listener.unsubscribe(event, leaving)
        listener.unsubscribe(event, leaving)  # unknown pairs are ignored
        listener.unsubscribe(unique("never subscribed"), staying)
        emitter.emit(event, b"2")
        emitter.emit(event, b"3")
        # One event at a time per node, in order: once "3" reached ``staying``,
        # "2" and "3" were already handed to every callback still subscribed.
        assert staying.wait_for(3, self.wait)
        assert leaving.payloads == [b"1"]
        assert staying.payloads == [b"1", b"2", b"3"]

    def test_failing_callback_does_not_stop_others(self, new_node: NodeFactory) -> None:
        emitter, listener = new_node(), new_node()
        event = unique("event")
        failures = Inbox()

        def failing(event: str, payload: bytes) -> None:
            failures(event, payload)
            raise RuntimeError("a broken subscriber (expected in this test)")

        inbox = Inbox()
        listener.subscribe(event, failing)
        listener.subscribe(event, inbox)
        emitter.emit(event, b"1")
        emitter.emit(event, b"2")
        assert inbox.wait_for(2, self.wait)
        assert failures.wait_for(2, self.wait), "the failing callback stopped getting events"
        assert inbox.payloads == [b"1", b"2"]

    def test_slow_callback_does_not_block_emit(self, new_node: NodeFactory) -> None:
        emitter, listener = new_node(), new_node()
        event = unique("event")
        release = threading.Event()
        inbox = Inbox()

        def slow(event: str, payload: bytes) -> None:
            release.wait(self.wait)
            inbox(event, payload)

        emitter.subscribe(event, slow)
        listener.subscribe(event, slow)
        try:
            started = time.monotonic()
            for i in range(5):
                emitter.emit(event, str(i).encode())
                listener.emit(event, str(i).encode())
            assert time.monotonic() - started < self.prompt, "emit waited for a callback"
        finally:
            release.set()
        assert inbox.wait_for(20, self.wait)
