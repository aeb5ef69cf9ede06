"""Swapping brokers is a change of URL: one application, unchanged, on ``memory://``,
``redis://`` and ``amqp://`` (records on Redis), with identical results.

The application module and the script that drives it are the same files for every
broker; only ``ARBITER_BROKER_URL`` (and ``ARBITER_STATE_URL`` for amqp) change. On
Redis and RabbitMQ the minion is ``arbiter minion app`` in a process of its own; a
``memory://`` broker lives in one process, so there the driver serves it in a thread.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.real_broker

APP = """
from arbiter import Minion

app = Minion()  # the broker: ARBITER_BROKER_URL (and ARBITER_STATE_URL), nothing else


@app.task(name="add")
def add(x, y):
    return x + y


@app.task(name="double")
def double(x):
    return 2 * x


@app.task(name="total")
def total(results):
    return sum(results)
"""

DRIVE = """
import json
import os
import threading

from arbiter import Arbiter, TaskCall

from app import app

serving = os.environ["ARBITER_BROKER_URL"].startswith("memory://")
if serving:  # an in-process broker: this process is its minion too
    worker = threading.Thread(target=app.run, kwargs={"workers": 2, "handle_signals": False})
    worker.start()
arbiter = Arbiter(app.node) if serving else Arbiter()
with arbiter:
    applied = arbiter.apply("add", tasks_count=3, task_args=[2, 3])
    adds = [s["result"] for s in arbiter.wait_for_tasks(applied, timeout=60)]
    plan = arbiter.group(
        [TaskCall("double", args=(n,)) for n in range(5)], callback=TaskCall("total")
    )
    members = sorted(s["result"] for s in arbiter.wait_for_tasks(plan.members, timeout=60))
    [callback] = arbiter.wait_for_tasks([plan.callback], timeout=60)
    steps = arbiter.pipe([TaskCall("add", args=(1, 2)), TaskCall("double"), TaskCall("double")])
    piped = [arbiter.status(i)["result"] for i in steps if list(arbiter.wait_for_tasks([i], 60))]
    status = arbiter.status(applied[0])
    print(json.dumps({
        "adds": adds, "members": members, "callback": callback["result"],
        "pipe": piped, "state": status["state"], "name": status["name"],
    }))
if serving:
    app.stop()
    worker.join()
"""

EXPECTED = {
    "adds": [5, 5, 5],
    "members": [0, 2, 4, 6, 8],
    "callback": 20,
    "pipe": [3, 6, 12],
    "state": "succeeded",
    "name": "add",
}


def run_app(directory: Path, env: dict[str, str]) -> dict[str, object]:
    """Drive the app on the broker ``env`` names, with ``arbiter minion app`` serving it
    unless the broker is in-process; the driver's printed results."""
    minion = None
    if not env["ARBITER_BROKER_URL"].startswith("memory://"):
        arbiter_script = str(Path(sys.executable).with_name("arbiter"))
        minion = subprocess.Popen(
            [arbiter_script, "minion", "app", "--workers", "2"],
            cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
    try:
        done = subprocess.run(
            [sys.executable, "drive.py"], cwd=directory, env=env,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        if minion is not None:
            minion.terminate()
            _, minion_log = minion.communicate(timeout=60)
            assert minion.returncode == 0, minion_log
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_one_application_unchanged_on_three_brokers(
    tmp_path: Path, rabbit_url: str, throwaway_redis: str
) -> None:
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    (tmp_path / "drive.py").write_text(DRIVE, encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if not k.startswith("ARBITER_")}
    base["PYTHONPATH"] = str(tmp_path)
    brokers = {
        "memory": {"ARBITER_BROKER_URL": "memory://"},
        "redis": {"ARBITER_BROKER_URL": throwaway_redis},
        "amqp": {"ARBITER_BROKER_URL": rabbit_url, "ARBITER_STATE_URL": throwaway_redis},
    }
    results = {}
    for name, settings in brokers.items():
        namespace = f"swap-{uuid.uuid4().hex[:8]}"
        results[name] = run_app(tmp_path, {**base, **settings, "ARBITER_NAMESPACE": namespace})
    assert results == {name: EXPECTED for name in brokers}
