"""The state-store guarantees (see :class:`arbiter_core.node.StateStore`), as tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from arbiter_core.conformance.support import ContractBase, NodeFactory, unique
from arbiter_core.errors import NodeClosedError
from arbiter_core.node import ABSENT, STATE, EventNode, Record

FINAL = ("succeeded", "failed", "cancelled")


class StateContract(ContractBase):
    """Records with TTLs, atomic transitions and the worker registry."""

    record_ttl = 60.0
    """A TTL that never runs out during a test."""

    def test_declares_state_capability(self, node: EventNode) -> None:
        assert STATE in node.capabilities

    def test_absent_key(self, node: EventNode) -> None:
        key = unique("key")
        assert node.get(key) is None
        assert node.get_many([key]) == {}
        assert node.get_many([]) == {}

    def test_unconditional_write_is_visible_to_other_nodes(self, new_node: NodeFactory) -> None:
        writer, reader = new_node(), new_node()
        key = unique("key")
        record = Record("queued", bytes(range(256)))
        assert writer.transition(key, record, ttl=self.record_ttl) == (True, record)
        assert reader.get(key) == record
        replaced = Record("anything", b"")
        assert writer.transition(key, replaced, ttl=self.record_ttl) == (True, replaced)
        assert reader.get(key) == replaced

    def test_expect_absent_creates_only_once(self, node: EventNode) -> None:
        key = unique("key")
        first, second = Record("queued", b"1"), Record("queued", b"2")
        assert node.transition(key, first, ttl=self.record_ttl, expect=[ABSENT]) == (True, first)
        assert node.transition(key, second, ttl=self.record_ttl, expect=[ABSENT]) == (False, first)
        assert node.get(key) == first

    def test_expect_refuses_unless_current_state_is_listed(self, node: EventNode) -> None:
        key = unique("key")
        queued, running = Record("queued", b""), Record("running", b"worker-1")
        succeeded = Record("succeeded", b"42")
        assert node.transition(key, running, ttl=self.record_ttl, expect={"queued"}) == (
            False,
            None,
        ), "an absent record is not in {'queued'}"
        assert node.transition(key, queued, ttl=self.record_ttl, expect=[None, "queued"])[0]
        assert node.transition(key, running, ttl=self.record_ttl, expect={"queued"}) == (
            True,
            running,
        )
        assert node.transition(key, succeeded, ttl=self.record_ttl, expect={"running"})[0]
        # A late duplicate cannot leave a final state.
        late = Record("running", b"worker-2")
        assert node.transition(key, late, ttl=self.record_ttl, expect={"queued"}) == (
            False,
            succeeded,
        )
        assert node.transition(key, late, ttl=self.record_ttl, expect=[ABSENT]) == (
            False,
            succeeded,
        )
        assert node.get(key) == succeeded

    def test_concurrent_transitions_exactly_one_wins(self, new_node: NodeFactory) -> None:
        nodes = [new_node(), new_node()]
        key = unique("key")
        racers = 16

        def race(target: str, expect: list[str | None]) -> list[tuple[bool, Record | None]]:
            start = threading.Barrier(racers)

            def attempt(i: int) -> tuple[bool, Record | None]:
                record = Record(target if target != "final" else FINAL[i % 3], str(i).encode())
                start.wait(self.wait)
                return nodes[i % 2].transition(key, record, ttl=self.record_ttl, expect=expect)

            with ThreadPoolExecutor(racers) as pool:
                return list(pool.map(attempt, range(racers)))

        rounds: list[tuple[str, list[str | None]]] = [("running", [ABSENT]), ("final", ["running"])]
        for target, expect in rounds:
            results = race(target, expect)
            winners = [current for written, current in results if written]
            assert len(winners) == 1, f"{len(winners)} writers won the race to {target!r}"
            assert all(current == winners[0] for _, current in results)
            assert nodes[0].get(key) == winners[0]

    def test_get_many_returns_the_existing_records(self, new_node: NodeFactory) -> None:
        writer, reader = new_node(), new_node()
        keys = [unique("key") for _ in range(3)]
        records = {key: Record("queued", key.encode()) for key in keys[:2]}
        for key, record in records.items():
            writer.transition(key, record, ttl=self.record_ttl)
        assert reader.get_many(keys) == records
        assert reader.get_many(keys[1:]) == {keys[1]: records[keys[1]]}

    def test_transition_many_applies_each_item_in_order(self, new_node: NodeFactory) -> None:
        writer, reader = new_node(), new_node()
        taken, fresh, counted = unique("key"), unique("key"), unique("key")
        mine, other = Record("queued", b"mine"), Record("queued", b"other")
        writer.transition(taken, other, ttl=self.record_ttl)
        one, two = Record("pending:1", b"10"), Record("pending:0", b"11")
        results = writer.transition_many(
            [
                (taken, mine, self.record_ttl, [ABSENT]),  # refused: the current record
                (fresh, mine, self.record_ttl, [ABSENT]),
                (counted, Record("pending:2", b"00"), self.record_ttl, None),
                (counted, one, self.record_ttl, ("pending:2",)),  # sees the item before
                (counted, two, self.record_ttl, ("pending:2",)),  # refused: now pending:1
                (unique("key"), mine, self.record_ttl, ("queued",)),  # absent: not written
                (taken, mine, self.record_ttl, ()),  # an empty expect only reads
                (unique("key"), mine, self.record_ttl, ()),
            ]
        )
        assert results == [
            (False, other),
            (True, mine),
            (True, Record("pending:2", b"00")),
            (True, one),
            (False, one),
            (False, None),
            (False, other),
            (False, None),
        ]
        assert reader.get_many([taken, fresh, counted]) == {taken: other, fresh: mine, counted: one}
        assert writer.transition_many([]) == []

    def test_transition_many_takes_large_batches(self, node: EventNode) -> None:
        keys = [unique("key") for _ in range(1_200)]
        items = [(key, Record("waiting", key.encode()), self.record_ttl, [ABSENT]) for key in keys]
        assert node.transition_many(items) == [(True, item[1]) for item in items]
        again = node.transition_many(items)
        assert again == [(False, item[1]) for item in items]
        assert node.get_many(keys) == {key: Record("waiting", key.encode()) for key in keys}

    def test_transition_many_checks_every_item_first(self, node: EventNode) -> None:
        first, second = unique("key"), unique("key")
        record = Record("queued", b"")
        with pytest.raises(ValueError):
            node.transition_many(
                [(first, record, self.record_ttl, None), (second, record, 0, None)]
            )
        with pytest.raises(TypeError):
            node.transition_many(
                [(first, record, self.record_ttl, None), (second, "queued", 1.0, None)]  # type: ignore[list-item]
            )
        assert node.get_many([first, second]) == {}

    def test_records_expire_after_their_ttl(self, node: EventNode) -> None:
        key, kept = unique("key"), unique("kept")
        record = Record("succeeded", b"result")
        node.transition(key, record, ttl=self.ttl)
        node.transition(kept, record, ttl=self.record_ttl)
        assert node.get(key) == record
        time.sleep(self.ttl + self.settle)
        assert node.get(key) is None
        assert node.get_many([key, kept]) == {kept: record}
        assert node.transition(key, record, ttl=self.ttl, expect=[ABSENT])[0], (
            "an expired record counts as absent"
        )

    def test_each_write_sets_the_ttl(self, node: EventNode) -> None:
        key = unique("key")
        node.transition(key, Record("queued", b""), ttl=self.ttl)
        node.transition(key, Record("running", b""), ttl=self.record_ttl, expect={"queued"})
        time.sleep(self.ttl + self.settle)
        assert node.get(key) == Record("running", b"")

    def test_delete(self, new_node: NodeFactory) -> None:
        node, other = new_node(), new_node()
        key = unique("key")
        node.transition(key, Record("queued", b""), ttl=self.record_ttl)
        other.delete(key)
        assert node.get(key) is None
        node.delete(key)  # absent: nothing happens
        assert node.transition(key, Record("queued", b""), ttl=self.record_ttl, expect=[None])[0]

    def ours(self, node: EventNode, *worker_ids: str) -> dict[str, bytes]:
        """The live workers among ``worker_ids`` (a shared broker may have others)."""
        return {w: info for w, info in node.live_workers().items() if w in worker_ids}

    def test_heartbeats_list_live_workers(self, new_node: NodeFactory) -> None:
        worker, reader = new_node(), new_node()
        w1, w2 = unique("worker"), unique("worker")
        worker.heartbeat(w1, b"queue=default busy=0 free=4", self.record_ttl)
        worker.heartbeat(w2, b"queue=other busy=1 free=0", self.record_ttl)
        assert self.ours(reader, w1, w2) == {
            w1: b"queue=default busy=0 free=4",
            w2: b"queue=other busy=1 free=0",
        }
        worker.heartbeat(w1, b"queue=default busy=3 free=1", self.record_ttl)
        assert self.ours(reader, w1, w2)[w1] == b"queue=default busy=3 free=1"

    def test_worker_expires_after_its_ttl_unless_refreshed(self, node: EventNode) -> None:
        silent, alive = unique("worker"), unique("worker")
        node.heartbeat(silent, b"", self.ttl)
        node.heartbeat(alive, b"", self.ttl)
        assert set(self.ours(node, silent, alive)) == {silent, alive}
        time.sleep(self.ttl / 2)
        node.heartbeat(alive, b"", self.record_ttl)  # refreshed: its new ttl counts from now
        time.sleep(self.ttl / 2 + self.settle)
        assert set(self.ours(node, silent, alive)) == {alive}

    def test_remove_worker(self, new_node: NodeFactory) -> None:
        node, other = new_node(), new_node()
        leaving, staying = unique("worker"), unique("worker")
        node.heartbeat(leaving, b"", self.record_ttl)
        node.heartbeat(staying, b"", self.record_ttl)
        other.remove_worker(leaving)
        other.remove_worker(unique("never registered"))
        assert set(self.ours(node, leaving, staying)) == {staying}

    clock_tolerance = 1.0
    """Seconds a store's clock may stand from this machine's (raise it for a remote store)."""

    def test_now_is_one_clock_that_every_node_reads(self, new_node: NodeFactory) -> None:
        first, second = new_node(), new_node()
        before = time.time()
        readings = [first.now(), second.now(), first.now()]
        after = time.time()
        for reading in readings:
            assert before - self.clock_tolerance <= reading <= after + self.clock_tolerance
        assert abs(readings[1] - readings[0]) < 0.25, "two nodes of one store read one clock"
        assert readings[2] >= readings[0] - 0.005, "it does not run backwards"
        time.sleep(0.05)
        assert 0.04 <= first.now() - readings[2] <= 1.0, "it advances in seconds"

    def test_closed_node_refuses_state_calls(self, node: EventNode) -> None:
        node.close()
        key = unique("key")
        calls: list[Callable[[], object]] = [
            lambda: node.get(key),
            lambda: node.get_many([key]),
            lambda: node.transition(key, Record("queued", b""), ttl=self.record_ttl),
            lambda: node.transition_many([(key, Record("queued", b""), self.record_ttl, None)]),
            lambda: node.delete(key),
            lambda: node.heartbeat(key, b"", self.record_ttl),
            node.live_workers,
            lambda: node.remove_worker(key),
        ]
        for call in calls:
            with pytest.raises(NodeClosedError):
                call()
