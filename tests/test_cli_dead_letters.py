"""``arbiter dead-letter list | show | requeue | purge``: the real console script in
subprocesses against a throwaway Redis, minions in subprocesses; then the Python API the
commands stand on, on memory://.

The round trip: a task that kills its own process is delivered ``max_deliveries`` (1)
times without an ack, so the next minion buries it; it is listed, shown, requeued, and
then succeeds. The shell examples of docs/operations.md ("Dead letters") are these
commands.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import START_TIMEOUT, AppMinion, CommandLine
from minion_process import registered_pids
from support import wait_until

from arbiter import Arbiter, Minion
from arbiter_core import records
from arbiter_redis import RedisEventNode

pytestmark = pytest.mark.real_broker

BURY_FAST = {"ARBITER_MAX_DELIVERIES": "1", "ARBITER_LEASE": "1"}
"""One delivery per message, and a crashed minion's lease runs out within a second."""


@pytest.fixture
def setup(
    redis_url: str, redis_namespace: str, tmp_path: Path
) -> Iterator[tuple[CommandLine, RedisEventNode, list[AppMinion]]]:
    node = RedisEventNode(url=redis_url, namespace=redis_namespace)
    minions: list[AppMinion] = []
    try:
        yield CommandLine(redis_url, redis_namespace, tmp_path), node, minions
    finally:
        for minion in minions:
            minion.stop()
        node.close()


def start(setup: tuple[CommandLine, RedisEventNode, list[AppMinion]], name: str) -> AppMinion:
    arbiter, node, minions = setup
    minion = AppMinion(arbiter.cwd, arbiter.url, node.namespace, name, **BURY_FAST)
    minions.append(minion)
    assert wait_until(
        lambda: minion.pid in registered_pids(node) or minion.proc.poll() is not None,
        START_TIMEOUT,
    )
    assert minion.proc.poll() is None, minion.output()
    return minion


def test_a_dead_letter_is_listed_shown_requeued_and_then_succeeds(
    setup: tuple[CommandLine, RedisEventNode, list[AppMinion]],
) -> None:
    arbiter, _, _ = setup
    marker = arbiter.cwd / "fixed"
    first = start(setup, "first")
    task_id = arbiter("apply", "crash_unless", str(marker)).stdout.strip()
    assert first.proc.wait(30) == 3, "the task killed its minion"
    start(setup, "second")  # its first pull finds the lease run out: delivered once, buried

    waited = arbiter("wait", task_id, "--timeout", "30", check=1)
    assert waited.stdout.split()[:3] == [task_id, "dead", "DeadLetteredError:"]
    assert "delivered 1 times without an ack" in waited.stdout

    listing = arbiter("dead-letter", "list").stdout.splitlines()
    assert listing[0].split() == ["ID", "TASK", "QUEUE", "REASON", "DELIVERIES", "DEAD", "AT"]
    [row] = listing[1:]
    assert row.split()[:3] == [task_id, "crash_unless", "default"]
    assert "delivered 1 times without an ack" in row
    [letter] = json.loads(arbiter("dead-letter", "list", "--queue", "default", "--json").stdout)
    assert (letter["task_id"], letter["deliveries"], letter["envelope"]["args"]) == (
        task_id,
        1,
        [str(marker)],
    )
    shown = arbiter("dead-letter", "show", task_id).stdout
    assert re.search(r"^task:\s+crash_unless$", shown, re.M), shown
    assert re.search(rf"^args:\s+\[{re.escape(json.dumps(str(marker)))}\]$", shown, re.M), shown
    assert json.loads(arbiter("queues", "--json").stdout)["default"]["dead"] == 1

    marker.touch()
    requeued = arbiter("dead-letter", "requeue", task_id).stdout
    assert requeued == f"requeued {task_id} (crash_unless) on 'default'\n"
    assert arbiter("wait", task_id, "--timeout", "30").stdout.split() == [
        task_id,
        "succeeded",
        '"recovered"',
    ]
    assert json.loads(arbiter("status", task_id, "--json").stdout)["state"] == "succeeded"
    assert arbiter("dead-letter", "list").stdout == "no dead letters\n"
    again = arbiter("dead-letter", "requeue", task_id, check=1)
    assert f"not a dead letter: {task_id}" in again.stderr


