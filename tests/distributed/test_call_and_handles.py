"""Arbiter.call, Arbiter.delay and what @app.task returns: callable as the function,
with .delay()/.apply() returning a handle (.id, .get, .status, .kill), as Celery's delay.

The module-level ``module_app`` and its tasks are what a process-pool worker imports by
name: the decorated object pickles by reference, as a plain function does.
"""

from __future__ import annotations

import asyncio
import pickle
import threading
from collections.abc import Callable, Iterator

import pytest

from arbiter_core.client import Arbiter
from arbiter_core.composition import TaskCall
from arbiter_core.errors import RemoteTaskError, TaskFailedError, WaitTimeoutError
from arbiter_core.minion import Minion
from arbiter_core.minion.task_function import TaskFunction
from arbiter_core.task_handle import TaskHandle
from arbiter_local import ProcessPool
from tests.distributed.conftest import running

module_app = Minion("memory://call-and-handles-module")  # building one never connects


@module_app.task(name="pow")
def power(base: int, exponent: int = 2) -> int:
    """Raise ``base`` to ``exponent``."""
    return int(base**exponent)


@module_app.task(name="async_triple")
async def async_triple(x: int) -> int:
    await asyncio.sleep(0)
    return 3 * x


@pytest.fixture
def app(make_minion: Callable[..., Minion]) -> Iterator[Minion]:
    minion = make_minion()
    release = threading.Event()

    @minion.task(name="add")
    def add(x: int, y: int = 0) -> int:
        """Add two numbers."""
        return x + y

    @minion.task(name="explode")
    def explode(reason: str) -> None:
        raise ValueError(reason)

    @minion.task(name="hang")
    def hang() -> None:
        release.wait(20)

    @minion.task(name="fan_out")
    def fan_out(count: int) -> list[int]:
        """Applies tasks from inside a task: through this minion's own node."""
        handles = [add.delay(i, i) for i in range(count)]
        return [handle.get(timeout=10) for handle in handles]

    yield minion
    release.set()
    minion.close()


def test_a_task_is_still_the_function(app: Minion) -> None:
    add = app.tasks.get("add").function
    assert isinstance(add, TaskFunction)
    assert add(2, y=3) == 5  # called here, as before it was decorated
    assert (add.__name__, add.__doc__, add.name) == ("add", "Add two numbers.", "add")
    assert add.__wrapped__(1, 1) == 2 and not isinstance(add.__wrapped__, TaskFunction)
    assert power(3) == 9 and power.__qualname__ == "power"


def test_registering_the_same_function_again_keeps_one_object(app: Minion) -> None:
    add = app.tasks.get("add").function
    assert app.task(name="add", retries=2)(add.__wrapped__) is add
    assert app.tasks.get("add").retries == 2


def test_delay_get_status_and_a_handle_rebuilt_from_the_id(
    app: Minion, node_factory: Callable[..., object]
) -> None:
    add = app.tasks.get("add").function
    with running(app):
        handle = add.delay(2, 3)
        assert isinstance(handle, TaskHandle) and len(handle.id) == 32
        assert handle.get(timeout=10) == 5
        assert handle.status()["state"] == "succeeded" and handle.ready()
        other = Arbiter(node_factory())  # another process, knowing only the id
        try:
            assert TaskHandle(other, handle.id).get(timeout=10) == 5
        finally:
            other.close()


def test_delay_uses_the_apps_arbiter_on_the_apps_node(app: Minion) -> None:
    assert app.arbiter() is app.arbiter()
    assert app.arbiter().node is app.node


def test_apply_takes_a_queue_and_an_arbiter(
    app: Minion, arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    add = app.tasks.get("add").function
    other = make_minion(queue="other")
    other.task(name="add")(lambda x, y=0: x * 100 + y)
    with running(app), running(other):
        handle = add.apply(args=(1,), kwargs={"y": 2}, queue="other", arbiter=arbiter)
        assert handle.arbiter is arbiter
        assert handle.get(timeout=10) == 102
        assert arbiter.status(handle.id)["queue"] == "other"


def test_a_task_applies_tasks_from_inside_itself(app: Minion) -> None:
    fan_out = app.tasks.get("fan_out").function
    with running(app, workers=3):
        assert fan_out.delay(4).get(timeout=20) == [0, 2, 4, 6]


def test_call_returns_the_value(app: Minion, arbiter: Arbiter) -> None:
    with running(app):
        assert arbiter.call("add", 2, y=5, timeout=10) == 7
        assert arbiter.call(TaskCall("add", (1,)), 4, timeout=10) == 5


def test_call_raises_the_remote_error_as_data(app: Minion, arbiter: Arbiter) -> None:
    with running(app):
        with pytest.raises(TaskFailedError) as caught:
            arbiter.call("explode", "bad input", timeout=10)
        error = caught.value
        assert isinstance(error, RemoteTaskError)
        assert (error.type_name, error.message, error.state) == (
            "ValueError",
            "bad input",
            "failed",
        )
        assert error.name == "explode" and len(error.task_id) == 32
        assert "in explode" in error.traceback_text
        assert str(error).endswith("failed: ValueError: bad input")
        assert pickle.loads(pickle.dumps(error)).task_id == error.task_id
        with pytest.raises(TaskFailedError, match="UnknownTaskError"):
            arbiter.call("no_such_task", timeout=10)


def test_call_times_out_naming_the_id(arbiter: Arbiter) -> None:
    with pytest.raises(WaitTimeoutError) as caught:
        arbiter.call(TaskCall("add", (1, 2), queue="nobody-serves"), timeout=0.2)
    [task_id] = caught.value.pending
    assert arbiter.status(task_id)["state"] == "queued"  # a timeout cancels nothing


def test_a_handle_kills_its_task(app: Minion) -> None:
    hang = app.tasks.get("hang").function
    with running(app):
        handle = hang.delay()
        assert handle.kill(wait=True, timeout=10) is True
        assert handle.state == "cancelled"
        with pytest.raises(TaskFailedError) as caught:
            handle.get(timeout=10)
        assert (caught.value.state, caught.value.type_name) == ("cancelled", "TaskCancelledError")


def test_a_task_pickles_by_reference_for_the_process_pool() -> None:
    assert pickle.loads(pickle.dumps(power)) is power
    assert len(pickle.dumps(power)) < 200  # a reference, not the code
    pool = ProcessPool(1)
    try:
        assert pool.submit(power, (2, 10)).result(timeout=60) == 1024
    finally:
        pool.shutdown()


def test_process_pool_tasks_work_when_decorated(
    make_minion: Callable[..., Minion], arbiter: Arbiter
) -> None:
    app = make_minion()
    app.task(name="pow")(power)  # the module's task, registered on this test's broker
    app.task(name="async_triple")(async_triple)
    with running(app, workers=2, pool="process"):
        assert arbiter.call("pow", 3, exponent=3, timeout=60) == 27
        assert arbiter.call("async_triple", 14, timeout=60) == 42
