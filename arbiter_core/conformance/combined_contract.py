"""The combined operations: each behaves as its default built on the faces."""

from __future__ import annotations

from arbiter_core.conformance.support import ContractBase, Inbox, unique
from arbiter_core.node import Claim, Claimed, EventNode, Record, TransitionPush

TTL = 60.0


class CombinedContract(ContractBase):
    """``transition_and_push_many`` keeps the single call's guarantees; the other combined
    calls do what their parts do, in order."""

    def test_transition_and_push_many_pushes_only_what_was_written(
        self, node: EventNode, queue: str
    ) -> None:
        taken, fresh, second = unique("taken"), unique("fresh"), unique("second")
        node.transition(taken, Record("running", b"old"), ttl=TTL)
        items = [
            TransitionPush(fresh, Record("queued", b"1"), TTL, [None], queue, b"a"),
            TransitionPush(taken, Record("queued", b"2"), TTL, [None], queue, b"b"),
            TransitionPush(second, Record("queued", b"3"), TTL, [None], queue, b"c"),
        ]
        assert node.transition_and_push_many(items) == [True, False, True]
        assert node.transition_and_push_many([]) == []
        assert node.get(fresh) == Record("queued", b"1")
        assert node.get(taken) == Record("running", b"old")
        batch = node.pull(queue, timeout=self.wait, lease=self.long_lease, max_messages=5)
        assert [d.body for d in batch] == [b"a", b"c"], "pushed in order, only if written"

    def test_transition_and_ack_stores_announces_then_acks(
        self, node: EventNode, queue: str
    ) -> None:
        key, event = unique("done"), unique("done-event")
        inbox = Inbox()
        node.subscribe(event, inbox)
        node.push(queue, b"job")
        [delivery] = node.pull(queue, timeout=self.wait, lease=self.long_lease)
        node.transition(key, Record("running", b"r"), ttl=TTL)
        written = node.transition_and_ack(
            delivery,
            key,
            Record("succeeded", b"s"),
            ttl=TTL,
            expect=["running"],
            event=event,
            payload=b"news",
        )
        assert written
        assert node.get(key) == Record("succeeded", b"s")
        assert inbox.wait_for(1, self.wait) and inbox.payloads == [b"news"]
        assert node.queue_size(queue) == 0, "acked"
        node.push(queue, b"duplicate")
        [again] = node.pull(queue, timeout=self.wait, lease=self.long_lease)
        refused = node.transition_and_ack(
            again, key, Record("succeeded", b"late"), ttl=TTL, expect=["running"], event=event
        )
        assert not refused and node.get(key) == Record("succeeded", b"s"), "a final state stays"
        assert node.queue_size(queue) == 0, "a refused write still acks"

    def test_transition_ack_and_pull_takes_the_next_message(
        self, node: EventNode, queue: str
    ) -> None:
        key, event = unique("done"), unique("done-event")
        inbox = Inbox()
        node.subscribe(event, inbox)
        for body in (b"first", b"second", b"third"):
            node.push(queue, body)
        [first] = node.pull(queue, timeout=self.wait, lease=self.long_lease)
        written, taken = node.transition_ack_and_pull(
            first,
            key,
            Record("succeeded", b"1"),
            ttl=TTL,
            expect=None,
            event=event,
            payload=b"one",
            lease=self.long_lease,
            max_messages=5,
        )
        assert written and node.get(key) == Record("succeeded", b"1")
        assert [d.body for d in taken] == [b"second", b"third"], "FIFO, up to max_messages"
        assert all(d.delivery_count == 1 for d in taken)
        assert inbox.wait_for(1, self.wait) and inbox.payloads == [b"one"]
        assert node.queue_size(queue) == 2, "the first acked, the next two leased"
        last = taken[-1]
        for delivery in taken[:-1]:
            assert node.ack(delivery)
        written, taken = node.transition_ack_and_pull(
            last, unique("other"), Record("succeeded", b""), ttl=TTL, expect=None, lease=1.0
        )
        assert written and taken == [], "nothing ready: returns at once, empty"
        assert node.queue_size(queue) == 0
        assert not node.ack(last), "it was acked by the combined call"

    def test_transition_push_ack_and_pull_pushes_then_finishes(
        self, node: EventNode, queue: str
    ) -> None:
        key, event = unique("done"), unique("done-event")
        fresh, taken_key = unique("fresh"), unique("taken")
        inbox = Inbox()
        node.subscribe(event, inbox)
        node.push(queue, b"job")
        [delivery] = node.pull(queue, timeout=self.wait, lease=self.long_lease)
        node.transition(key, Record("succeeded", b"s"), ttl=TTL)
        node.transition(taken_key, Record("running", b"old"), ttl=TTL)
        pushes = [
            TransitionPush(fresh, Record("queued", b"1"), TTL, [None], queue, b"a"),
            TransitionPush(taken_key, Record("queued", b"2"), TTL, [None], queue, b"b"),
        ]
        pushed, written, taken = node.transition_push_ack_and_pull(
            pushes,
            delivery,
            key,
            Record("succeeded", b"s"),
            ttl=TTL,
            expect=["succeeded"],
            event=event,
            payload=b"news",
            lease=self.long_lease,
            max_messages=5,
        )
        assert pushed == [True, False] and written
        assert [d.body for d in taken] == [b"a"], "pushed before the next pull, only if written"
        assert node.get(fresh) == Record("queued", b"1")
        assert node.get(taken_key) == Record("running", b"old")
        assert inbox.wait_for(1, self.wait) and inbox.payloads == [b"news"]
        assert not node.ack(delivery), "acked by the combined call"
        [last] = taken
        pushed, written, taken = node.transition_push_ack_and_pull(
            [], last, unique("other"), Record("succeeded", b""), ttl=TTL, expect=None, lease=1.0
        )
        assert pushed == [] and written and taken == []
        assert node.queue_size(queue) == 0

    def test_pull_and_claim_moves_bound_records_or_reports_them(
        self, node: EventNode, queue: str
    ) -> None:
        """A backend may claim (see ``node.claim``); if it does, it claims correctly."""
        fresh, killed, later = unique("claim"), unique("killed"), unique("later")
        for key, body in ((fresh, b"a"), (killed, b"b")):
            node.transition_and_push(
                key, Record("queued", body), ttl=TTL, expect=[None], queue=queue, body=body
            )
        assert node.transition(killed, Record("cancelled", b"c"), ttl=TTL, expect=["queued"])[0]
        node.push(queue, b"plain")
        claim = Claim("running", ("queued", "running"), TTL)
        got = node.pull_and_claim(
            queue, timeout=self.wait, lease=self.long_lease, max_messages=3, claim=claim
        )
        assert [d.body for d in got] == [b"a", b"b", b"plain"]
        first, refused, plain = got
        assert plain.claim is None, "a message pushed without a record has nothing to claim"
        if first.claim is None:  # this backend leaves claiming to the caller: nothing changed
            assert refused.claim is None
            assert node.get(fresh) == Record("queued", b"a")
            return
        assert first.claim == Claimed(True)
        assert node.get(fresh) == Record("running", b"a"), "the state moves, the data stays"
        assert refused.claim == Claimed(False, Record("cancelled", b"c")), "refused, as it is"
        assert node.get(killed) == Record("cancelled", b"c")
        node.transition_and_push(
            later, Record("queued", b"l"), ttl=TTL, expect=[None], queue=queue, body=b"l"
        )
        _, [taken] = node.transition_ack_and_pull(
            first, fresh, Record("succeeded", b"s"), ttl=TTL, expect=["running"],
            lease=self.long_lease, claim=claim,
        )  # fmt: skip
        assert taken.body == b"l" and taken.claim == Claimed(True), "the combined call claims"
        assert node.get(later) == Record("running", b"l")
