"""RPC: ``@app.rpc`` on a minion, ``arbiter.rpc(...)`` answered at most once, on every broker."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest

from arbiter_core.client import Arbiter
from arbiter_core.errors import (
    RemoteTaskError,
    RpcTimeoutError,
    SerializationError,
    UnknownRpcError,
)
from arbiter_core.minion import Minion
from arbiter_core.node import EventNode
from arbiter_core.rpc.channels import request_event
from arbiter_core.wire import WireFormat
from tests.distributed.conftest import running


@contextmanager
def serving(app: Minion, workers: int = 2, **options: Any) -> Iterator[Minion]:
    """Run ``app`` in a thread until its RPC server listens and its first heartbeat is
    written (the server starts just before that beat), then stop it at the end of the
    block."""
    with running(app, workers=workers, **options):
        deadline = time.monotonic() + 10
        while (
            app._run is None
            or not app._run.rpc.serving.is_set()
            or app._run.context.worker_id not in app.node.live_workers()
        ):
            assert time.monotonic() < deadline, "the minion never started serving rpc"
            time.sleep(0.005)
        yield app


def adder(make_minion: Callable[..., Minion], **settings: Any) -> tuple[Minion, Counter[Any]]:
    """A minion with ``add`` (counting its calls by first argument) and ``fail``."""
    app = make_minion(**settings)
    calls: Counter[Any] = Counter()
    lock = threading.Lock()

    @app.rpc(name="add")
    def add(x: Any, y: Any = 0) -> Any:
        with lock:
            calls[x if isinstance(x, (int, str)) else repr(x)] += 1
        return x + y

    @app.rpc(name="fail")
    def fail(message: str) -> None:
        raise ValueError(message)

    return app, calls


def test_a_call_returns_the_value(arbiter: Arbiter, make_minion: Callable[..., Minion]) -> None:
    app, calls = adder(make_minion)
    with serving(app):
        assert arbiter.rpc("add", 1, 2) == 3
        assert arbiter.rpc("add", "a", "b", timeout=5) == "ab"
    assert calls == {1: 1, "a": 1}


def test_keyword_arguments_and_the_upstream_call_form(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    app, _ = adder(make_minion)
    with serving(app):
        assert arbiter.rpc("add", x=1, y=7) == 8
        assert arbiter.rpc("add", 1, y=7) == 8
        assert arbiter.rpc_call("default", "add", (1,), {"y": 7}) == 8
        assert arbiter.rpc_call("default", "add", [], {"x": [1], "y": [2]}) == [1, 2]


def test_a_remote_exception_carries_type_message_and_traceback(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    app, _ = adder(make_minion)
    with serving(app):
        with pytest.raises(RemoteTaskError) as caught:
            arbiter.rpc("fail", "it broke")
        error = caught.value
        assert error.type_name == "ValueError"
        assert error.message == "it broke"
        assert "Traceback (most recent call last)" in error.traceback_text
        assert "in fail" in error.traceback_text and "ValueError: it broke" in error.traceback_text
        assert str(error) == "ValueError: it broke"
        with pytest.raises(RemoteTaskError, match="TypeError"):  # a wrong call, reported alike
            arbiter.rpc("add", 1, 2, 3)
        assert arbiter.rpc("add", 2, 2) == 4  # and the minion goes on


def test_an_unknown_function_is_a_clear_error_not_a_timeout(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    app, _ = adder(make_minion)
    with serving(app):
        started = time.monotonic()
        with pytest.raises(UnknownRpcError) as caught:
            arbiter.rpc("sub", 1, 2, timeout=10)
    assert time.monotonic() - started < 5
    assert caught.value.name == "sub" and caught.value.queue == "default"
    assert caught.value.registered == ("add", "fail")
    assert "'sub'" in str(caught.value) and "'default'" in str(caught.value)


def test_with_no_minion_the_call_times_out_in_about_its_timeout(arbiter: Arbiter) -> None:
    started = time.monotonic()
    with pytest.raises(RpcTimeoutError) as caught:
        arbiter.rpc("add", 1, 2, queue="nobody", timeout=0.5)
    elapsed = time.monotonic() - started
    assert 0.45 <= elapsed < 2.0
    error = caught.value
    assert isinstance(error, TimeoutError)
    assert (error.name, error.queue, error.seconds) == ("add", "nobody", 0.5)
    assert "'add'" in str(error) and "'nobody'" in str(error)
    assert "no live minion serves queue 'nobody'" in str(error)


def test_three_minions_run_each_of_200_calls_exactly_once(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    counts: Counter[int] = Counter()
    served_by: Counter[str] = Counter()
    lock = threading.Lock()
    apps = [make_minion() for _ in range(3)]
    for app in apps:

        def echo(i: int, worker: str = app.worker_id) -> int:
            with lock:
                counts[i] += 1
                served_by[worker] += 1
            return i

        app.rpc(name="echo")(echo)
    with ExitStack() as stack:
        for app in apps:
            stack.enter_context(serving(app))
        with ThreadPoolExecutor(8) as callers:
            results = list(callers.map(lambda i: arbiter.rpc("echo", i, timeout=20), range(200)))
        time.sleep(0.2)  # a duplicate run, if there were one, would have happened by now
        for app in apps:
            app.stop()  # all at once: each takes a moment to stop
    assert results == list(range(200))
    assert counts == Counter(range(200)), "every call ran exactly once"
    assert sum(served_by.values()) == 200


def test_a_replayed_request_does_not_run_again(
    arbiter: Arbiter, make_minion: Callable[..., Minion], node: EventNode
) -> None:
    app, calls = adder(make_minion)
    captured: list[bytes] = []
    node.subscribe(request_event("default"), lambda event, payload: captured.append(payload))
    with serving(app):
        assert arbiter.rpc("add", 5, 5) == 10
        deadline = time.monotonic() + 5
        while not captured:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        node.emit(request_event("default"), captured[0])
        time.sleep(0.5)
        assert arbiter.rpc("add", 6, 6) == 12
    assert calls == {5: 1, 6: 1}


def test_a_signing_minion_refuses_unsigned_and_forged_requests(
    arbiter: Arbiter,
    make_minion: Callable[..., Minion],
    node_factory: Callable[..., EventNode],
) -> None:
    app, calls = adder(make_minion, signing_secret="right")
    forger = Arbiter(node_factory(), signing_secret="wrong")
    signed = Arbiter(node_factory(), signing_secret="right")
    with serving(app):
        with pytest.raises(RpcTimeoutError):
            arbiter.rpc("add", 1, 1, timeout=0.5)  # unsigned
        with pytest.raises(RpcTimeoutError):
            forger.rpc("add", 2, 2, timeout=0.5)  # signed with another secret
        assert signed.rpc("add", 3, 3) == 6
    assert calls == {3: 1}, "an unsigned or forged request never runs"
    forger.close()
    signed.close()


def test_a_forged_reply_is_not_believed(
    make_minion: Callable[..., Minion], node_factory: Callable[..., EventNode]
) -> None:
    app = make_minion(signing_secret="right")
    started = threading.Event()

    @app.rpc(name="slow")
    def slow() -> str:
        started.set()
        time.sleep(0.3)  # the forger answers first
        return "genuine"

    caller = Arbiter(node_factory(), signing_secret="right")
    spy = node_factory()
    unsigned = WireFormat()  # reads signed frames, signs nothing

    def forge(event: str, payload: bytes) -> None:
        request = unsigned.unpack(payload)
        forged = unsigned.pack({"rpc_reply": 1, "id": request["id"], "result": "forged"})
        spy.emit(request["reply_to"], request["id"].encode() + b"\n" + forged)

    spy.subscribe(request_event("default"), forge)
    with serving(app):
        assert caller.rpc("slow") == "genuine"
    assert started.is_set()
    caller.close()


def test_malformed_frames_do_not_stop_the_minion(
    arbiter: Arbiter, make_minion: Callable[..., Minion], node: EventNode
) -> None:
    app, calls = adder(make_minion)
    wire = WireFormat()
    good = {
        "rpc": 1,
        "id": "x1",
        "name": "add",
        "queue": "default",
        "reply_to": "rpc-reply:nobody",
        "budget": 5,
        "deadline": time.time() + 5,
        "args": [100, 1],
        "kwargs": {},
    }
    bad_frames = [
        b"",
        b"garbage",
        b"ARB\x01\x00\x04json{not json",
        wire.pack([1, 2, 3]),
        wire.pack({"v": 1, "task": "add"}),  # a task envelope's shape
        wire.pack({**good, "rpc": 2}),
        wire.pack({**good, "id": ""}),
        wire.pack({**good, "name": 7}),
        wire.pack({**good, "reply_to": "control:default"}),  # only reply events are answered
        wire.pack({**good, "queue": "elsewhere"}),
        wire.pack({**good, "budget": -1}),
        wire.pack({**good, "budget": 10**9}),
        wire.pack({**good, "budget": True}),
        wire.pack({**good, "deadline": time.time() - 3600}),  # long gone: a replay
        wire.pack({**good, "args": "ab"}),
        wire.pack({**good, "kwargs": []}),
    ]
    with serving(app):
        for frame in bad_frames:
            node.emit(request_event("default"), frame)
        assert arbiter.rpc("add", 1, 2) == 3
        time.sleep(0.3)
    assert calls == {1: 1}, "no malformed request ran"


def test_calls_never_take_a_task_slot_nor_wait_for_one(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    app = make_minion()
    release_rpc, release_task = threading.Event(), threading.Event()
    task_started = threading.Event()

    @app.rpc(name="slow")
    def slow() -> str:
        release_rpc.wait(10)
        return "slow done"

    @app.rpc(name="quick")
    def quick() -> str:
        return "quick"

    @app.task(name="hold")
    def hold() -> str:
        task_started.set()
        release_task.wait(10)
        return "held"

    @app.task(name="work")
    def work() -> str:
        return "worked"

    with serving(app, workers=1, rpc_workers=2):
        with ThreadPoolExecutor(1) as caller:
            pending = caller.submit(arbiter.rpc, "slow")
            # a running call holds no task slot: a task runs meanwhile
            [status] = arbiter.wait_for_tasks(arbiter.apply("work"), timeout=10)
            assert status["result"] == "worked"
            # and with the only task slot busy, calls are still answered
            [held] = arbiter.apply("hold")
            assert task_started.wait(10)
            assert arbiter.rpc("quick") == "quick"
            release_rpc.set()
            assert pending.result(10) == "slow done"
        release_task.set()
        [status] = arbiter.wait_for_tasks([held], timeout=10)
        assert status["result"] == "held"


def test_a_function_on_only_some_minions_is_answered_by_those(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    with_it, _ = adder(make_minion)
    without_it = make_minion()

    @without_it.rpc(name="other")
    def other() -> None: ...

    with serving(with_it), serving(without_it):
        assert [arbiter.rpc("add", i, 1) for i in range(20)] == list(range(1, 21))


def test_arguments_that_do_not_encode_fail_at_call_time_naming_them(
    arbiter: Arbiter,
) -> None:
    with pytest.raises(SerializationError, match=r"rpc 'add': args\[1\].*complex"):
        arbiter.rpc("add", 1, 2j)
    with pytest.raises(SerializationError, match=r"kwargs\['when'\]"):
        arbiter.rpc("add", 1, when=2j)
    with pytest.raises(ValueError, match="timeout"):
        arbiter.rpc("add", 1, timeout=0)
    with pytest.raises(TypeError, match="args"):
        arbiter.rpc_call("default", "add", "12")


def test_a_result_that_does_not_encode_is_a_remote_error(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    app = make_minion()

    @app.rpc(name="today")
    def today() -> complex:
        return 2j

    with serving(app), pytest.raises(RemoteTaskError, match="SerializationError"):
        arbiter.rpc("today")


def test_async_functions_and_bare_registration(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    app = make_minion()

    @app.rpc
    async def double(x: int) -> int:
        return 2 * x

    with serving(app):
        assert arbiter.rpc(f"{__name__}.{double.__qualname__}", 21) == 42


def test_a_closed_arbiter_refuses_calls(arbiter: Arbiter) -> None:
    arbiter.close()
    with pytest.raises(Exception, match="closed"):
        arbiter.rpc("add", 1, 2)


# ----------------------------------------------------------------- upstream, translated
# carrier-io/arbiter's tests/test_rpc.py (class TestJSONRCP): a minion started with
# ``app.rpc(workers=1, blocking=True)`` serves its ``simple_add`` task, and
# ``RPCClient(host, port=5672, user=..., password=...).call(queue, name, args, kwargs)``
# calls it. Here the function is registered with ``@app.rpc`` (stacked on ``@app.task``
# it stays a task too), served by ``app.run``; ``Arbiter.rpc_call`` keeps the
# upstream argument order.
class TestUpstreamJsonRpc:
    @pytest.fixture
    def upstream_minion(self, make_minion: Callable[..., Minion]) -> Iterator[Minion]:
        app = make_minion(queue="default")

        @app.task(name="simple_add")
        @app.rpc(name="simple_add")
        def adds(x: int, y: int) -> int:
            return x + y

        with serving(app, workers=1):
            yield app

    @pytest.mark.usefixtures("upstream_minion")
    def test_simple_task_args(self, arbiter: Arbiter) -> None:
        assert arbiter.rpc_call("default", "simple_add", (1, 7)) == 8

    @pytest.mark.usefixtures("upstream_minion")
    def test_simple_task_kwargs(self, arbiter: Arbiter) -> None:
        assert arbiter.rpc_call("default", "simple_add", (), {"x": 1, "y": 7}) == 8

    @pytest.mark.usefixtures("upstream_minion")
    def test_simple_task_mix(self, arbiter: Arbiter) -> None:
        assert arbiter.rpc_call("default", "simple_add", (1,), {"y": 7}) == 8
        assert arbiter.rpc("simple_add", 1, y=7) == 8  # the same, in our own form

    @pytest.mark.usefixtures("upstream_minion")
    def test_the_same_function_is_still_a_task(self, arbiter: Arbiter) -> None:
        ids = arbiter.apply("simple_add", task_args=[1, 2])
        [status] = arbiter.wait_for_tasks(ids, timeout=10)
        assert status["result"] == 3


def test_the_banner_and_the_heartbeat_name_the_rpc_functions(
    arbiter: Arbiter, make_minion: Callable[..., Minion], caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = adder(make_minion)
    with caplog.at_level(logging.INFO, logger="arbiter.minion"), serving(app, rpc_workers=3):
        [info] = [json.loads(raw) for raw in arbiter.node.live_workers().values()]
    assert info["rpc"] == ["add", "fail"]
    banner = next(r for r in caplog.records if "starting" in r.getMessage())
    assert "rpc:       add, fail (3 thread(s))" in banner.getMessage()
    assert banner.rpc == ["add", "fail"]  # type: ignore[attr-defined]


def test_a_minion_without_rpc_functions_says_nothing_of_them(
    arbiter: Arbiter, make_minion: Callable[..., Minion], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_minion()
    app.task(name="plain")(lambda: None)
    with caplog.at_level(logging.INFO, logger="arbiter.minion"), running(app, workers=1):
        deadline = time.monotonic() + 10
        while not arbiter.node.live_workers():
            assert time.monotonic() < deadline, "the minion never registered"
            time.sleep(0.01)
        [info] = [json.loads(raw) for raw in arbiter.node.live_workers().values()]
    assert "rpc" not in info
    banner = next(r for r in caplog.records if "starting" in r.getMessage())
    assert "rpc:" not in banner.getMessage()
