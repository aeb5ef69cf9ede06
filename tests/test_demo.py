"""``arbiter demo``: the quick-start job prints both faces' tables and exits 0."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from arbiter import demo_distributed
from arbiter.demo import demo_tasks, format_table, main

EXPECTED = {
    # task: (outcome, tries, start of the value column)
    "fetch-a": ("ok", "1", "[5, 10, 15, 20, 25]"),
    "fetch-b": ("ok", "2", "[4, 8, 12, 16, 20]"),
    "merge": ("ok", "1", "[4, 5, 8, 10, 12, 15, 16, 20, 20, 25]"),
    "total": ("ok", "1", "135"),
    "slow-report": ("FAILED", "1", "TaskTimeoutError: task 'slow-report'"),
    "parse": ("FAILED", "1", "ValueError: malformed input"),
    "publish": ("FAILED", "0", "FailedDependencyError: task 'publish' was not run"),
}


def check_rows(lines: list[str], expected: dict[str, tuple[str, str, str]]) -> None:
    """A demo table: header, rule, then one row per expected task, in order."""
    assert lines[0].split() == ["task", "outcome", "tries", "seconds", "value"]
    assert set(lines[1]) == {"-"}
    rows = {}
    for line in lines[2 : 2 + len(expected)]:
        name, outcome, tries, seconds, value = line.split(maxsplit=4)
        float(seconds)
        rows[name] = (outcome, tries, value)
    assert list(rows) == list(expected)
    for name, (outcome, tries, value) in expected.items():
        assert rows[name][:2] == (outcome, tries), name
        assert rows[name][2].startswith(value), (name, rows[name][2])


def check_table(output: str) -> None:
    check_rows(output.splitlines(), EXPECTED)
    assert "4 of 7 tasks succeeded" in output


def test_python_m_arbiter_demo() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "arbiter.demo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    check_table(completed.stdout)
    assert "Traceback" not in completed.stderr


def test_main_in_process() -> None:
    out = io.StringIO()
    assert main(out) == 0
    check_table(out.getvalue())


def test_demo_graph_is_well_formed() -> None:
    names = [t.name for t in demo_tasks()]
    assert names == list(EXPECTED)
    assert len(set(names)) == len(names)


def test_format_table_aligns_columns() -> None:
    from arbiter import Result

    table = format_table(
        [
            Result(True, 1, name="a", attempts=1, duration=0.5),
            Result(False, ValueError("x"), name="longer-name", attempts=2, duration=1.25),
        ]
    )
    lines = table.splitlines()
    assert lines[2].index("ok") == lines[3].index("FAILED") == lines[0].index("outcome")
    assert "ValueError: x" in lines[3]
    assert "1.25" in lines[3]


DISTRIBUTED_ROWS = {
    # task: (outcome, tries, value)
    "demo.fetch('alpha')": ("succeeded", "1", "50"),
    "demo.fetch('beta')": ("succeeded", "2", "40"),
    "demo.fetch('gamma')": ("succeeded", "1", "50"),
    "demo.fetch('delta')": ("succeeded", "1", "50"),
    "demo.total": ("succeeded", "1", "190"),
    "demo.parse": ("failed", "1", "ValueError: invalid literal"),
}


def check_distributed(output: str, url: str) -> None:
    """The second face: a header naming the broker, one row per task, the summary."""
    part = output[output.index("\nDistributed, on ") :]
    lines = part.strip().splitlines()
    assert lines[0].startswith(f"Distributed, on {url}: the Minion runs")
    check_rows(lines[1:], DISTRIBUTED_ROWS)
    assert "5 of 6 tasks succeeded in " in part


def arbiter_command(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("arbiter")
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_arbiter_demo_shows_both_faces_on_memory() -> None:
    """What the README's quick start runs: the local graph, then the distributed face."""
    completed = arbiter_command("demo")
    assert completed.returncode == 0, completed.stderr
    check_table(completed.stdout)
    check_distributed(completed.stdout, "memory://")
    assert "Traceback" not in completed.stderr


@pytest.mark.real_broker
def test_arbiter_demo_on_redis_runs_the_minion_in_a_process(redis_url: str) -> None:
    completed = arbiter_command("demo", "--broker", redis_url)
    assert completed.returncode == 0, completed.stderr
    assert "4 of 7 tasks succeeded" not in completed.stdout, "only the distributed part"
    check_distributed(completed.stdout, redis_url)
    assert "Traceback" not in completed.stderr


def test_the_distributed_demo_in_process() -> None:
    out = io.StringIO()
    assert demo_distributed.run(out) == 0
    check_distributed(out.getvalue(), "memory://")
