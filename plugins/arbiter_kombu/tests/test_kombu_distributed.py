"""Minions and Arbiters over amqp:// with the records on Redis, and the faults of DESIGN §3:
a minion killed mid-task, RabbitMQ dropping every connection, garbage on a queue."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kombu_support import rabbitmqctl

import arbiter
from arbiter_core.client import Arbiter
from arbiter_core.minion import Minion
from arbiter_core.node import EventNode

pytestmark = pytest.mark.real_broker

LEASE = 2.0


@pytest.fixture
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def connect(
    rabbit_url: str, throwaway_redis: str, namespace: str
) -> Iterator[Callable[[], EventNode]]:
    opened: list[EventNode] = []

    def make() -> EventNode:
        node = arbiter.connect(
            rabbit_url, state_url=throwaway_redis, namespace=namespace, lease=LEASE
        )
        opened.append(node)
        return node

    yield make
    for node in opened:
        node.close()


@contextmanager
def running(minion: Minion, workers: int = 2) -> Iterator[None]:
    thread = threading.Thread(
        target=minion.run, kwargs={"workers": workers, "handle_signals": False}, daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        minion.stop()
        thread.join(timeout=30)
        assert not thread.is_alive(), "the minion did not stop"


def test_apply_wait_status_group_and_pipe(connect: Callable[[], EventNode]) -> None:
    from arbiter_core.composition import TaskCall

    app = Minion(connect(), queue="default", lease=LEASE)

    @app.task(name="add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="total")
    def total(results: list[int]) -> int:
        return sum(results)

    @app.task(name="scale")
    def scale(previous: int, factor: int) -> int:
        return factor * previous

    client = Arbiter(connect(), lease=LEASE)
    try:
        with running(app, workers=3):
            ids = client.apply("add", tasks_count=5, task_args=[1, 2])
            statuses = list(client.wait_for_tasks(ids, timeout=30))
            assert sorted(s["id"] for s in statuses) == sorted(ids)
            assert all(s["state"] == "succeeded" and s["result"] == 3 for s in statuses)
            assert client.status(ids[0])["worker"] == app.worker_id

            plan = client.group([TaskCall("add", (i, i)) for i in range(4)], callback="total")
            grouped = {s["id"]: s for s in client.wait_for_tasks(plan.all_ids, timeout=30)}
            assert [grouped[i]["result"] for i in plan.members] == [0, 2, 4, 6]
            assert grouped[plan.callback]["result"] == 12

            steps = client.pipe([TaskCall("add", (1, 2)), TaskCall("scale", (10,))])
            last = list(client.wait_for_tasks(steps, timeout=30))
            assert {s["id"]: s["result"] for s in last}[steps[-1]] == 30
    finally:
        client.close()


MINION_APP = r"""
import os
import time
from pathlib import Path

from arbiter import Minion

MARKS = Path(os.environ["KOMBU_TEST_MARKS"])
app = Minion(queue="default")  # broker, state, namespace and lease from ARBITER_*


@app.task(name="slow")
def slow(tag, seconds):
    (MARKS / f"start-{tag}-{os.getpid()}").touch()
    time.sleep(seconds)
    (MARKS / f"done-{tag}-{os.getpid()}").touch()
    return os.getpid()


@app.task(name="add")
def add(x, y):
    return x + y
"""


class MinionProcess:
    """``arbiter minion app.py`` in a process of its own, configured by the environment."""

    def __init__(self, directory: Path, env: dict[str, str], workers: int = 1) -> None:
        self.log = (directory / f"minion-{uuid.uuid4().hex[:6]}.log").open("wb")
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("arbiter")),
                "minion",
                "app.py",
                "--workers",
                str(workers),
            ],
            cwd=directory,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()


@pytest.fixture
def minions(
    tmp_path: Path, rabbit_url: str, throwaway_redis: str, namespace: str
) -> Iterator[Callable[[], MinionProcess]]:
    (tmp_path / "app.py").write_text(MINION_APP)
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {
        **os.environ,
        "ARBITER_BROKER_URL": rabbit_url,
        "ARBITER_STATE_URL": throwaway_redis,
        "ARBITER_NAMESPACE": namespace,
        "ARBITER_LEASE": str(LEASE),
        "KOMBU_TEST_MARKS": str(marks),
    }
    started: list[MinionProcess] = []

    def start() -> MinionProcess:
        minion = MinionProcess(tmp_path, env)
        started.append(minion)
        return minion

    yield start
    for minion in started:
        minion.stop()


def wait_for(condition: Callable[[], bool], timeout: float = 30) -> bool:
    """Poll what another process does (files it writes) until it holds or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_task_whose_minion_is_killed_completes_elsewhere_exactly_once(
    minions: Callable[[], MinionProcess], connect: Callable[[], EventNode], tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    client = Arbiter(connect(), lease=LEASE)
    try:
        doomed = minions()
        [task_id] = client.apply("slow", task_args=["k9", 3.0])
        assert wait_for(lambda: any(marks.glob("start-k9-*"))), "the task never started"
        doomed.kill()  # kill -9 mid-task: RabbitMQ sees the connection close, requeues
        survivor = minions()
        [status] = client.wait_for_tasks([task_id], timeout=60)
        assert status["state"] == "succeeded"
        assert status["result"] == survivor.process.pid
        assert [p.name for p in marks.glob("done-k9-*")] == [f"done-k9-{survivor.process.pid}"]
        assert len(list(marks.glob("start-k9-*"))) == 2, "run once by each minion, no more"
    finally:
        client.close()


def test_minion_reconnects_when_rabbitmq_drops_every_connection(
    minions: Callable[[], MinionProcess],
    connect: Callable[[], EventNode],
    rabbit_url: str,
) -> None:
    vhost = rabbit_url.rsplit("/", 1)[1]
    client = Arbiter(connect(), lease=LEASE)
    try:
        minions()
        before = client.apply("add", tasks_count=20, task_args=[2, 3])
        assert all(s["result"] == 5 for s in client.wait_for_tasks(before, timeout=30))
        rabbitmqctl("close_all_connections", "-p", vhost, "arbiter fault test")
        # the client's own connections went too: it reconnects as the minion does
        after = client.apply("add", tasks_count=20, task_args=[4, 5])
        statuses = list(client.wait_for_tasks(after, timeout=60))
        assert len(statuses) == 20 and all(s["result"] == 9 for s in statuses)
    finally:
        client.close()


def test_garbage_on_the_queue_is_dead_lettered_with_a_reason(
    connect: Callable[[], EventNode], rabbit_url: str, namespace: str
) -> None:
    from kombu import Connection

    node = connect()
    app = Minion(node, queue="default", lease=LEASE)

    @app.task(name="add")
    def add(x: int, y: int) -> int:
        return x + y

    with running(app, workers=1):
        node.push("default", b"warm up")  # declares the queue; also garbage
        with Connection(rabbit_url) as raw:
            raw.default_channel.basic_publish(
                raw.default_channel.prepare_message(b"\x00not an envelope\xff"),
                exchange="",
                routing_key=f"{namespace}.queue.default",
            )
        assert wait_for(lambda: len(node.dead_letters("default")) == 2, timeout=30)
    letters = node.dead_letters("default")
    assert {letter.body for letter in letters} == {b"warm up", b"\x00not an envelope\xff"}
    assert all(letter.reason for letter in letters)
    assert node.queue_size("default") == 0
