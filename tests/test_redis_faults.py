"""Faults against real processes and a real redis-server: crashes, restarts, bad messages.

Each test starts a redis-server of its own (AOF on, so a restart keeps the data) and
its minions as separate processes (see ``minion_process``). Executions are counted
from files the tasks write, not from the broker under test.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from minion_process import Minions, registered_pids, wait_registered
from redis_server import RedisServer, private_server
from support import wait_until

from arbiter import Arbiter, connect
from arbiter.exceptions import BrokerConnectionError
from arbiter_core.wire import Envelope, WireFormat

pytestmark = pytest.mark.real_broker

WAIT = 60.0
"""Seconds any wait for tasks may take before the test fails."""
LEASE = 1.0
"""The crash test's lease: a killed minion's task is another's within about a second."""
DEAD_BROKER_BOUND = 15.0
"""A call to a dead broker must fail within this (the node retries for about 5 s)."""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, AOF on; restartable on the same port and dir."""
    with private_server(tmp_path / "redis", "the fault tests (they stop and restart it)") as own:
        yield own


@pytest.fixture
def namespace() -> str:
    return f"f-{uuid.uuid4().hex[:12]}"


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


def test_a_task_of_a_killed_minion_is_finished_by_another_after_the_lease(
    arbiter: Arbiter, minions: Minions, server: RedisServer, namespace: str
) -> None:
    doomed = minions.start(server.url, namespace, workers=1, lease=LEASE)
    wait_registered(arbiter.node, doomed)
    before = [arbiter.apply("work", task_args=[f"t{i}"])[0] for i in range(9)]
    assert len(list(arbiter.wait_for_tasks(before, timeout=WAIT))) == 9
    [victim] = arbiter.apply("hang_once", task_args=["victim", 60])
    assert wait_until((minions.marks / "started-victim").exists, WAIT)
    # Queued behind the victim: the doomed minion's only slot is taken.
    after = [arbiter.apply("work", task_args=[f"t{i}"])[0] for i in range(9, 19)]
    assert arbiter.status(victim)["state"] == "running"

    doomed.kill()  # kill -9 while the victim runs: nothing is acked, nothing cleaned up
    killed_at = time.time()
    survivor = minions.start(server.url, namespace, workers=2, lease=LEASE)
    ids = [*before, victim, *after]
    finished = list(arbiter.wait_for_tasks(ids, timeout=WAIT))

    assert sorted(m["id"] for m in finished) == sorted(ids), "each task ends exactly once"
    assert {m["state"] for m in finished} == {"succeeded"}
    status = arbiter.status(victim)
    assert status["result"] == survivor.pid, status
    assert status["attempt"] == 1  # a redelivery, not a retry
    assert status["started_at"] > killed_at  # started afresh, by the survivor
    runs = minions.all_executions()
    # The victim ran twice: once in the killed minion, once more after its lease ran out.
    assert sorted(runs.pop("victim")) == sorted([doomed.pid, survivor.pid])
    assert runs == {
        **{f"t{i}": [doomed.pid] for i in range(9)},
        **{f"t{i}": [survivor.pid] for i in range(9, 19)},
    }, "every other task ran exactly once"
    # The dead minion leaves the registry when its heartbeat runs out (one lease).
    assert wait_until(lambda: doomed.pid not in registered_pids(arbiter.node), 5 * LEASE)
    assert arbiter.node.dead_letters("default") == []
    assert arbiter.node.queue_size("default") == 0


def test_minions_and_an_arbiter_ride_out_a_server_restart(
    arbiter: Arbiter, minions: Minions, server: RedisServer, namespace: str
) -> None:
    first = minions.start(server.url, namespace, workers=2, lease=3.0)
    second = minions.start(server.url, namespace, workers=2, lease=3.0)
    wait_registered(arbiter.node, first, second)
    # 200 tasks of 20 ms on 4 slots: about a second of work, so the restart lands mid-run.
    early = [arbiter.apply("work", task_args=[f"e{i}", 0.02])[0] for i in range(100)]
    early_results: list[dict[str, Any]] = []
    waiter = threading.Thread(
        target=lambda: early_results.extend(arbiter.wait_for_tasks(early, timeout=WAIT)),
        daemon=True,
    )
    waiter.start()
    assert wait_until(lambda: len(minions.all_executions()) >= 20, WAIT)
    executed_before_the_outage = len(minions.all_executions())

    acknowledged: list[str] = []
    refused: list[BaseException] = []

    def apply_late() -> None:  # starts while the server is down
        for i in range(100):
            try:
                acknowledged.extend(arbiter.apply("work", task_args=[f"l{i}", 0.02]))
            except BrokerConnectionError as exc:
                refused.append(exc)

    server.stop()
    applier = threading.Thread(target=apply_late, daemon=True)
    applier.start()
    time.sleep(0.5)  # the outage itself (not a synchronization): applies and acks wait it out
    server.start()  # same port, same directory: the AOF brings everything back
    applier.join(WAIT)
    assert not applier.is_alive()
    late = list(arbiter.wait_for_tasks(acknowledged, timeout=WAIT))
    waiter.join(WAIT)
    assert not waiter.is_alive(), "wait_for_tasks across the restart did not finish"

    assert executed_before_the_outage < 100, "the restart came after the work, not during it"
    assert refused == []  # a 0.5 s outage is well within the node's retry budget
    assert len(acknowledged) == 100
    assert sorted(m["id"] for m in early_results) == sorted(early)
    assert sorted(m["id"] for m in late) == sorted(acknowledged)
    assert {m["state"] for m in early_results + late} == {"succeeded"}
    runs = minions.all_executions()
    tags = {f"e{i}" for i in range(100)} | {f"l{i}" for i in range(100)}
    assert set(runs) == tags, "nothing acknowledged is lost"
    assert max(len(pids) for pids in runs.values()) <= 2
    assert {pid for pids in runs.values() for pid in pids} == {first.pid, second.pid}
    # Both minions are still serving, and registered again.
    assert first.proc.poll() is None and second.proc.poll() is None
    wait_registered(arbiter.node, first, second)
    assert arbiter.node.queue_size("default") == 0
    assert arbiter.node.dead_letters("default") == []


def test_bad_messages_are_dead_lettered_unexecuted(
    arbiter: Arbiter, minions: Minions, server: RedisServer, namespace: str
) -> None:
    secret = "s3cret"
    minion = minions.start(server.url, namespace, workers=2, secret=secret)
    wait_registered(arbiter.node, minion)
    signed = WireFormat("json", secret)
    no_id = Envelope(task="work", args=("no_id",)).to_dict()
    del no_id["id"]
    bad = {
        "garbage": b"\x00\xffthis is not an arbiter frame",
        "no_id": signed.pack(no_id),  # a valid, signed frame; the envelope lacks its id
        "forged": WireFormat("json", "not-the-secret").encode(
            Envelope(task="work", args=("forged",))
        ),
        "unsigned": WireFormat("json").encode(Envelope(task="work", args=("unsigned",))),
    }
    with connect(server.url, namespace=namespace) as node:
        pushed = {node.push("default", body): tag for tag, body in bad.items()}
    with Arbiter(server.url, namespace=namespace, signing_secret=secret) as client:
        # FIFO: once this one is done, the minion has dealt with everything pushed before it.
        [normal] = client.apply("work", task_args=["normal"])
        [message] = client.wait_for_tasks([normal], timeout=WAIT)
        assert (message["state"], message["result"]) == ("succeeded", minion.pid)

        letters = arbiter.node.dead_letters("default")
        reasons = {pushed[letter.message_id]: letter.reason for letter in letters}
        assert sorted(reasons) == sorted(bad)
        assert "bad magic" in reasons["garbage"]
        assert "'id' is missing" in reasons["no_id"]
        assert "bad signature" in reasons["forged"]
        assert "unsigned" in reasons["unsigned"]
        assert {letter.body for letter in letters} == set(bad.values())
        assert all(letter.delivery_count == 1 for letter in letters)
        assert set(minions.all_executions()) == {"normal"}, "a bad message was executed"
        assert arbiter.node.queue_size("default") == 0

        # And it keeps serving.
        [again] = client.apply("add", task_args=[2, 3])
        [message] = client.wait_for_tasks([again], timeout=WAIT)
        assert message["result"] == 5
    assert minion.proc.poll() is None


def _fails_within(seconds: float, call: Callable[[], object], url: str) -> float:
    """Seconds ``call`` took to raise BrokerConnectionError naming the server; fails otherwise."""
    started = time.monotonic()
    with pytest.raises(BrokerConnectionError) as caught:
        call()
    elapsed = time.monotonic() - started
    assert elapsed < seconds, f"took {elapsed:.1f}s to give up"
    assert url.removeprefix("redis://").removesuffix("/0") in str(caught.value)  # says where
    return elapsed


def _apply_on_a_new_arbiter(url: str, namespace: str) -> None:
    started = time.monotonic()
    fresh = Arbiter(url, namespace=namespace)
    assert time.monotonic() - started < 1.0, "building an Arbiter connected to the broker"
    try:
        fresh.apply("add", task_args=[1, 2])
    finally:
        fresh.close()


def _redis_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("arbiter-redis-")}


def test_a_dead_broker_raises_broker_connection_error_in_bounded_time(
    server: RedisServer, namespace: str
) -> None:
    url = server.url
    arbiter = Arbiter(url, namespace=namespace)
    try:
        [task_id] = arbiter.apply("add", task_args=[1, 2])
        threads = _redis_threads()
        server.stop()

        calls: dict[str, Callable[[], object]] = {
            "apply": lambda: arbiter.apply("add", task_args=[1, 2]),
            "status": lambda: arbiter.status(task_id),
            "workers": arbiter.workers,
            "wait_for_tasks": lambda: list(arbiter.wait_for_tasks([task_id], timeout=600)),
            # Building one touches no broker; its first apply meets the outage.
            "Arbiter().apply": lambda: _apply_on_a_new_arbiter(url, namespace),
        }
        # All at once, as the threads of a busy application would meet the outage.
        with ThreadPoolExecutor(len(calls)) as pool:
            futures = {
                name: pool.submit(_fails_within, DEAD_BROKER_BOUND, call, url)
                for name, call in calls.items()
            }
            elapsed = {name: future.result() for name, future in futures.items()}
        assert max(elapsed.values()) < DEAD_BROKER_BOUND, elapsed
        assert _redis_threads() <= threads, "a failed new Arbiter left its node's threads running"
    finally:
        started = time.monotonic()
        arbiter.close()
        assert time.monotonic() - started < DEAD_BROKER_BOUND
