"""``arbiter minion APP``: the real console script in subprocesses, on a throwaway Redis.

One redis-server for the module (with an ACL user, so the banner's password masking
is checked on a URL the server accepts), one namespace per test. Each test writes the
task module to its ``tmp_path``, starts the minion there, applies tasks with an
``Arbiter`` and reads what the minion logs on stderr: the banner, one line per task
(text and JSON), both shutdowns. The commands of docs/operations.md ("Starting a
minion", "Logs") are run as written, with ``redis://localhost:6379/0`` standing for
this module's server.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from minion_process import clean_environment
from redis_server import RedisServer, private_server
from support import wait_until

from arbiter import Arbiter
from arbiter_core.rpc import DEFAULT_RPC_WORKERS

pytestmark = pytest.mark.real_broker

ARBITER = str(Path(sys.executable).with_name("arbiter"))
"""The console script of this environment."""
WAIT = 30.0
"""Seconds any wait in these tests may take before the test fails."""
USER, PASSWORD = "operator", "s3cret-pw"

TASKS = '''
import os
import time
from pathlib import Path

from arbiter import Minion

MARKS = Path(os.environ["ARBITER_TEST_MARKS"])
app = Minion(queue="default")  # the broker: ARBITER_BROKER_URL, which --broker sets


@app.task(name="add")
def add(x, y):
    return x + y


@app.task(name="boom")
def boom():
    raise ValueError("boom")


@app.rpc(name="ping")
def ping():
    return "pong"


@app.task(name="flaky", retries=1, delay=0.1)
def flaky(tag):
    try:
        (MARKS / f"flaky-{tag}").touch(exist_ok=False)
    except FileExistsError:
        return "ok"
    raise ConnectionError("once")


@app.task(name="hold")
def hold(tag, seconds):
    """Marks its start; returns its pid once MARKS/release-<tag> exists, or after seconds."""
    (MARKS / f"started-{tag}").touch()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (MARKS / f"release-{tag}").exists():
        time.sleep(0.02)
    return os.getpid()
'''

TWO_MINIONS = """
from arbiter import Minion

first = Minion("memory://one")
second = Minion("memory://two")
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    directory = tmp_path_factory.mktemp("cli-minion") / "redis"
    with private_server(directory, "the arbiter minion tests") as own:
        client = redis.Redis.from_url(own.url)
        client.acl_setuser(
            USER,
            enabled=True,
            passwords=[f"+{PASSWORD}"],
            keys=["*"],
            channels=["*"],
            commands=["+@all"],
        )
        client.close()
        yield own


@pytest.fixture
def secret_url(server: RedisServer) -> str:
    """The server's URL with the ACL user's password in it."""
    return f"redis://{USER}:{PASSWORD}@127.0.0.1:{server.port}/0"


class CliMinion:
    """``arbiter minion ...`` in a process of its own; stderr collected line by line."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.argv = argv
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._closed = False
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float = WAIT) -> str:
        """The first stderr line that matches the regular expression ``pattern``."""
        regex = re.compile(pattern)

        def found() -> str | None:
            return next((line for line in self.lines if regex.search(line)), None)

        with self._changed:
            self._changed.wait_for(lambda: found() is not None or self._closed, timeout)
            line = found()
        if line is None:
            self.kill()
            pytest.fail(f"{shlex.join(self.argv)}: no line matches {pattern!r}:\n{self.output()}")
        return line

    def ready(self) -> None:
        """Wait for the banner's last line (it is logged before the first pull)."""
        self.wait_for_line(r"tasks:|\"tasks\": \[")

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = WAIT) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{shlex.join(self.argv)} did not exit in {timeout}s:\n{self.output()}")
        with self._changed:
            self._changed.wait_for(lambda: self._closed, timeout)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(WAIT)


class Workspace:
    """A test's directory with the task module, its namespace, and the minions it started."""

    def __init__(self, directory: Path, url: str) -> None:
        self.directory = directory
        self.url = url
        self.namespace = f"cli-{uuid.uuid4().hex[:10]}"
        self.marks = directory / "marks"
        self.marks.mkdir()
        (directory / "tasks.py").write_text(TASKS)
        self.started: list[CliMinion] = []

    def env(self, **extra: str) -> dict[str, str]:
        return clean_environment(
            ARBITER_NAMESPACE=self.namespace,
            ARBITER_TEST_MARKS=str(self.marks),
            ARBITER_PROMETHEUS_PORT="0",  # a metrics plugin, if installed, opens no port
            **extra,
        )

    def start(self, *args: str, module_form: bool = False, **extra: str) -> CliMinion:
        command = [sys.executable, "-m", "arbiter"] if module_form else [ARBITER]
        minion = CliMinion([*command, "minion", *args], self.directory, self.env(**extra))
        self.started.append(minion)
        return minion

    def arbiter(self, **settings: Any) -> Arbiter:
        return Arbiter(self.url, namespace=self.namespace, **settings)

    def wait_for_mark(self, name: str, minion: CliMinion) -> None:
        """Wait for a task's mark file (its start shows only there); bounded."""
        if not wait_until((self.marks / name).exists, WAIT):
            minion.kill()
            pytest.fail(f"{name} never appeared:\n{minion.output()}")


