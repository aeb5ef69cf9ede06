"""``arbiter apply/status/wait/kill/workers/queues/purge/ping``, the real console script in
subprocesses against a throwaway Redis, with a minion serving in a subprocess; then the
Python API those commands stand on, on memory://.

The shell examples of docs/operations.md ("Inspecting and controlling", "Mistakes arbiter
warns about") are the commands run here.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from cli_support import START_TIMEOUT, AppMinion, CommandLine
from click.testing import CliRunner
from minion_process import registered_pids
from support import wait_until

from arbiter import Arbiter, Minion
from arbiter_core import client
from arbiter_core.cli import cli
from arbiter_core.errors import WaitTimeoutError
from arbiter_core.inspection import QueueInfo
from arbiter_core.liveness import QueueWatch
from arbiter_redis import RedisEventNode

ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def served(
    redis_server: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[CommandLine, AppMinion, RedisEventNode]]:
    """One namespace and one minion (2 slots, queue ``default``) for the whole module."""
    url = redis_server.url  # type: ignore[attr-defined]
    namespace = f"cli-{tmp_path_factory.mktemp('ns').name[-6:]}"
    directory = tmp_path_factory.mktemp("cli")
    minion = AppMinion(directory, url, namespace, "minion")
    node = RedisEventNode(url=url, namespace=namespace)
    try:
        assert wait_until(lambda: minion.pid in registered_pids(node), START_TIMEOUT), (
            minion.output()
        )
        yield CommandLine(url, namespace, directory), minion, node
    finally:
        minion.stop()
        names = list(node.client.scan_iter(match=f"{{{namespace}}}:*"))
        if names:
            node.client.delete(*names)
        node.close()


pytestmark = pytest.mark.real_broker


def test_ping_prints_the_server_version_and_round_trip(served: tuple) -> None:
    arbiter, _, _ = served
    done = arbiter("ping", "--broker", arbiter.url)
    assert re.fullmatch(
        r"pong from redis://127\.0\.0\.1:\d+/0 \(redis \d+\.\d+\.\d+\) in \d+\.\d\d ms\n",
        done.stdout,
    ), done.stdout
    shown = json.loads(arbiter("ping", "--json").stdout)
    assert shown["server"]["server"].startswith("redis ")
    assert 0 < shown["round_trip"] < 5


def test_ping_of_an_unreachable_broker_is_a_one_line_error(served: tuple) -> None:
    arbiter, _, _ = served
    done = arbiter("ping", "--broker", "reddis://localhost", check=1)
    assert "did you mean redis://?" in done.stderr
    assert "Traceback" not in done.stderr


def test_apply_wait_reads_each_argument_as_json_else_text(served: tuple) -> None:
    arbiter, _, _ = served
    done = arbiter("apply", "add", "2", "3", "--wait", "--timeout", "30")
    task_id, state, result = done.stdout.split()
    assert ID.match(task_id) and (state, result) == ("succeeded", "5")
    assert arbiter("apply", "add", "ab", "cd", "--wait").stdout.split()[1:] == [
        "succeeded",
        '"abcd"',
    ]
    done = arbiter("apply", "add", "2", "--kwargs", '{"y": 40}', "--count", "3", "--wait", "--json")
    shown = json.loads(done.stdout)
    assert len(shown["ids"]) == 3
    assert [r["result"] for r in shown["results"]] == [42, 42, 42]
    assert [r["id"] for r in shown["results"]] == shown["ids"], "in the order applied"


def test_apply_then_status_then_wait(served: tuple) -> None:
    arbiter, minion, _ = served
    task_id = arbiter("apply", "add", "20", "22").stdout.strip()
    assert ID.match(task_id)
    waited = arbiter("wait", task_id, "--timeout", "30")
    assert waited.stdout.split() == [task_id, "succeeded", "42"]
    shown = arbiter("status", task_id).stdout
    assert re.search(r"^state:\s+succeeded$", shown, re.M), shown
    assert re.search(r"^result:\s+42$", shown, re.M)
    assert re.search(rf"^worker:\s+\S+:{minion.pid}:", shown, re.M), shown
    status = json.loads(arbiter("status", task_id, "--json").stdout)
    assert (status["state"], status["result"], status["name"]) == ("succeeded", 42, "add")


def test_apply_with_countdown_expires_and_unique_key(served: tuple) -> None:
    arbiter, _, _ = served
    started = time.time()
    done = arbiter("apply", "add", "1", "2", "--countdown", "1", "--wait", "--json")
    [status] = json.loads(done.stdout)["results"]
    assert status["result"] == 3 and status["started_at"] - started >= 1, status
    # An expiry before the start is refused at once, naming the problem.
    done = arbiter("apply", "add", "1", "--countdown", "2", "--expires", "1", check=1)
    assert "expires" in done.stderr and "Traceback" not in done.stderr
    soon = (datetime.now(timezone.utc) + timedelta(seconds=1)).isoformat()
    expired = arbiter("apply", "add", "5", "--eta", soon, "--expires", "0.1", check=1)
    assert "must come after the start" in expired.stderr
    naive = arbiter("apply", "add", "5", "--eta", "2026-12-01T09:00:00", check=1)
    assert "timezone-aware" in naive.stderr
    bad = arbiter("apply", "add", "5", "--eta", "tomorrow", check=2)
    assert "not an ISO 8601 time" in bad.stderr
    # A second apply with the same key while the first waits gives the first one's id.
    key = f"nightly-{time.time_ns()}"
    first = arbiter("apply", "add", "1", "1", "--countdown", "2", "--unique-key", key).stdout
    again = arbiter("apply", "add", "9", "9", "--unique-key", key).stdout
    assert first.strip() == again.strip() and ID.match(first.strip())
    assert arbiter("wait", first.strip(), "--timeout", "30").stdout.split()[1:] == [
        "succeeded",
        "2",
    ]


def test_a_failed_task_exits_1_with_its_error(served: tuple) -> None:
    arbiter, _, _ = served
    done = arbiter("apply", "fail", "--wait", check=1)
    assert done.stdout.split()[1:] == ["failed", "ValueError:", "boom"]
    task_id = done.stdout.split()[0]
    shown = arbiter("status", task_id).stdout
    assert "ValueError: boom" in shown and "Traceback" in shown
    assert "state:" in arbiter("status", "no-such-task", check=1).stdout


def test_kill_a_running_task(served: tuple) -> None:
    arbiter, _, _ = served
    task_id = arbiter("apply", "sleep", "15").stdout.strip()
    assert wait_until(
        lambda: json.loads(arbiter("status", task_id, "--json").stdout)["state"] == "running",
        30,
    )
    assert arbiter("kill", task_id).stdout.split() == [task_id, "killed"]
    done = arbiter("wait", task_id, "--timeout", "30", check=1)
    assert done.stdout.split()[:2] == [task_id, "cancelled"]
    again = arbiter("kill", task_id, "--json", check=1)
    assert json.loads(again.stdout) == {"killed": [], "not_killed": [task_id]}


def test_workers_lists_the_minion(served: tuple) -> None:
    arbiter, minion, _ = served
    lines = arbiter("workers").stdout.splitlines()
    assert lines[0].split()[:5] == ["ID", "QUEUE", "HOST", "PID", "BUSY/SLOTS"]
    [row] = [line for line in lines[1:] if f":{minion.pid}:" in line]
    cells = row.split()
    assert cells[1] == "default" and cells[3] == str(minion.pid)
    assert re.fullmatch(r"[0-2]/2", cells[4])
    [worker] = json.loads(arbiter("workers", "--json").stdout)
    assert (worker["pid"], worker["queue"], worker["slots"]) == (minion.pid, "default", 2)
    assert worker["uptime"] >= 0


def test_workers_shows_whether_each_worker_refuses_unsigned_messages(served: tuple) -> None:
    arbiter, minion, _ = served
    lines = arbiter("workers").stdout.splitlines()
    assert "SIGNING" in lines[0].split()
    [row] = [line for line in lines[1:] if f":{minion.pid}:" in line]
    assert " off " in row, "this minion has no signing secret"
    [worker] = json.loads(arbiter("workers", "--json").stdout)
    assert (worker["signing"], worker["signing_keys"]) == (False, 0)


def test_queues_purge_and_the_warning_of_an_unserved_queue(served: tuple) -> None:
    arbiter, _, _ = served
    done = arbiter("apply", "add", "1", "2", "--queue", "parked", "--count", "3")
    assert len(done.stdout.split()) == 3
    assert "WARNING: task 'add' was applied to queue 'parked', which no live minion serves" in (
        done.stderr
    )
    parked_id = done.stdout.split()[0]
    table = arbiter("queues").stdout.splitlines()
    assert table[0].split() == ["QUEUE", "READY", "IN", "FLIGHT", "DELAYED", "DEAD", "CONSUMERS"]
    rows = {line.split()[0]: line.split()[1:] for line in table[1:]}
    assert rows["parked"] == ["3", "0", "0", "0", "0"]
    assert rows["default"][-1] == "1", "the minion consumes default"
    shown = json.loads(arbiter("queues", "--json").stdout)
    assert shown["parked"] == {
        "name": "parked",
        "ready": 3,
        "in_flight": 0,
        "delayed": 0,
        "dead": 0,
        "consumers": 0,
    }
    refused = arbiter("purge", "parked", input="n\n", check=1)
    assert "Drop 3 waiting task(s) of queue 'parked'? [y/N]" in refused.stdout
    assert json.loads(arbiter("queues", "--json").stdout)["parked"]["ready"] == 3
    assert arbiter("purge", "parked", "--yes").stdout == "purged 3 task(s) from queue 'parked'\n"
    status = json.loads(arbiter("status", parked_id, "--json").stdout)
    assert status["state"] == "dead", "nobody waits for a purged task"
    assert "parked" not in json.loads(arbiter("queues", "--json").stdout)


def test_a_wait_that_times_out_names_the_unfinished_ids(served: tuple) -> None:
    arbiter, _, _ = served
    task_id = arbiter("apply", "add", "1", "1", "--queue", "nobody-home").stdout.strip()
    done = arbiter("wait", task_id, "--timeout", "0.5", check=1)
    assert f"1 task(s) still unfinished after 0.5s: {task_id}" in done.stderr
    arbiter("purge", "nobody-home", "--yes")


# -- arbiter config --broker: the scheme is checked, nothing is connected
def test_config_refuses_a_scheme_no_plugin_serves() -> None:
    result = CliRunner().invoke(cli, ["config", "--broker", "reddis://x"])
    assert result.exit_code == 1
    assert "no installed plugin serves reddis:// URLs (did you mean redis://?)" in result.output
    ok = CliRunner().invoke(cli, ["config", "--broker", "redis://nowhere:1/0"])
    assert ok.exit_code == 0, ok.output
    assert re.search(r"^broker_url\s+redis://nowhere:1/0\s+argument$", ok.output, re.M)


# -- the Python API under the commands, on memory://
@pytest.fixture
def memory_app(request: pytest.FixtureRequest) -> Iterator[tuple[Arbiter, Minion]]:
    url = f"memory://inspect-{request.node.name}"
    minion = Minion(url, queue="default")
    minion.task(name="add")(lambda x, y: x + y)
    arbiter = Arbiter(url)
    try:
        yield arbiter, minion
    finally:
        arbiter.close()
        minion.close()


def test_queues_lists_served_and_filled_queues(memory_app: tuple[Arbiter, Minion]) -> None:
    arbiter, minion = memory_app
    assert arbiter.queues() == {}
    arbiter.apply("add", 2, [1, 2], queue="elsewhere")
    minion.node.heartbeat(
        "w1", json.dumps({"queue": "default", "slots": 2, "busy": 1}).encode(), 60
    )
    assert arbiter.queues() == {
        "default": QueueInfo("default", 0, 0, 0, 0, 1),
        "elsewhere": QueueInfo("elsewhere", 2, 0, 0, 0, 0),
    }
    assert arbiter.queue_info("elsewhere").ready == 2
    assert arbiter.known_queues() == {"default", "elsewhere"}
    [worker] = arbiter.worker_list()
    assert (worker.id, worker.queue, worker.busy, worker.slots, worker.pid) == (
        "w1",
        "default",
        1,
        2,
        None,
    )
    assert arbiter.purge("elsewhere") == 2
    assert arbiter.ping().server == {
        "server": f"memory (in-process broker {minion.node.url[9:]!r})"
    }


def test_apply_to_an_unserved_queue_warns_once_and_reads_the_registry_rarely(
    memory_app: tuple[Arbiter, Minion], caplog: pytest.LogCaptureFixture
) -> None:
    arbiter, _ = memory_app
    reads = []
    live_workers = arbiter.node.live_workers

    def counted() -> dict[str, bytes]:
        reads.append(1)
        return live_workers()

    arbiter.node.live_workers = counted  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="arbiter.client"):
        for _ in range(50):
            arbiter.apply("add", 1, [1, 2], queue="lonely")
            arbiter.apply("add", 1, [1, 2], queue="lonely-too")
    warnings = [r.getMessage() for r in caplog.records if r.name == "arbiter.client"]
    assert len(warnings) == 2, warnings
    assert "queue 'lonely', which no live minion serves" in warnings[0]
    assert len(reads) == 1, "one registry read per REGISTRY_REFRESH, not one per apply"


def test_the_registry_is_read_again_after_the_refresh_period() -> None:
    now = [0.0]
    reads = []

    class Node:
        def live_workers(self) -> dict[str, bytes]:
            reads.append(now[0])
            return {"w": b'{"queue": "q"}'}

    watch = QueueWatch(Node(), refresh=5.0, clock=lambda: now[0])  # type: ignore[arg-type]
    for step in range(12):
        now[0] = step
        assert watch.served() == {"q"}
    assert reads == [0.0, 5.0, 10.0]


def test_a_wait_on_an_unserved_queue_warns_once_and_times_out_naming_the_ids(
    memory_app: tuple[Arbiter, Minion],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arbiter, _ = memory_app
    monkeypatch.setattr(client, "RESYNC_INTERVAL", 0.1)
    ids = arbiter.apply("add", 12, [1, 2], queue="unserved")
    with (
        caplog.at_level(logging.WARNING, logger="arbiter.client"),
        pytest.raises(WaitTimeoutError) as caught,
    ):
        list(arbiter.wait_for_tasks(ids, timeout=0.6))
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.pending == tuple(ids)
    assert str(caught.value) == (
        f"12 task(s) still unfinished after 0.6s: {', '.join(ids[:10])} and 2 more"
    )
    waits = [r.getMessage() for r in caplog.records if "waiting for" in r.getMessage()]
    assert waits == [
        "waiting for 12 task(s) queued on 'unserved', which no live minion serves: they will "
        "not finish until one starts (arbiter minion APP --queue unserved)"
    ]
