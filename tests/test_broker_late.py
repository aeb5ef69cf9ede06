"""Starting before the broker: building a Minion or an Arbiter never connects, and a
minion started while its broker is down waits for it, saying so, then serves.

Each test starts a redis-server of its own, late, on a port chosen up front.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cli_support import APP, arbiter_command
from minion_process import clean_environment
from redis_server import RedisServer, free_port
from support import wait_until

from arbiter import Arbiter, Minion
from arbiter.exceptions import BrokerConnectionError

pytestmark = pytest.mark.real_broker


def test_building_a_minion_or_an_arbiter_touches_no_broker() -> None:
    """What ``import tasks`` does when the module builds both: it must not block or fail."""
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    started = time.monotonic()
    app = Minion(url)
    arbiter = Arbiter(url)
    assert time.monotonic() - started < 1.0, "building connected to the broker"
    with pytest.raises(BrokerConnectionError):  # the first call that needs it says so
        arbiter.apply("anything")
    arbiter.close()
    app.close()


def test_a_minion_started_before_its_broker_waits_then_serves(tmp_path: Path) -> None:
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.skip("needs redis-server on PATH")
    (tmp_path / "redis").mkdir()
    server = RedisServer(executable, tmp_path / "redis")  # its port is chosen, not yet served
    (tmp_path / "app.py").write_text(APP)
    log = (tmp_path / "minion.log").open("w")
    minion = subprocess.Popen(
        [arbiter_command(), "minion", "app", "--broker", server.url],
        cwd=tmp_path,
        env=clean_environment(ARBITER_NAMESPACE="late"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        text = (tmp_path / "minion.log").read_text
        assert wait_until(lambda: text().count("cannot reach the broker") >= 2, 30), text()
        assert minion.poll() is None, "the minion gave up instead of waiting"
        server.start()
        assert wait_until(lambda: "reached the broker" in text(), 30), text()
        with Arbiter(server.url, namespace="late") as arbiter:
            [task_id] = arbiter.apply("add", task_args=[2, 3])
            [status] = arbiter.wait_for_tasks([task_id], timeout=30)
        assert status["state"] == "succeeded" and status["result"] == 5
        assert "retrying in" in text()
    finally:
        minion.terminate()
        try:
            minion.wait(30)
        finally:
            log.close()
            server.stop()
    assert minion.returncode == 0, (tmp_path / "minion.log").read_text()