@pytest.fixture
def workspace(tmp_path: Path, server: RedisServer) -> Iterator[Workspace]:
    space = Workspace(tmp_path, server.url)
    yield space
    for minion in space.started:
        minion.kill()
    client = redis.Redis.from_url(server.url)
    names = list(client.scan_iter(match=f"{{{space.namespace}}}:*", count=1000))
    if names:
        client.delete(*names)
    client.close()


def finished(arbiter: Arbiter, ids: list[str]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in arbiter.wait_for_tasks(ids, timeout=WAIT)}


# ----------------------------------------------------------------------------- start


def test_text_logs_one_line_per_task_and_the_banner_masks_the_password(
    workspace: Workspace, secret_url: str, server: RedisServer
) -> None:
    minion = workspace.start("tasks", "--broker", secret_url, "--workers", "2")
    minion.ready()
    banner = minion.output()
    assert re.search(r"INFO +arbiter\.minion: arbiter \S+ minion \S+ starting", banner)
    assert f"broker:    redis://{USER}:***@127.0.0.1:{server.port}/0" in banner
    assert f"namespace: {workspace.namespace}" in banner
    assert "queue:     default" in banner
    assert "pool:      thread, 2 slot(s)" in banner
    assert "signing:   off" in banner
    assert "tasks:     add, boom, flaky, hold" in banner
    assert f"rpc:       ping ({DEFAULT_RPC_WORKERS} thread(s))" in banner
    with Arbiter(secret_url, namespace=workspace.namespace) as arbiter:
        [add] = arbiter.apply("add", task_args=[2, 3])
        [boom] = arbiter.apply("boom")
        [flaky] = arbiter.apply("flaky", task_args=["f"])
        states = finished(arbiter, [add, boom, flaky])
    assert {i: s["state"] for i, s in states.items()} == {
        add: "succeeded",
        boom: "failed",
        flaky: "succeeded",
    }
    minion.wait_for_line(
        rf"INFO +arbiter\.minion: task add\[{add}\] succeeded in [\d.]+s \(attempt 1\)$"
    )
    minion.wait_for_line(
        rf"ERROR +arbiter\.minion: task boom\[{boom}\] failed in [\d.]+s \(attempt 1\): "
        "ValueError: boom$"
    )
    minion.wait_for_line(r'raise ValueError\("boom"\)')  # the traceback follows the error
    minion.wait_for_line(
        rf"WARNING arbiter\.minion: task flaky\[{flaky}\] failed in [\d.]+s \(attempt 1\), "
        r"retrying in 0\.1s: ConnectionError: once$"
    )
    minion.wait_for_line(rf"task flaky\[{flaky}\] succeeded in [\d.]+s \(attempt 2\)$")
    minion.signal()
    assert minion.wait() == 0
    assert PASSWORD not in minion.output()
    minion.wait_for_line(r"minion \S+ stopped$")


