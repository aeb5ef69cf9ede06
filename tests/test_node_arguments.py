"""A backend that checks nothing still refuses bad arguments: the base class checks them.

``UncheckedNode`` is the least a third-party backend writes: the protected methods of
the three faces, on plain dicts, with no argument check of its own. It passes the
conformance suite's :class:`ArgumentsContract` as it is, and its protected methods
never see a bad argument.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from arbiter_core.conformance import ArgumentsContract
from arbiter_core.conformance.arguments_contract import BAD_CALLS
from arbiter_core.errors import NodeClosedError
from arbiter_core.node import DeadLetter, Delivery, EventCallback, EventNode, Expect, Record


class UncheckedNode(EventNode):
    """Every protected method, on dicts, in one thread; it trusts its arguments blindly."""

    def __init__(self) -> None:
        super().__init__(namespace="unchecked")
        self.calls: list[str] = []
        self.closed = False
        self._ids = itertools.count()
        self._ready: dict[str, deque[tuple[str, bytes]]] = {}
        self._leased: dict[str, tuple[str, bytes]] = {}
        self._records: dict[str, Record] = {}
        self._workers: dict[str, bytes] = {}
        self._subscribers: dict[str, list[EventCallback]] = {}

    @property
    def url(self) -> str:
        return "unchecked://"

    def close(self) -> None:
        self.closed = True

    def _seen(self, name: str) -> None:
        if self.closed:
            raise NodeClosedError("closed")
        self.calls.append(name)

    # broadcast
    def _emit(self, event: str, payload: bytes) -> None:
        self._seen("emit")
        for callback in self._subscribers.get(event, []):
            callback(event, payload)

    def _subscribe(self, event: str, callback: EventCallback) -> None:
        self._seen("subscribe")
        self._subscribers.setdefault(event, []).append(callback)

    def _unsubscribe(self, event: str, callback: EventCallback) -> None:
        self._seen("unsubscribe")
        if callback in self._subscribers.get(event, []):
            self._subscribers[event].remove(callback)

    # work queues
    def _push(self, queue: str, body: bytes, not_before: float | None) -> str:
        self._seen("push")
        message_id = str(next(self._ids))
        self._ready.setdefault(queue, deque()).append((message_id, body))
        return message_id

    def _pull(
        self, queue: str, timeout: float | None, lease: float, max_messages: int
    ) -> list[Delivery]:
        self._seen("pull")
        ready = self._ready.get(queue, deque())
        taken: list[Delivery] = []
        while ready and len(taken) < max_messages:
            message_id, body = ready.popleft()
            self._leased[message_id] = (queue, body)
            taken.append(Delivery(queue, message_id, body, 1, message_id, time.time()))
        return taken

    def _ack(self, delivery: Delivery) -> bool:
        self._seen("ack")
        return self._leased.pop(delivery.message_id, None) is not None

    def _nack(self, delivery: Delivery, delay: float) -> bool:
        self._seen("nack")
        held = self._leased.pop(delivery.message_id, None)
        if held is not None:
            self._ready.setdefault(held[0], deque()).append((delivery.message_id, held[1]))
        return held is not None

    def _renew(self, deliveries: Sequence[Delivery], lease: float) -> list[bool]:
        self._seen("renew")
        return [delivery.message_id in self._leased for delivery in deliveries]

    def _dead_letter(self, delivery: Delivery, reason: str) -> bool:
        self._seen("dead_letter")
        return self._leased.pop(delivery.message_id, None) is not None

    def _dead_letters(self, queue: str, limit: int) -> list[DeadLetter]:
        self._seen("dead_letters")
        return []

    def _queue_size(self, queue: str) -> int:
        self._seen("queue_size")
        leased = sum(1 for q, _ in self._leased.values() if q == queue)
        return len(self._ready.get(queue, ())) + leased

    # state
    def _get(self, key: str) -> Record | None:
        self._seen("get")
        return self._records.get(key)

    def _get_many(self, keys: list[str]) -> dict[str, Record]:
        self._seen("get_many")
        return {key: self._records[key] for key in keys if key in self._records}

    def _transition(
        self, key: str, record: Record, ttl: float, expect: Expect
    ) -> tuple[bool, Record | None]:
        self._seen("transition")
        current = self._records.get(key)
        if expect is not None and (None if current is None else current.state) not in expect:
            return False, current
        self._records[key] = record
        return True, record

    def _delete(self, key: str) -> None:
        self._seen("delete")
        self._records.pop(key, None)

    def _heartbeat(self, worker_id: str, info: bytes, ttl: float) -> None:
        self._seen("heartbeat")
        self._workers[worker_id] = info

    def _live_workers(self) -> dict[str, bytes]:
        self._seen("live_workers")
        return dict(self._workers)

    def _remove_worker(self, worker_id: str) -> None:
        self._seen("remove_worker")
        self._workers.pop(worker_id, None)


class TestUncheckedNodeArguments(ArgumentsContract):
    """The conformance suite's argument tests, passed with no check in the backend."""

    @pytest.fixture
    def node_factory(self) -> Callable[[], EventNode]:
        return UncheckedNode


@pytest.mark.parametrize("name", sorted(BAD_CALLS))
def test_the_backend_never_sees_a_bad_argument(name: str) -> None:
    node = UncheckedNode()
    node.push("q", b"x")
    [delivery] = node.pull("q", timeout=0, lease=10)
    before = list(node.calls)
    call, error, _ = BAD_CALLS[name]
    with pytest.raises(error):
        call(node, "q", delivery)
    assert node.calls == before, "a protected method ran with a bad argument"


def test_checked_arguments_reach_the_backend_unchanged() -> None:
    node: Any = UncheckedNode()
    node.push("q", bytearray(b"body"))
    assert node.transition_and_push("k", Record("queued", b""), ttl=5, expect=[None], queue="q",
                                    body=b"job")  # fmt: skip
    [first, second] = node.pull("q", timeout=0, lease=10, max_messages=2)
    assert (first.body, second.body) == (b"body", b"job")
    written, taken = node.transition_ack_and_pull(
        first, "k", Record("succeeded", b""), ttl=5, expect=["queued"], lease=10
    )
    assert written and taken == []
    assert node.calls == [
        "push",
        "transition",  # the default transition_and_push: transition, then push
        "push",
        "pull",
        "transition",  # the default transition_ack_and_pull: transition, ack, pull
        "ack",
        "pull",
    ]
