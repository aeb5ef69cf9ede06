"""Seed 001 (the distributed Arbiter README) runs as written, imports included.

The seed's code blocks are quoted below verbatim, as string constants. The minion
script and the arbiter script are put together from them exactly as the README
tells a reader to, and run as two processes against a throwaway redis-server; the
only change is ``port=6379`` → that server's port (the shared server on 6379 is
never touched). The server gets a directory of its own, so the seed's fixed
namespace (``event_queue="tasks"``) meets no other test's keys.

``localhost`` is what the seed connects to and the server binds 127.0.0.1 only; if
``localhost`` resolved to ``::1`` first, redis-py would try it, be refused, and
connect to the next address (it walks every ``getaddrinfo`` answer), so the seed
works on both kinds of host.
"""

from __future__ import annotations

import ast
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from minion_process import clean_environment, registered_pids
from redis_server import RedisServer, private_server

from arbiter_redis import RedisEventNode

pytestmark = pytest.mark.real_broker

# ---------------------------------------------------------------- the seed, verbatim
SEED_MINION_SETUP = """\
from arbiter import RedisEventNode
from arbiter import Minion

event_node = RedisEventNode(host="localhost", port=6379, password="", event_queue="tasks")
app = Minion(event_node, queue="default")
"""

SEED_MINION_TASK = """\
@app.task(name="simple_add")
def adds(x, y):
    return x + y
"""

SEED_MINION_MAIN = """\
if __name__ == "__main__":
    app.run(workers=3)
"""

SEED_ARBITER_SETUP = """\
from arbiter import RedisEventNode
from arbiter import Arbiter

event_node = RedisEventNode(host="localhost", port=6379, password="", event_queue="tasks")
arbiter = Arbiter(event_node)
"""

SEED_ARBITER_APPLY = """\
task_keys = arbiter.apply("simple_add", tasks_count=1, task_args=[1, 2]) #  will return array of task ids

# while loop with returns results of each task once it done
for message in arbiter.wait_for_tasks(task_keys):
    print(message)
"""  # noqa: E501 - quoted verbatim

SEED_ARBITER_STATUS = """\
arbiter.status(task_keys[0])
"""
# ----------------------------------------------------------------------------------

# Ours, appended after the seed's last line: show what that line returned, as JSON (the
# seed says "it will return `json` where `result` will be one of the keys").
SHOW_STATUS = """
import json as _json
print("STATUS " + _json.dumps(arbiter.status(task_keys[0])))
"""

RUN_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


def on_port(code: str, port: int) -> str:
    """The seed's code with ``port=6379`` (and nothing else) pointed at ``port``."""
    assert code.count("port=6379") == 1
    return code.replace("port=6379", f"port={port}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with private_server(tmp_path / "redis", "seed 001 (its namespace is fixed: 'tasks')") as own:
        assert own.port != 6379
        yield own


def test_seed_minion_and_arbiter_scripts_run_as_written(
    server: RedisServer, tmp_path: Path
) -> None:
    minion_script = tmp_path / "minion.py"
    minion_script.write_text(
        on_port(SEED_MINION_SETUP, server.port) + "\n" + SEED_MINION_TASK + "\n" + SEED_MINION_MAIN
    )
    arbiter_script = tmp_path / "arbiter_app.py"
    arbiter_script.write_text(
        on_port(SEED_ARBITER_SETUP, server.port)
        + "\n"
        + SEED_ARBITER_APPLY
        + "\n"
        + SEED_ARBITER_STATUS
        + SHOW_STATUS
    )
    env = clean_environment()  # nothing from ARBITER_*: the seed's arguments decide
    minion_log = tmp_path / "minion.log"
    with minion_log.open("wb") as log:
        minion = subprocess.Popen(
            [sys.executable, "-X", "faulthandler", str(minion_script)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
    try:
        arbiter = subprocess.run(
            [sys.executable, str(arbiter_script)],
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            env=env,
            cwd=tmp_path,
            check=False,
        )
        assert arbiter.returncode == 0, arbiter.stderr + minion_log.read_text()
        printed = arbiter.stdout.splitlines()
        assert len(printed) == 2, arbiter.stdout
        message = ast.literal_eval(printed[0])  # the loop's print(message): a dict's repr
        assert message["name"] == "simple_add"
        assert (message["state"], message["result"]) == ("succeeded", 3)
        assert printed[1].startswith("STATUS ")
        status = json.loads(printed[1].removeprefix("STATUS "))
        assert "result" in status and status["result"] == 3
        assert status == message

        node = RedisEventNode(host="localhost", port=server.port, password="", event_queue="tasks")
        try:
            assert minion.pid in registered_pids(node)
            assert json.loads(next(iter(node.live_workers().values())))["slots"] == 3

            minion.send_signal(signal.SIGTERM)
            assert minion.wait(STOP_TIMEOUT) == 0, minion_log.read_text()
            assert minion.pid not in registered_pids(node)  # it left the registry on its way out
        finally:
            node.close()
    finally:
        if minion.poll() is None:
            minion.kill()
        minion.wait(STOP_TIMEOUT)
