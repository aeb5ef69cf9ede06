"""The combined operations: each behaves as its default built on the faces."""

from __future__ import annotations

from arbiter_core.conformance.support import ContractBase, unique
from arbiter_core.node import EventNode, Record, TransitionPush

TTL = 60.0


class CombinedContract(ContractBase):
    """``transition_and_push_many`` keeps the single call's guarantees."""

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
