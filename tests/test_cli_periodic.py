"""``arbiter periodic`` on memory://, in this process: the live minions' table, and --app's.

The real console script against minion processes on Redis is in
``tests/distributed/test_periodic_processes.py``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import wait_until

from arbiter import Minion
from arbiter_core.cli import cli

APP = """
from arbiter import Minion

app = Minion("{url}", queue="jobs")


@app.periodic("0 6 * * 1-5", tz="America/New_York", name="weekday_report", missed="run_once")
def weekday_report():
    return "sent"


@app.task(name="plain")
def plain():
    return 1
"""


@pytest.fixture
def url() -> str:
    return f"memory://periodic-cli-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def serving(url: str) -> Iterator[Minion]:
    app = Minion(url)
    fired: list[float] = []

    @app.periodic(every=1, name="beat")
    def beat(tick: float) -> None:
        fired.append(tick)

    thread = threading.Thread(
        target=app.run, kwargs={"workers": 1, "handle_signals": False}, daemon=True
    )
    thread.start()
    try:
        assert wait_until(lambda: len(fired) >= 1, 5)
        yield app
    finally:
        app.stop()
        thread.join(10)
        app.close()


def test_lists_what_the_live_minions_fire_with_last_and_next_run(serving: Minion, url: str) -> None:
    done = CliRunner().invoke(cli, ["periodic", "--broker", url])
    assert done.exit_code == 0, done.output
    header, row = done.output.splitlines()
    assert header.split() == [
        "NAME", "SCHEDULE", "QUEUE", "MISSED", "LAST", "RUN", "NEXT", "RUN", "MINIONS",
    ]  # fmt: skip
    assert row.split()[:5] == ["beat", "every", "1s", "default", "skip"]
    assert "(in " in row and row.split()[-1] == "1"

    shown = json.loads(CliRunner().invoke(cli, ["periodic", "--broker", url, "--json"]).output)
    [beat] = shown
    assert beat["every"] == 1.0 and beat["cron"] is None and beat["minions"] == 1
    assert beat["last_tick"] <= time.time() < beat["next_tick"]
    assert beat["last_task_id"] == f"periodic:beat:{int(beat['last_tick'])}"
    assert beat["last_worker"] == serving.worker_id


def test_with_no_minion_running_it_says_so(url: str) -> None:
    done = CliRunner().invoke(cli, ["periodic", "--broker", url])
    assert done.exit_code == 0 and done.output == "no periodic tasks: no live minion fires any\n"
    assert json.loads(CliRunner().invoke(cli, ["periodic", "--broker", url, "--json"]).output) == []


def test_app_lists_the_apps_periodic_tasks_even_if_no_minion_runs(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = f"periodic_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(APP.format(url=url))
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(cli, ["periodic", "--app", module, "--json"])
    assert done.exit_code == 0, done.output
    [report] = json.loads(done.output)
    assert report["name"] == "weekday_report" and report["queue"] == "jobs"
    assert report["schedule"] == "0 6 * * 1-5 (America/New_York)"
    assert report["missed"] == "run_once" and report["last_tick"] is None
    assert report["minions"] == 0 and report["next_tick"] > time.time()
    del sys.modules[module]  # the command closed that app's node: import it afresh
    text = CliRunner().invoke(cli, ["periodic", "--app", module]).output
    assert "weekday_report" in text and "never" in text

    del sys.modules[module]
    wrong = CliRunner().invoke(cli, ["periodic", "--app", module, "--broker", "memory://other"])
    assert wrong.exit_code != 0 and "drop --broker" in wrong.output
