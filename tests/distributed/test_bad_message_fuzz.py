"""Arbitrary JSON in any envelope field, pushed straight onto a queue, never stops a minion.

Every message either runs (and ends ``succeeded`` or ``failed`` under its id) or is
dead-lettered with a reason, ending its record if it was pushed with one; every good
message interleaved with the bad ones runs exactly once.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from arbiter_core import composition, records
from arbiter_core.client import Arbiter
from arbiter_core.errors import MessageRejected
from arbiter_core.minion import Minion
from arbiter_core.node import Record
from arbiter_core.wire import Envelope, WireFormat
from tests.distributed.conftest import running

WIRE = WireFormat()
FIELDS = [
    "v", "id", "task", "args", "kwargs", "queue", "attempt", "deadline", "reply_to",
    "headers", "created_at",
]  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)  # lone surrogates included
    | st.sampled_from(["work", "pipe", "group", "then", "callback", "of", "claim_finalizer"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.text(max_size=4) | st.sampled_from(["pipe", "group", "then", "of", "v", "task"]),
            inner,
            max_size=3,
        )
    ),
    max_leaves=8,
)
# A message: None for a good one, else (field, value, bound to a record or not).
MESSAGES = st.lists(
    st.none() | st.tuples(st.sampled_from(FIELDS), JSON, st.booleans()), min_size=1, max_size=6
)


def strictly_valid(body: bytes) -> bool:
    try:
        composition.check_headers(WIRE.decode(body).headers)
    except MessageRejected:
        return False
    return True


def drained(arbiter: Arbiter, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while arbiter.node.queue_size("default") and time.monotonic() < deadline:
        time.sleep(0.02)
    return arbiter.node.queue_size("default") == 0


@pytest.mark.timeout(600)
def test_arbitrary_envelopes_never_stop_the_minion(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    app = make_minion()
    runs: Counter[str] = Counter()
    seen: Counter[str] = Counter()  # what the examples exercised, checked at the end

    @app.task(name="work")
    def work(x: Any = 1, tag: str = "") -> Any:
        runs[tag] += 1
        return x * 2

    with running(app, workers=2) as thread:
        worker = app._run
        assert worker is not None

        @settings(
            max_examples=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(MESSAGES)
        @example([("task", "no-such-task", True), None])  # runs: fails, unknown task
        @example([("args", [{"a": 1}], False)])  # runs: fails, dict * 2
        @example([("created_at", float("nan"), True), None, ("headers", {"pipe": 5}, True)])
        def check(messages: list[tuple[str, Any, bool] | None]) -> None:
            good: dict[str, str] = {}  # task id -> tag
            bad: list[tuple[bytes, str | None]] = []  # body, id of its record if bound
            dead_before = len(arbiter.node.dead_letters("default", limit=100_000))
            for message in messages:
                if message is None:
                    tag = uuid.uuid4().hex
                    [task_id] = arbiter.apply("work", task_args=[3], task_kwargs={"tag": tag})
                    good[task_id] = tag
                    continue
                field, value, bound = message
                data = {**Envelope("work", kwargs={"tag": "bad"}).to_dict(), field: value}
                body = WIRE.frame(json.dumps(data, allow_nan=True).encode())
                task_id = data["id"] if isinstance(data["id"], str) else uuid.uuid4().hex
                key = records.task_key(task_id)
                if bound and task_id.isascii() and task_id:
                    status = WIRE.pack({"id": task_id, "state": "queued"}, "record")
                    written = arbiter.node.transition_and_push(
                        key, Record(records.QUEUED, status), ttl=60, expect=[None],
                        queue="default", body=body,
                    )  # fmt: skip
                    bad.append((body, task_id if written else None))
                else:
                    arbiter.node.push("default", body)
                    bad.append((body, None))
            assert drained(arbiter), "every message is acked or dead-lettered"
            for status in arbiter.wait_for_tasks(good, timeout=20):
                assert status["state"] == records.SUCCEEDED and status["result"] == 6
                assert runs[good[status["id"]]] == 1, "a good message runs exactly once"
            letters = arbiter.node.dead_letters("default", limit=100_000)[dead_before:]
            buried = Counter(letter.body for letter in letters)
            for body, bound_id in bad:
                if strictly_valid(body):
                    task_id = WIRE.decode(body).id
                    [status] = arbiter.wait_for_tasks([task_id], timeout=20)
                    assert status["state"] in (records.SUCCEEDED, records.FAILED), status
                    seen[f"ran, {status['state']}"] += 1
                else:
                    assert buried[body] > 0, f"not dead-lettered: {body!r}"
                    buried[body] -= 1
                    seen["dead-lettered"] += 1
                    if bound_id is not None:
                        [status] = arbiter.wait_for_tasks([bound_id], timeout=20)
                        assert status["state"] == records.DEAD, status
                        seen["bound record ended dead"] += 1
            seen["good"] += len(good)
            assert all(letter.reason for letter in letters)
            assert thread.is_alive() and worker.crashed is None, "the minion never dies"

        check()
    assert not thread.is_alive()
    kinds = ("good", "dead-lettered", "bound record ended dead", "ran, failed")
    assert all(seen[kind] for kind in kinds), f"the examples missed a case: {seen}"
