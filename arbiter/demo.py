"""The quick-start job: a small dependency graph run on the embedded default, as a table.

Run it with ``python -m arbiter.demo``. It shows, in about a second, what
``run_tasks`` does: dependency order, results passed downstream with
``result_of``, a flaky task that succeeds on retry, a timeout, and a failure
whose dependents are reported instead of run.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Iterable
from typing import TextIO

from arbiter import Result, Task, create_task, result_of, run_tasks


def fetch(source: str) -> list[int]:
    """Pretend to download numbers."""
    time.sleep(0.05)
    return [len(source) * i for i in range(1, 6)]


class FlakyFetch:
    """Fails on its first call, like a network hiccup; the retry succeeds."""

    def __init__(self) -> None:
        self._calls = itertools.count(1)

    def __call__(self, source: str) -> list[int]:
        if next(self._calls) == 1:
            raise ConnectionError(f"{source}: connection reset")
        return fetch(source)


def merge(left: list[int], right: list[int]) -> list[int]:
    return sorted(left + right)


def total(numbers: list[int]) -> int:
    return sum(numbers)


def hang() -> None:
    time.sleep(3)


def broken() -> None:
    raise ValueError("malformed input")


def demo_tasks() -> list[Task]:
    """The demo's graph: two fetches merged and summed, plus a timeout and a failure."""
    return [
        create_task("fetch-a", fetch, args=("alpha",)),
        create_task("fetch-b", FlakyFetch(), args=("beta",), retries=2, delay=0.1),
        create_task("merge", merge, args=(result_of("fetch-a"), result_of("fetch-b"))),
        create_task("total", total, args=(result_of("merge"),)),
        create_task("slow-report", hang, dependencies=["total"], timeout=0.5),
        create_task("parse", broken, dependencies=["fetch-a"]),
        create_task("publish", print, dependencies=["parse", "total"]),
    ]


def format_table(results: Iterable[Result]) -> str:
    """Render results as an aligned text table: name, outcome, tries, seconds, value."""
    rows = [("task", "outcome", "tries", "seconds", "value")]
    for r in results:
        value = repr(r.value) if r.success else f"{type(r.value).__name__}: {r.value}"
        rows.append(
            (
                str(r.name),
                "ok" if r.success else "FAILED",
                str(r.attempts),
                f"{r.duration:.2f}",
                value,
            )
        )
    return aligned_table(rows)


def aligned_table(rows: list[tuple[str, str, str, str, str]]) -> str:
    """The first row is the header, then a rule; the last column (a value) is not padded."""
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)) + "  " + row[4]
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def main(out: TextIO = sys.stdout) -> int:
    """Run the demo graph on two threads and print the table; exit status 0."""
    results = run_tasks(demo_tasks(), max_workers=2)
    print(format_table(results.values()), file=out)
    ok = sum(r.success for r in results.values())
    print(f"\n{ok} of {len(results)} tasks succeeded (the failures are on purpose).", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
