"""A task the backend buried (its deliveries spent) is logged by exactly one minion of
its queue, and told to observers; purged messages and other queues' tasks are not."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from arbiter_core.client import Arbiter
from arbiter_core.minion import Minion
from arbiter_core.node import EventNode
from arbiter_core.plugins import PluginRegistry, hookimpl
from arbiter_core.wire import Envelope, WireFormat
from tests.distributed.conftest import running
from tests.support import wait_until


class DeadLetters:
    """An observer plugin that keeps every ``arbiter_task_dead_lettered`` call."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    @hookimpl
    def arbiter_task_dead_lettered(self, task_id: str, name: str, queue: str, reason: str) -> None:
        self.calls.append({"task_id": task_id, "name": name, "queue": queue, "reason": reason})


def spend(node: EventNode, arbiter: Arbiter, queue: str = "default") -> str:
    """Apply a task and lease its message twice without an ack: two minions that died."""
    [task_id] = arbiter.apply("work", queue=queue)
    for _ in range(2):
        assert node.pull(queue, timeout=5, lease=0.2)
    return task_id


def burial_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "dead-lettered by the broker" in r.getMessage()]


def test_one_minion_of_the_queue_logs_a_spent_task_once(
    node_factory: Callable[..., EventNode], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="arbiter.minion")
    node = node_factory(max_deliveries=2)
    arbiter = Arbiter(node)
    observers = [DeadLetters() for _ in range(2)]
    minions = []
    for observer in observers:
        registry = PluginRegistry()
        registry.register(observer, name="dead-letters")
        minion = Minion(node_factory(max_deliveries=2), registry=registry)
        minion.task(name="work")(lambda: None)
        minions.append(minion)
    task_id = spend(node, arbiter)
    with running(minions[0], workers=1), running(minions[1], workers=1):
        [status] = arbiter.wait_for_tasks([task_id], timeout=10)
        assert status["state"] == "dead"
        assert wait_until(lambda: burial_lines(caplog), timeout=5)
        # Give the other minion the time to log it too, if it were going to.
        [again] = arbiter.wait_for_tasks(arbiter.apply("work"), timeout=10)
        assert again["state"] == "succeeded", "the minions went on serving"
    [line] = burial_lines(caplog)
    assert line.levelno == logging.WARNING
    assert line.__dict__["task_id"] == task_id and line.__dict__["task"] == "work"
    assert "delivered 2 times" in line.__dict__["reason"]
    calls = [call for observer in observers for call in observer.calls]
    assert calls == [
        {"task_id": task_id, "name": "work", "queue": "default", "reason": line.__dict__["reason"]}
    ]
    arbiter.close()


def test_purged_and_other_queues_tasks_are_not_logged(
    node_factory: Callable[..., EventNode], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="arbiter.minion")
    node = node_factory(max_deliveries=2)
    arbiter = Arbiter(node)
    minion = Minion(node_factory(max_deliveries=2), queue="default")
    minion.task(name="work")(lambda: None)
    with running(minion, workers=1):
        elsewhere = spend(node, arbiter, queue="other")
        assert node.pull("other", timeout=0.5, lease=5) == [], "buried now"
        arbiter.apply("work", queue="purged", tasks_count=3)
        assert arbiter.purge("purged") == 3
        [again] = arbiter.wait_for_tasks(arbiter.apply("work"), timeout=10)
        assert again["state"] == "succeeded"
        assert arbiter.status(elsewhere)["state"] == "dead"
    assert burial_lines(caplog) == []
    arbiter.close()


def test_a_refused_message_is_told_to_observers(node_factory: Callable[..., EventNode]) -> None:
    observer = DeadLetters()
    registry = PluginRegistry()
    registry.register(observer, name="dead-letters")
    minion = Minion(node_factory(), registry=registry)
    minion.task(name="work")(lambda: None)
    arbiter = Arbiter(node_factory())
    envelope = Envelope("work", headers={"pipe": "nope"}, reply_to=arbiter.reply_to)
    arbiter.node.push("default", WireFormat().encode(envelope))
    with running(minion, workers=1):
        [status] = arbiter.wait_for_tasks([envelope.id], timeout=10)
    assert status["state"] == "dead"
    [call] = observer.calls
    assert call["task_id"] == envelope.id and call["name"] == "work"
    assert "pipe" in call["reason"]
    arbiter.close()
