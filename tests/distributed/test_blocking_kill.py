"""kill(id, wait=True) and kill_group(..., wait=True): return once the tasks are final
(upstream's kill(sync=True)); a timeout names what is unfinished; ``arbiter kill --wait``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from click.testing import CliRunner

from arbiter_core.cli import cli
from arbiter_core.client import Arbiter
from arbiter_core.composition import TaskCall
from arbiter_core.errors import WaitTimeoutError
from arbiter_core.minion import Minion
from arbiter_core.node import Record
from arbiter_core.records import task_key
from tests.distributed.conftest import running


@pytest.fixture
def app(make_minion: Callable[..., Minion]) -> Iterator[Minion]:
    minion = make_minion()
    started = threading.Semaphore(0)
    release = threading.Event()
    minion.started = started  # type: ignore[attr-defined]

    @minion.task(name="hang")
    def hang() -> None:
        started.release()
        release.wait(20)  # killed: reported cancelled, its thread abandoned

    @minion.task(name="ignore_kill")
    def ignore_kill() -> str:
        started.release()
        time.sleep(0.5)  # cooperative kill it never checks
        return "finished"

    yield minion
    release.set()


def started(app: Minion, count: int = 1) -> None:
    for _ in range(count):
        assert app.started.acquire(timeout=10)  # type: ignore[attr-defined]


def mark_running(arbiter: Arbiter, task_id: str) -> None:
    """What a minion that took the task and then vanished leaves behind."""
    record = arbiter.node.get(task_key(task_id))
    assert record is not None
    arbiter.node.transition(task_key(task_id), Record("running", record.data), ttl=60)


def test_kill_wait_returns_once_a_running_task_is_cancelled(app: Minion, arbiter: Arbiter) -> None:
    with running(app, workers=1):
        [task_id] = arbiter.apply("hang")
        started(app)
        assert arbiter.kill(task_id, wait=True, timeout=10) is True
        assert arbiter.status(task_id)["state"] == "cancelled"  # final on return


def test_kill_wait_of_a_queued_task_returns_at_once(arbiter: Arbiter) -> None:
    [task_id] = arbiter.apply("hang", queue="nobody-serves")
    begun = time.monotonic()
    assert arbiter.kill(task_id, wait=True, timeout=5) is True
    assert time.monotonic() - begun < 1
    assert arbiter.status(task_id)["state"] == "cancelled"
    assert arbiter.kill(task_id, wait=True) is False  # final already: nothing to wait for


def test_kill_wait_times_out_naming_the_id(arbiter: Arbiter) -> None:
    # Running, as far as the store says, with no minion to carry the kill out.
    [task_id] = arbiter.apply("hang", queue="parked")
    [delivery] = arbiter.node.pull("parked", timeout=5, lease=30)
    mark_running(arbiter, task_id)
    with pytest.raises(WaitTimeoutError) as caught:
        arbiter.kill(task_id, wait=True, timeout=0.3)
    assert caught.value.pending == (task_id,)
    assert task_id in str(caught.value)
    arbiter.node.ack(delivery)


def test_kill_wait_reports_a_task_that_finished_first(app: Minion, arbiter: Arbiter) -> None:
    with running(app, workers=1):
        [task_id] = arbiter.apply("ignore_kill")
        started(app)
        assert arbiter.kill(task_id, wait=True, timeout=10) is True
        assert arbiter.status(task_id)["state"] in ("cancelled", "succeeded")


def test_kill_group_wait_returns_once_every_task_is_final(app: Minion, arbiter: Arbiter) -> None:
    with running(app, workers=2):
        plan = arbiter.group(["hang", "hang"], callback="hang", finalizer="hang")
        started(app, 2)
        assert arbiter.kill_group(plan, wait=True, timeout=10) == 4
        status = arbiter.status(plan.id)
        assert (status["state"], status["done"]) == ("cancelled", 4)


def test_kill_group_wait_times_out_naming_the_unfinished(arbiter: Arbiter) -> None:
    plan = arbiter.group([TaskCall("hang", queue="parked")])
    [delivery] = arbiter.node.pull("parked", timeout=5, lease=30)
    [member] = plan.members
    mark_running(arbiter, member)
    with pytest.raises(WaitTimeoutError) as caught:
        arbiter.kill_group(plan.id, wait=True, timeout=0.3)
    assert caught.value.pending == (member,)
    arbiter.node.ack(delivery)


def test_kill_of_a_group_id_kills_the_group(arbiter: Arbiter) -> None:
    plan = arbiter.group(["a", "b"], callback="c")
    assert arbiter.kill(plan.id, wait=True, timeout=5) is True
    assert arbiter.status(plan.id)["state"] == "cancelled"
    assert arbiter.kill(plan.id) is False  # nothing left to kill


def test_cli_kill_wait(app: Minion, arbiter: Arbiter, broker_url: str, namespace: str) -> None:
    runner = CliRunner(env={"ARBITER_NAMESPACE": namespace})
    with running(app, workers=2):
        [task_id] = arbiter.apply("hang")
        plan = arbiter.group(["hang"], callback="hang")
        started(app, 2)
        done = runner.invoke(
            cli, ["kill", task_id, plan.id, "--wait", "--timeout", "30", "--broker", broker_url]
        )
        assert done.exit_code == 0, done.output
        assert done.output.splitlines() == [f"{task_id}  killed", f"{plan.id}  killed"]
        assert arbiter.status(task_id)["state"] == "cancelled"
        assert arbiter.status(plan)["state"] == "cancelled"
