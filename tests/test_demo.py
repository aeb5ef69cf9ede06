"""``python -m arbiter.demo``: the quick-start job prints its table and exits 0."""

from __future__ import annotations

import io
import subprocess
import sys

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


def check_table(output: str) -> None:
    lines = output.splitlines()
    assert lines[0].split() == ["task", "outcome", "tries", "seconds", "value"]
    assert set(lines[1]) == {"-"}
    rows = {}
    for line in lines[2 : 2 + len(EXPECTED)]:
        name, outcome, tries, seconds, value = line.split(maxsplit=4)
        float(seconds)
        rows[name] = (outcome, tries, value)
    assert list(rows) == list(EXPECTED)
    for name, (outcome, tries, value) in EXPECTED.items():
        assert rows[name][:2] == (outcome, tries), name
        assert rows[name][2].startswith(value), (name, rows[name][2])
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
        [Result("a", True, 1, 1, 0.5), Result("longer-name", False, ValueError("x"), 2, 1.25)]
    )
    lines = table.splitlines()
    assert lines[2].index("ok") == lines[3].index("FAILED") == lines[0].index("outcome")
    assert "ValueError: x" in lines[3]
    assert "1.25" in lines[3]
