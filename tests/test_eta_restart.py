"""A delayed task survives broker and minion restarts and still starts on time (issue 16).

A redis-server of the test's own (AOF on, so a restart keeps the data) and minions
in processes of their own (see ``minion_process``). Lateness is the task's
``started_at`` (the minion's clock) minus its ``eta`` (the applying process's clock;
one machine, so one clock): the target is 50 ms. Each test prints what it measured
(``pytest -s`` shows it).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from minion_process import Minions, wait_registered
from redis_server import RedisServer, private_server

from arbiter import Arbiter

pytestmark = pytest.mark.real_broker

TARGET = 0.050
"""Seconds after its ETA by which a delayed task must have started."""
CLOCK_SLACK = 0.002
"""Seconds a start may precede its ETA (the broker keeps whole milliseconds, rounded up)."""
WAIT = 60.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with private_server(tmp_path / "redis", "the ETA restart tests (they restart it)") as own:
        yield own


@pytest.fixture
def namespace() -> str:
    return f"eta-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def minions(tmp_path: Path) -> Iterator[Minions]:
    fleet = Minions(tmp_path)
    yield fleet
    fleet.kill_all()


@pytest.fixture
def arbiter(server: RedisServer, namespace: str) -> Iterator[Arbiter]:
    client = Arbiter(server.url, namespace=namespace)
    yield client
    client.close()


def lateness(arbiter: Arbiter, ids: list[str]) -> list[float]:
    """Wait for every task; each one's start minus its ETA, in seconds."""
    finished = list(arbiter.wait_for_tasks(ids, timeout=WAIT))
    assert {s["state"] for s in finished} == {"succeeded"}, finished
    return sorted(s["started_at"] - s["eta"] for s in finished)


def report(what: str, late: list[float]) -> None:
    shown = ", ".join(f"{x * 1000:.1f}" for x in late)
    print(f"\n{what}: lateness after the ETA in ms: {shown} (max {max(late) * 1000:.1f})")


def test_a_countdown_is_honoured_after_a_broker_restart(
    arbiter: Arbiter, minions: Minions, server: RedisServer, namespace: str
) -> None:
    minion = minions.start(server.url, namespace, workers=2)
    wait_registered(arbiter.node, minion)
    ids = [arbiter.apply("work", task_args=[f"d{i}"], countdown=2.0 + i / 4)[0] for i in range(6)]
    server.restart()  # same port, same directory: the AOF brings the delayed messages back
    late = lateness(arbiter, ids)
    report("broker restart", late)
    runs = minions.all_executions()
    assert set(runs) == {f"d{i}" for i in range(6)} and all(len(p) == 1 for p in runs.values())
    assert min(late) >= -CLOCK_SLACK, "a task started before its ETA"
    assert max(late) < TARGET, f"a task started {max(late) * 1000:.1f} ms after its ETA"


def test_a_countdown_survives_a_minion_and_broker_restart(
    arbiter: Arbiter, minions: Minions, server: RedisServer, namespace: str
) -> None:
    first = minions.start(server.url, namespace, workers=2)
    wait_registered(arbiter.node, first)
    applied = time.monotonic()
    ids = [arbiter.apply("work", task_args=[f"m{i}"], countdown=6.0 + i / 4)[0] for i in range(4)]
    first.kill()  # kill -9 with the tasks delayed: nothing of them is in the minion
    server.restart()
    second = minions.start(server.url, namespace, workers=2)
    wait_registered(arbiter.node, second)
    assert time.monotonic() - applied < 6.0, "the new minion came after the first ETA"
    late = lateness(arbiter, ids)
    report("minion and broker restart", late)
    runs = minions.all_executions()
    assert runs == {f"m{i}": [second.pid] for i in range(4)}
    assert min(late) >= -CLOCK_SLACK, "a task started before its ETA"
    assert max(late) < TARGET, f"a task started {max(late) * 1000:.1f} ms after its ETA"
