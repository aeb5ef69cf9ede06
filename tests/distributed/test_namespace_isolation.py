"""Two applications with different namespaces on one Redis never see each other's tasks,
results, workers, queues, dead letters or broadcasts (issue 17, item 4).

Both run on the suite's throwaway Redis (``redis_url``), each in a namespace of its own,
with a minion serving the same queue name and the same task name: only the namespace
tells them apart. The dead letters are also read through ``arbiter dead-letter list``.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from arbiter import Arbiter, Minion, connect
from arbiter_core.node import EventNode
from tests.cli_support import CommandLine
from tests.distributed.conftest import running
from tests.support import wait_until

pytestmark = pytest.mark.real_broker


class App:
    """One application: its namespace, a minion whose ``who`` task says which app ran it,
    and an Arbiter."""

    def __init__(self, url: str, name: str) -> None:
        self.namespace = f"iso-{name}-{uuid.uuid4().hex[:8]}"
        self.nodes: list[EventNode] = [connect(url, namespace=self.namespace) for _ in range(2)]
        self.minion = Minion(self.nodes[0], queue="default")
        self.arbiter = Arbiter(self.nodes[1])
        self.release = threading.Event()

        @self.minion.task(name="who")
        def who() -> str:
            return name

        @self.minion.task(name="hold")
        def hold() -> str:
            self.release.wait(10)
            return name

    def close(self) -> None:
        self.release.set()
        self.arbiter.close()
        for node in self.nodes:
            node.close()


@pytest.fixture
def apps(redis_url: str, redis_server: object) -> Iterator[tuple[App, App]]:
    import redis

    pair = App(redis_url, "a"), App(redis_url, "b")
    try:
        yield pair
    finally:
        for app in pair:
            app.close()
        client = redis.Redis.from_url(redis_url)
        for app in pair:
            names = list(client.scan_iter(match=f"{{{app.namespace}}}:*", count=1000))
            if names:
                client.delete(*names)
        client.close()


def test_tasks_results_and_workers_stay_in_their_namespace(apps: tuple[App, App]) -> None:
    a, b = apps
    with running(a.minion), running(b.minion):
        assert wait_until(lambda: a.arbiter.workers().get("default", {}).get("workers") == 1)
        assert wait_until(lambda: b.arbiter.workers().get("default", {}).get("workers") == 1)
        ids_a = a.arbiter.apply("who", tasks_count=20)
        ids_b = b.arbiter.apply("who", tasks_count=20)
        assert {s["result"] for s in a.arbiter.wait_for_tasks(ids_a, timeout=20)} == {"a"}
        assert {s["result"] for s in b.arbiter.wait_for_tasks(ids_b, timeout=20)} == {"b"}
        # the other app's ids are unknown here, whatever state they are in there
        assert {b.arbiter.status(task_id)["state"] for task_id in ids_a} == {"unknown"}
        assert {a.arbiter.status(task_id)["state"] for task_id in ids_b} == {"unknown"}

        def active(app: App) -> int:
            return app.arbiter.workers()["default"]["active"]

        assert wait_until(lambda: active(a) == 0 and active(b) == 0)  # the last beats arrived
        [held] = a.arbiter.apply("hold")
        assert wait_until(lambda: a.arbiter.status(held)["state"] == "running")
        assert wait_until(lambda: active(a) == 1)
        assert active(b) == 0  # a's busy slot is a's alone
        assert b.arbiter.kill(held) is False  # nothing of that id in b
        assert a.arbiter.status(held)["state"] == "running"
        a.release.set()
        [done] = a.arbiter.wait_for_tasks([held], timeout=10)
        assert done["result"] == "a"

        workers_a = {w.id for w in a.arbiter.worker_list()}
        workers_b = {w.id for w in b.arbiter.worker_list()}
        assert len(workers_a) == len(workers_b) == 1 and not workers_a & workers_b


def test_queues_dead_letters_and_broadcasts_stay_in_their_namespace(
    apps: tuple[App, App], redis_url: str, tmp_path: Path
) -> None:
    a, b = apps
    a.arbiter.apply("who", queue="only-a")  # no minion serves it: it waits, in a only
    a.nodes[1].push("default", b"garbled")
    with running(a.minion), running(b.minion):
        assert wait_until(lambda: len(a.arbiter.dead_letters()) == 1)
        assert a.arbiter.known_queues() == {"default", "only-a"}
        assert "only-a" not in b.arbiter.known_queues()
        assert b.arbiter.dead_letters() == []
        assert b.arbiter.purge("only-a") == 0 and b.arbiter.purge_dead_letters() == 0

        heard: dict[str, list[bytes]] = {"a": [], "b": []}
        for app, name in ((a, "a"), (b, "b")):
            app.nodes[1].subscribe("news", lambda event, payload, n=name: heard[n].append(payload))
        a.nodes[1].emit("news", b"for a")
        b.nodes[1].emit("news", b"for b")  # after a's, so b would have heard a's by now
        assert wait_until(lambda: heard["a"] and heard["b"])
        assert heard == {"a": [b"for a"], "b": [b"for b"]}

    for app, expected in ((a, 1), (b, 0)):
        command = CommandLine(redis_url, app.namespace, tmp_path)
        letters = json.loads(command("dead-letter", "list", "--json").stdout)
        assert len(letters) == expected
        queues = json.loads(command("queues", "--json").stdout)
        assert ("only-a" in queues) == (app is a)
    assert a.arbiter.queue_info("only-a").ready == 1  # b's purge did not touch it