def test_json_lines_with_module_attribute_form_queue_and_signing(workspace: Workspace) -> None:
    secret = "signing-secret-for-the-test"
    minion = workspace.start(
        "tasks:app", "--log-format", "json", "--queue", "other", "--rpc-workers", "2",
        module_form=True, ARBITER_BROKER_URL=workspace.url, ARBITER_SIGNING_SECRET=secret,
    )  # fmt: skip
    minion.ready()
    with workspace.arbiter(signing_secret=secret) as arbiter:
        [add] = arbiter.apply("add", task_args=[1, 2], queue="other")
        [boom] = arbiter.apply("boom", queue="other")
        assert finished(arbiter, [add, boom])[add]["result"] == 3
        assert arbiter.rpc("ping", queue="other", timeout=10) == "pong"
    minion.wait_for_line(f'"task_id": "{boom}"')
    minion.signal()
    assert minion.wait() == 0
    records = [json.loads(line) for line in minion.lines]  # every line is one JSON object
    for record in records:
        assert {"timestamp", "level", "logger", "message"} <= set(record)
    [banner] = [r for r in records if "tasks" in r and "version" in r]
    assert banner["level"] == "INFO" and banner["logger"] == "arbiter.minion"
    assert banner["queue"] == "other" and banner["signing"] is True
    assert banner["tasks"] == ["add", "boom", "flaky", "hold"]
    assert banner["broker"] == workspace.url and banner["namespace"] == workspace.namespace
    assert banner["pool"] == "thread" and banner["slots"] == 1
    assert banner["rpc"] == ["ping"] and banner["rpc_workers"] == 2
    [done] = [r for r in records if r.get("task_id") == add]
    assert done["level"] == "INFO" and done["outcome"] == "succeeded"
    assert done["task"] == "add" and done["attempt"] == 1 and done["queue"] == "other"
    assert isinstance(done["duration"], float) and done["worker"] == banner["worker"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", done["timestamp"])
    [failed] = [r for r in records if r.get("task_id") == boom]
    assert failed["level"] == "ERROR" and failed["outcome"] == "failed"
    assert "ValueError: boom" in failed["traceback"]


def test_a_file_path_with_the_process_pool(workspace: Workspace) -> None:
    minion = workspace.start(
        "./tasks.py", "--pool", "process", "--broker", workspace.url, "--workers", "2"
    )
    minion.ready()
    assert "pool:      process, 2 slot(s)" in minion.output()
    with workspace.arbiter() as arbiter:
        [add] = arbiter.apply("add", task_args=[20, 22])
        [boom] = arbiter.apply("boom")
        states = finished(arbiter, [add, boom])
    assert states[add]["result"] == 42
    assert 'raise ValueError("boom")' in states[boom]["error"]["traceback"], "the child's"
    minion.wait_for_line(rf"ERROR +arbiter\.minion: task boom\[{boom}\] failed .*ValueError: boom$")
    minion.wait_for_line(r'raise ValueError\("boom"\)')  # the child's traceback follows
    minion.signal()
    assert minion.wait() == 0


# ----------------------------------------------------------------------------- errors


def run_cli(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_environment(ARBITER_PROMETHEUS_PORT="0")
    return subprocess.run(
        [ARBITER, *args],
        check=False,
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )


@pytest.mark.parametrize(
    ("files", "app", "code", "message"),
    [
        ({"none.py": "x = 1\n"}, "none", 1, "module 'none' holds no Minion; .* none:attribute"),
        (
            {"two.py": TWO_MINIONS},
            "two",
            1,
            r"several Minions \(two:first, two:second\); say which one: two:first",
        ),
        ({}, "missing_app", 1, "cannot import 'missing_app'"),
        (
            {"broken.py": "import no_such_dependency_xyz\n"},
            "broken",
            1,
            "importing 'broken' failed: ModuleNotFoundError: .*no_such_dependency_xyz",
        ),
        ({"two.py": TWO_MINIONS}, "two:third", 1, "has no attribute 'third'; it holds two:first"),
        (
            {"two.py": TWO_MINIONS},
            "two:first --broker memory://elsewhere",
            2,
            "builds its Minion on memory://one, not on --broker memory://elsewhere",
        ),
        (
            {"two.py": TWO_MINIONS},
            "two:first --pool nope",
            2,
            "no worker pool named 'nope'; installed pools: .*process.*thread",
        ),
        ({"two.py": TWO_MINIONS}, "two:first --rpc-workers 0", 2, "'--rpc-workers': 0 is not"),
    ],
    ids=["no-minion", "two-minions", "no-module", "bad-import", "no-attribute", "other-broker",
         "unknown-pool", "no-rpc-workers"],
)  # fmt: skip
def test_mistakes_are_one_clear_error(
    tmp_path: Path, files: dict[str, str], app: str, code: int, message: str
) -> None:
    for name, source in files.items():
        (tmp_path / name).write_text(source)
    done = run_cli(tmp_path, "minion", *app.split())
    assert done.returncode == code, done.stderr
    assert re.search(message, done.stderr), done.stderr
    assert "Traceback" not in done.stderr or "failed" in done.stderr


def test_help_says_what_the_options_do(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "minion", "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    options = ("--queue", "--workers", "--pool", "--broker", "--log-level", "--log-format")
    for option in (*options, "--rpc-workers"):
        assert option in text
    assert "A minion serves one queue" in text
    assert "sets ARBITER_BROKER_URL before APP is imported" in text


# ----------------------------------------------------------------------------- stopping


def test_a_first_sigterm_lets_the_running_task_finish(workspace: Workspace) -> None:
    minion = workspace.start("tasks", "--broker", workspace.url, "--grace", "25")
    minion.ready()
    with workspace.arbiter() as arbiter:
        [task_id] = arbiter.apply("hold", task_args=["g", WAIT])
        workspace.wait_for_mark("started-g", minion)
        minion.signal()
        minion.wait_for_line(r"received SIGTERM: stopping gracefully")
        minion.wait_for_line(r"waiting up to 25s \(grace\) for 1 running task\(s\) to finish")
        assert minion.proc.poll() is None, "it waits for the task"
        (workspace.marks / "release-g").touch()
        assert minion.wait() == 0
        assert arbiter.status(task_id)["state"] == "succeeded"
    minion.wait_for_line(rf"task hold\[{task_id}\] succeeded")
    assert "requeued" not in minion.output()


def test_a_second_sigterm_requeues_the_running_task_and_exits(workspace: Workspace) -> None:
    first = workspace.start("tasks", "--broker", workspace.url, "--grace", "600")
    first.ready()
    with workspace.arbiter() as arbiter:
        [task_id] = arbiter.apply("hold", task_args=["c", 600])
        workspace.wait_for_mark("started-c", first)
        first.signal()
        first.wait_for_line(r"waiting up to 600s \(grace\) for 1 running task")
        first.signal()
        assert first.wait() == 0, "it exits long before the grace period"
        first.wait_for_line(r"received SIGTERM again: cold shutdown")
        first.wait_for_line(rf"requeued task hold\[{task_id}\]: cold shutdown")
        first.wait_for_line(r"cold shutdown: requeued 1 running task\(s\)")
        assert arbiter.status(task_id)["state"] == "queued"
        (workspace.marks / "release-c").touch()
        second = workspace.start("tasks", "--broker", workspace.url)
        [status] = arbiter.wait_for_tasks([task_id], timeout=WAIT)
    assert status["state"] == "succeeded" and status["result"] == second.proc.pid
    second.signal()
    assert second.wait() == 0


# ----------------------------------------------------------------------------- the docs

DOC = Path(__file__).resolve().parent.parent / "docs" / "operations.md"
DOC_SECTIONS = ("## Starting a minion", "## Logs")
DOC_BROKER = "redis://localhost:6379/0"


def doc_section(heading: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(heading + "\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def documented_commands() -> list[str]:
    """The sections' minion commands (the broker-timeout example, which starts no
    minion, runs in ``test_broker_timeout.py``)."""
    return [
        line[2:]
        for heading in DOC_SECTIONS
        for line in doc_section(heading).splitlines()
        if line.startswith(("$ arbiter minion ", "$ python -m arbiter minion "))
    ]


def test_the_documented_task_module_is_the_python_block() -> None:
    [block] = re.findall(r"```python\n(.*?)```", doc_section("## Starting a minion"), re.S)
    assert 'app = Minion(queue="default")' in block and "def add(x, y)" in block


@pytest.mark.parametrize("command", documented_commands())
def test_the_documented_commands_run(
    command: str, workspace: Workspace, server: RedisServer
) -> None:
    """Each command serves the documented ``tasks.py`` until an ``add`` it was sent is done."""
    [block] = re.findall(r"```python\n(.*?)```", doc_section("## Starting a minion"), re.S)
    (workspace.directory / "tasks.py").write_text(block)
    argv = shlex.split(command.replace(DOC_BROKER, server.url))
    if argv[0] == "arbiter":
        argv = [ARBITER, *argv[1:]]
    elif argv[:3] == ["python", "-m", "arbiter"]:
        argv = [sys.executable, *argv[1:]]
    assert argv[1:2] in (["minion"], ["-m"]), command
    env = workspace.env(ARBITER_BROKER_URL=server.url)
    minion = CliMinion(argv, workspace.directory, env)
    workspace.started.append(minion)
    minion.ready()
    queue = argv[argv.index("--queue") + 1] if "--queue" in argv else "default"
    with workspace.arbiter() as arbiter:
        [task_id] = arbiter.apply("add", task_args=[1, 2], queue=queue)
        assert finished(arbiter, [task_id])[task_id]["result"] == 3
    minion.wait_for_line(rf"task add\[{task_id}\] succeeded")
    minion.signal()
    assert minion.wait() == 0


def test_the_documented_json_line_has_the_keys_a_real_one_has(workspace: Workspace) -> None:
    [sample] = [
        line for line in doc_section("## Logs").splitlines() if line.startswith('{"timestamp"')
    ]
    minion = workspace.start("tasks", "--log-format", "json", ARBITER_BROKER_URL=workspace.url)
    minion.ready()
    with workspace.arbiter() as arbiter:
        [task_id] = arbiter.apply("add", task_args=[1, 2])
        finished(arbiter, [task_id])
    line = minion.wait_for_line(f'"task_id": "{task_id}"')
    minion.signal()
    assert minion.wait() == 0
    assert list(json.loads(sample)) == list(json.loads(line))