def test_a_garbled_message_is_shown_safely_then_purged(
    setup: tuple[CommandLine, RedisEventNode, list[AppMinion]],
) -> None:
    arbiter, node, _ = setup
    start(setup, "minion")
    garbage = b"\x00\xff not an envelope " * 30
    message_id = node.push("default", garbage)
    assert wait_until(lambda: bool(node.dead_letters("default")), 30)

    [letter] = json.loads(arbiter("dead-letter", "list", "--json").stdout)
    assert (letter["message_id"], letter["task"], letter["envelope"]) == (message_id, None, None)
    assert letter["undecodable"] and letter["size"] == len(garbage)
    shown = arbiter("dead-letter", "show", message_id).stdout
    assert re.search(r"^undecodable: \S", shown, re.M), shown
    [raw] = [line for line in shown.splitlines() if line.startswith("raw:")]
    assert raw.startswith("raw:         b'\\x00\\xff not an envelope ")
    assert raw.endswith(f"... ({len(garbage)} bytes)")
    assert arbiter("dead-letter", "show", "no-such-id", check=1).stderr.endswith(
        "no dead letter has the id 'no-such-id'\n"
    )

    refused = arbiter("dead-letter", "purge", input="n\n", check=1)
    assert "Drop 1 dead letter(s) of every queue for good? [y/N]" in refused.stdout
    done = arbiter("dead-letter", "purge", "--yes")
    assert done.stdout == "purged 1 dead letter(s) of every queue\n"
    assert arbiter("dead-letter", "requeue", "--all").stdout == "no dead letters\n"
    arbiter("dead-letter", "requeue", check=2)  # neither ids nor --all: a usage error


# -- the Python API under the commands, on memory://
@pytest.fixture
def memory(request: pytest.FixtureRequest) -> Iterator[tuple[Arbiter, Minion]]:
    url = f"memory://dead-{request.node.name}"
    minion = Minion(url, queue="default", max_deliveries=1)
    minion.task(name="add")(lambda x, y: x + y)
    arbiter = Arbiter(url)
    try:
        yield arbiter, minion
    finally:
        arbiter.close()
        minion.close()


def crash(arbiter: Arbiter, task_id: str) -> None:
    """Lease the task's message as a worker that then dies, and bury it as its lease ran out."""
    [delivery] = arbiter.node.pull("default", timeout=1, lease=60)
    assert arbiter.node.dead_letter(delivery, "its worker died")
    assert arbiter.status(task_id)["state"] == records.DEAD


def test_requeued_dead_letters_run_again(memory: tuple[Arbiter, Minion]) -> None:
    arbiter, minion = memory
    [task_id] = arbiter.apply("add", 1, [2, 3])
    crash(arbiter, task_id)
    [letter] = arbiter.dead_letters()
    assert (letter.task_id, letter.task, letter.reason) == (task_id, "add", "its worker died")
    assert letter.envelope is not None and letter.envelope["args"] == [2, 3]
    assert arbiter.dead_letter(task_id) == letter == arbiter.dead_letter(letter.message_id)
    assert arbiter.dead_letter("nope") is None
    [requeued] = arbiter.requeue_dead_letters(ids=[task_id])
    assert requeued.task_id == task_id
    assert arbiter.status(task_id)["state"] == records.QUEUED, "revived with the requeue"
    assert arbiter.requeue_dead_letters(ids=[task_id]) == [], "once"
    runner = threading.Thread(target=minion.run, kwargs={"handle_signals": False}, daemon=True)
    runner.start()
    try:
        [status] = arbiter.wait_for_tasks([task_id], timeout=10)
        assert (status["state"], status["result"]) == ("succeeded", 5)
    finally:
        minion.stop()
        runner.join(10)


def test_requeue_all_and_purge_across_queues(memory: tuple[Arbiter, Minion]) -> None:
    arbiter, _ = memory
    ids = arbiter.apply("add", 2, [1, 1])
    for task_id in ids:
        crash(arbiter, task_id)
    garbled = arbiter.node.push("other", b"\x80garbage")
    [delivery] = arbiter.node.pull("other", timeout=1, lease=60)
    arbiter.node.dead_letter(delivery, "does not decode")
    assert [letter.task_id for letter in arbiter.dead_letters("default")] == ids
    [other] = arbiter.dead_letters("other")
    assert (other.message_id, other.envelope, other.raw) == (garbled, None, "b'\\x80garbage'")
    assert sorted(letter.queue for letter in arbiter.requeue_dead_letters()) == [
        "default",
        "default",
        "other",
    ]
    assert arbiter.queue_info("default").ready == 2
    for task_id in ids:
        crash(arbiter, task_id)
    assert arbiter.purge_dead_letters("default") == 2
    assert arbiter.dead_letters() == []
    assert arbiter.purge_dead_letters() == 0
