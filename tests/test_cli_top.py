"""``arbiter top``: snapshots drawn as text, the reader on a real node, and the live command
under a pseudo-terminal against Redis with a minion process (``q`` and Ctrl-C quit)."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import select
import shlex
import signal
import struct
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from click.testing import CliRunner
from minion_process import Minions, wait_registered
from rich.console import Console

from arbiter import Arbiter
from arbiter_core import records
from arbiter_core.cli import cli
from arbiter_core.cli.top_view import (
    QueueRow,
    RateMeter,
    TopReader,
    TopSnapshot,
    WorkerRow,
    parse_worker,
    render,
)
from arbiter_core.errors import UnsupportedOperationError
from arbiter_core.node import EventNode
from arbiter_core.plugins import default_registry
from arbiter_core.settings import Settings

NOW = 1_700_000_000.0


def text_of(snapshot: TopSnapshot) -> str:
    console = Console(record=True, width=160, file=io.StringIO())
    console.print(render(snapshot))
    return console.export_text()


def line_with(text: str, needle: str) -> list[str]:
    [line] = [line for line in text.splitlines() if needle in line]
    return [cell.strip() for cell in line.strip("│┃ ").split("│")]


# ----------------------------------------------------------------------------- drawing


def test_a_heartbeat_of_todays_minions_draws_dashes_for_what_it_lacks() -> None:
    info = {
        "id": "w1",
        "queue": "default",
        "slots": 4,
        "busy": 1,
        "tasks": ["add"],
        "host": "h",
        "pid": 12,
        "started_at": NOW - 125,
    }
    row, failures = parse_worker("host:12:abc", json.dumps(info).encode())
    assert failures == []
    assert (row.pool, row.beat_at, row.counts) == (None, None, None)
    snapshot = TopSnapshot(
        taken_at=NOW,
        broker="redis://h:6379/0",
        workers=(row,),
        queues=(QueueRow("default", depth=7, dead=2, workers=1, busy=1, slots=4),),
    )
    text = text_of(snapshot)
    assert line_with(text, "host:12:abc") == [
        "host:12:abc", "default", "-", "1/4", "-", "-", "-", "-", "-", "2m05s",
    ]  # fmt: skip
    queue_line = [line for line in text.splitlines() if line.startswith("│ default")][-1]
    assert [c.strip() for c in queue_line.strip("│ ").split("│")] == [
        "default", "7", "2", "1", "1/4", "-",
    ]  # fmt: skip
    assert "(not reported by these workers)" in text
    assert "redis://h:6379/0" in text


def test_the_new_heartbeat_fields_show_counts_beat_and_failures() -> None:
    info = {
        "id": "w2",
        "queue": "q",
        "slots": 2,
        "busy": 2,
        "pool": "process",
        "beat_at": NOW - 1,
        "started_at": NOW - 7300,
        "counts": {"succeeded": 40, "failed": 3, "retried": 5, "dead": 1, "cancelled": 0},
        "recent_failures": [
            {"id": "t-old", "task": "resize", "error": "OSError: disk", "at": NOW - 60},
            {"id": "t-new", "task": "send", "error": "ValueError: bad address", "at": NOW - 5},
        ],
    }
    row, failures = parse_worker("w2", json.dumps(info).encode())
    snapshot = TopSnapshot(
        taken_at=NOW,
        broker="memory://",
        workers=(row,),
        queues=(QueueRow("q", depth=0, dead=1000, workers=1, busy=2, slots=2, rate=2.5),),
        failures=tuple(sorted(failures, key=lambda f: -(f.at or 0))),
    )
    text = text_of(snapshot)
    assert line_with(text, "process") == [
        "w2", "q", "process", "2/2", "40", "3", "5", "1", "1s", "2h01m",
    ]  # fmt: skip
    assert line_with(text, "2.5") == ["q", "0", "1000+", "1", "2/2", "2.5"]
    failure_lines = [line for line in text.splitlines() if "t-new" in line or "t-old" in line]
    assert "t-new" in failure_lines[0] and "ValueError: bad address" in failure_lines[0]
    assert "t-old" in failure_lines[1] and "1m00s" in failure_lines[1]


def test_a_queue_reader_that_splits_depth_adds_columns() -> None:
    snapshot = TopSnapshot(
        taken_at=NOW,
        broker="memory://",
        queues=(QueueRow("q", depth=5, dead=0, ready=3, in_flight=1, delayed=1),),
    )
    text = text_of(snapshot)
    assert "IN FLIGHT" in text
    assert line_with(text, "│ q ") == ["q", "5", "3", "1", "1", "0", "0", "-/-", "-"]


def test_an_odd_heartbeat_is_shown_not_fatal() -> None:
    row, failures = parse_worker("w", b"\xff not json")
    assert (row.queue, row.slots, failures) == ("-", None, [])
    row, _ = parse_worker("w", json.dumps({"queue": 3, "slots": "4", "counts": [1]}).encode())
    assert (row.queue, row.slots, row.counts) == ("-", None, None)
    assert "(no live worker)" in text_of(TopSnapshot(NOW, "memory://"))


def test_a_broker_error_is_drawn_above_the_last_rows() -> None:
    snapshot = TopSnapshot(NOW, "memory://", workers=(WorkerRow("w", "q"),), error="boom")
    text = text_of(snapshot)
    assert "broker unreachable, showing the last read: boom" in text
    assert "│ w " in text


def test_rates_come_from_counter_differences_between_snapshots() -> None:
    meter = RateMeter()

    def worker(wid: str, queue: str, done: int) -> WorkerRow:
        return WorkerRow(wid, queue, counts={"succeeded": done, "retried": 100})

    assert meter.rates([worker("a", "q", 10)], NOW) == {}  # nothing to compare with yet
    rates = meter.rates([worker("a", "q", 30), worker("b", "q", 5)], NOW + 2)
    assert rates == {"q": 10.0}  # b is new: it adds from the next snapshot on
    rates = meter.rates([worker("a", "q", 0), worker("b", "q", 9)], NOW + 4)
    assert rates == {"q": 2.0}  # a restarted (its counter went down): no made-up rate
    assert meter.rates([WorkerRow("c", "q")], NOW + 5) == {}  # no counts: no rate


# ----------------------------------------------------------------------------- reading


@pytest.fixture
def node() -> Iterator[EventNode]:
    created = default_registry().create_node("memory://", Settings())
    yield created
    created.close()


def test_the_reader_takes_workers_and_queue_stats_through_the_arbiter(node: EventNode) -> None:
    info = {"id": "w", "queue": "work", "slots": 3, "busy": 0, "counts": {"succeeded": 1}}
    node.heartbeat("w", json.dumps(info).encode(), ttl=30)
    for _ in range(4):
        node.push("work", b"x")
    node.push("unserved", b"x")
    with Arbiter(node) as arbiter:
        reader = TopReader(arbiter, queues=["idle"])
        snapshot = reader.snapshot(now=NOW)
        assert [w.id for w in snapshot.workers] == ["w"]
        rows = [
            (q.name, q.depth, q.ready, q.in_flight, q.dead, q.workers, q.slots)
            for q in snapshot.queues
        ]
        assert rows == [
            ("idle", 0, 0, 0, 0, 0, 0),
            ("work", 4, 4, 0, 0, 1, 3),
            ("unserved", 1, 1, 0, 0, 0, 0),  # holds messages: shown though nobody serves it
        ]
        node.close()
        failed = reader.snapshot(now=NOW + 1)
    assert failed.error is not None and "NodeClosedError" in failed.error
    assert failed.workers == snapshot.workers  # the last rows stay on screen


def test_a_backend_without_queue_stats_shows_depth_and_dead_letters(
    node: EventNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unsupported(*args: object) -> NoReturn:
        raise UnsupportedOperationError("no queue_stats here")

    node.push("work", b"x")
    with Arbiter(node) as arbiter:
        monkeypatch.setattr(arbiter, "queues", unsupported)
        [row] = TopReader(arbiter, queues=["work"]).snapshot(now=NOW).queues
    assert (row.name, row.depth, row.dead, row.ready) == ("work", 1, 0, None)


def test_once_prints_a_snapshot_without_a_terminal(redis_url: str, redis_namespace: str) -> None:
    result = CliRunner().invoke(
        cli,
        ["top", "--broker", redis_url, "--once", "--queue", "nobody-serves-this"],
        env={"ARBITER_NAMESPACE": redis_namespace, "COLUMNS": "160"},
    )
    assert result.exit_code == 0, result.output
    assert "nobody-serves-this" in result.output
    assert "(no live worker)" in result.output


def test_interval_below_one_second_is_refused() -> None:
    result = CliRunner().invoke(cli, ["top", "--interval", "0.2", "--once"])
    assert result.exit_code == 2
    assert "0.2" in result.output


# ----------------------------------------------------------------------------- live


class TopProcess:
    """``arbiter top`` on a pseudo-terminal of 160x50; :meth:`screen` is all it printed."""

    def __init__(self, url: str, namespace: str) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: exec at once, nothing else of this process's state is used
            env = {k: v for k, v in os.environ.items() if not k.startswith("ARBITER_")}
            env.update(ARBITER_NAMESPACE=namespace, TERM="xterm-256color")
            script = str(Path(sys.executable).with_name("arbiter"))
            os.execve(script, [script, "top", "--broker", url], env)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
        self.output = b""

    def read_until(self, *needles: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while not all(n.encode() in self.output for n in needles):
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"top never showed {needles}:\n{self.text()}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    self.output += os.read(self.fd, 65536)
                except OSError:  # the child closed the terminal
                    break
        return self.text()

    def text(self) -> str:
        return self.output.decode(errors="replace")

    def send(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def exit_code(self, timeout: float = 5.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:  # keep draining, or a full terminal buffer blocks the child
                try:
                    self.output += os.read(self.fd, 65536)
                except OSError:
                    time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        pytest.fail(f"top did not exit within {timeout}s:\n{self.text()}")

    def close(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ChildProcessError, ProcessLookupError):
            pass  # already reaped
        os.close(self.fd)


@pytest.fixture
def minion_on_redis(
    redis_url: str, redis_namespace: str, tmp_path: Path
) -> Iterator[tuple[str, str, int]]:
    """``(url, namespace, minion pid)``: a minion process serving queue ``default``."""
    minions = Minions(tmp_path)
    minion = minions.start(redis_url, redis_namespace, workers=3)
    with Arbiter(redis_url, namespace=redis_namespace) as arbiter:
        wait_registered(arbiter.node, minion)
    try:
        yield redis_url, redis_namespace, minion.pid
    finally:
        minions.kill_all()


@pytest.mark.real_broker
@pytest.mark.parametrize("key", [b"q", b"\x03"], ids=["q", "ctrl-c"])
def test_top_shows_the_worker_and_queue_and_quits_cleanly(
    minion_on_redis: tuple[str, str, int], key: bytes
) -> None:
    url, namespace, pid = minion_on_redis
    watches: list[object] = []
    seen = threading.Event()
    with Arbiter(url, namespace=namespace) as arbiter:
        arbiter.apply("add", 1, [2, 3])
        [failing] = arbiter.apply("add", 1, [2])  # a TypeError: a recent failure to show
        list(arbiter.wait_for_tasks([failing], timeout=20))

        def on_control(event: str, payload: bytes) -> None:
            watches.append(arbiter.wire.unpack(payload))
            seen.set()

        arbiter.node.subscribe(records.control_event("default"), on_control)
        top = TopProcess(url, namespace)
        try:
            screen = top.read_until(f":{pid}:", "default", "0/3", "Queues", failing, "TypeError")
            assert "redis://127.0.0.1" in screen
            assert seen.wait(10), "top broadcast no watch message"
            assert {"watch": 10} in watches
            assert not termios.tcgetattr(top.fd)[3] & termios.ECHO  # cbreak, no echo
            started = time.monotonic()
            top.send(key)
            assert top.exit_code(timeout=5) == 0
            assert time.monotonic() - started < 5
            assert termios.tcgetattr(top.fd)[3] & termios.ECHO  # the terminal was restored
            assert "Traceback" not in top.text()
        finally:
            top.close()


# ----------------------------------------------------------------------------- docs

DOC = Path(__file__).resolve().parent.parent / "docs" / "operations.md"


def documented_top_commands() -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("## Watching: arbiter top")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else len(text)]
    return [shlex.split(line[2:]) for line in section.splitlines() if line.startswith("$ arbiter")]


def test_the_documented_top_commands_run(redis_url: str, redis_namespace: str) -> None:
    """Each runs once against the test broker (the live view is the pty test above)."""
    commands = documented_top_commands()
    assert len(commands) == 3
    for argv in commands:
        assert argv[:2] == ["arbiter", "top"]
        args = argv[1:]
        if "--broker" in args:
            args[args.index("--broker") + 1] = redis_url
        else:
            args += ["--broker", redis_url]
        if "--once" not in args:
            args.append("--once")
        result = CliRunner().invoke(cli, args, env={"ARBITER_NAMESPACE": redis_namespace})
        assert result.exit_code == 0, (argv, result.output)
        assert "Queues" in result.output
