"""A signing key rolled without stopping, across three generations of minions and clients.

old key only → [new, old] (the new key signs, the old one still verifies) → new key
only. Messages signed with the old key run during the roll and are dead-lettered,
unexecuted, once it is removed; an unsigned message is refused by every signing
generation; the worker registry shows signing and how many keys verify.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from arbiter_core.client import Arbiter
from arbiter_core.minion import Minion
from arbiter_core.node import EventNode
from tests.distributed.conftest import running
from tests.distributed.test_bad_messages import assert_dead

OLD, NEW = "old-key-0123456789", "new-key-9876543210"


def generation(make_minion: Callable[..., Minion], **keys: Any) -> tuple[Minion, list[int]]:
    app = make_minion(**keys)
    ran: list[int] = []

    @app.task(name="work")
    def work(x: int) -> int:
        ran.append(x)
        return x * 2

    return app, ran


def result_of(client: Arbiter, task_id: str) -> dict[str, Any]:
    [status] = client.wait_for_tasks([task_id], timeout=15)
    return status


def signing_of(client: Arbiter) -> list[tuple[bool | None, int | None]]:
    deadline = time.monotonic() + 10
    while not (found := client.worker_list()):
        assert time.monotonic() < deadline, "the minion never registered"
        time.sleep(0.02)
    return [(worker.signing, worker.signing_keys) for worker in found]


def test_a_key_is_rolled_without_stopping(
    node_factory: Callable[..., EventNode], make_minion: Callable[..., Minion]
) -> None:
    old_client = Arbiter(node_factory(), signing_secret=OLD)
    unsigned_client = Arbiter(node_factory())  # another sender, with no key at all

    # 1. the old key alone
    first, ran_first = generation(make_minion, signing_secret=OLD)
    with running(first, workers=1):
        assert result_of(old_client, old_client.apply("work", task_args=[1])[0])["result"] == 2
        assert signing_of(old_client) == [(True, 1)]
    [left_over] = old_client.apply("work", task_args=[2])  # queued while the minions roll
    [unsigned] = unsigned_client.apply("work", task_args=[66])

    # 2. the new key signs, the old one still verifies
    rolled = [NEW, OLD]
    second, ran_second = generation(make_minion, signing_secrets=rolled)
    rolling_client = Arbiter(node_factory(), signing_secrets=rolled)
    with running(second, workers=1):
        assert result_of(rolling_client, left_over)["result"] == 4, "old-key message ran"
        [fresh] = rolling_client.apply("work", task_args=[3])
        assert result_of(rolling_client, fresh)["result"] == 6
        assert_dead(result_of(rolling_client, unsigned), "unsigned message")
        assert signing_of(rolling_client) == [(True, 2)]
        assert rolling_client.workers()["default"]["signing"] == 1
    [straggler] = old_client.apply("work", task_args=[77])  # a sender not yet rolled
    [unsigned_again] = unsigned_client.apply("work", task_args=[88])

    # 3. the old key removed
    third, ran_third = generation(make_minion, signing_secrets=[NEW])
    new_client = Arbiter(node_factory(), signing_secrets=[NEW])
    with running(third, workers=1):
        [last] = new_client.apply("work", task_args=[5])
        assert result_of(new_client, last)["result"] == 10
        assert_dead(result_of(new_client, straggler), "bad signature")
        assert_dead(result_of(new_client, unsigned_again), "unsigned message")
        assert signing_of(new_client) == [(True, 1)]

    assert (ran_first, ran_second, ran_third) == ([1], [2, 3], [5]), "nothing else ran"
    reasons = sorted(letter.reason for letter in new_client.node.dead_letters("default"))
    assert len(reasons) == 3
    assert sum("bad signature" in reason for reason in reasons) == 1
    assert sum("unsigned message" in reason for reason in reasons) == 2
    for client in (old_client, unsigned_client, rolling_client, new_client):
        client.close()
