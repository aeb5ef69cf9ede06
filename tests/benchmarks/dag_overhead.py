"""How much does ``run_tasks`` cost per task, beside a bare graphlib + ThreadPoolExecutor loop?

A script, not a test (pytest does not collect it)::

    .venv/bin/python tests/benchmarks/dag_overhead.py [--tasks 10000] [--rounds 5]

Two shapes of no-op tasks on two threads:

* ``random-dag``: each task depends on up to 3 earlier ones (fixed seed);
* ``independent``: no dependencies at all.

For each shape the baseline (``graphlib.TopologicalSorter`` feeding a
``concurrent.futures.ThreadPoolExecutor(2)``: prepare, get_ready, submit,
wait(FIRST_COMPLETED), done) and ``arbiter.run_tasks(..., max_workers=2,
progress=False)`` are timed in alternating rounds, so both see the same machine
load; the table reports the median and the minimum, and the ratio of medians.
Building the task list is not timed; checking that every task succeeded is done
after each timed run, outside the timer.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from graphlib import TopologicalSorter
from typing import Any

import arbiter

WORKERS = 2
TARGET_RATIO = 1.5
SEED = 20240601
MAX_DEPENDENCIES = 3


def noop() -> None:
    """The task body: nothing, so only the runner's own overhead is measured."""


def random_dag(n: int, seed: int = SEED) -> dict[str, list[str]]:
    """``{name: dependencies}``: task i depends on up to 3 tasks among 0..i-1."""
    rng = random.Random(seed)
    graph: dict[str, list[str]] = {}
    for i in range(n):
        count = rng.randint(0, min(MAX_DEPENDENCIES, i))
        graph[f"t{i}"] = [f"t{j}" for j in rng.sample(range(i), count)]
    return graph


def independent(n: int) -> dict[str, list[str]]:
    return {f"t{i}": [] for i in range(n)}


# ---------------------------------------------------------------------- runners
def run_baseline(graph: dict[str, list[str]]) -> dict[str, bool]:
    """The minimal correct loop: what any DAG-on-a-thread-pool runner must at least do."""
    sorter: TopologicalSorter[str] = TopologicalSorter(graph)
    sorter.prepare()
    succeeded: dict[str, bool] = {}
    pending: dict[Future[None], str] = {}
    with ThreadPoolExecutor(WORKERS) as pool:
        while sorter.is_active():
            for name in sorter.get_ready():
                pending[pool.submit(noop)] = name
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                name = pending.pop(future)
                succeeded[name] = future.exception() is None
                sorter.done(name)
    return succeeded


def make_arbiter_run(graph: dict[str, list[str]]) -> Callable[[], dict[str, bool]]:
    tasks = [arbiter.create_task(name, noop, dependencies=deps) for name, deps in graph.items()]

    def run() -> dict[str, bool]:
        results = arbiter.run_tasks(tasks, max_workers=WORKERS, progress=False)
        return {name: r.success for name, r in results.items()}

    return run


def timed(run: Callable[[], dict[str, bool]], graph: dict[str, Any], runner: str) -> float:
    """Seconds one run took; afterwards (untimed) check that every task succeeded."""
    gc.collect()
    start = time.perf_counter()
    succeeded = run()
    elapsed = time.perf_counter() - start
    failed = [name for name in graph if not succeeded.get(name, False)]
    if failed or len(succeeded) != len(graph):
        raise SystemExit(
            f"{runner}: {len(failed)} of {len(graph)} task(s) did not succeed "
            f"(first: {failed[:3]}); the benchmark is void"
        )
    return elapsed


# ---------------------------------------------------------------------- report
def measure(shape: str, graph: dict[str, list[str]], rounds: int) -> dict[str, list[float]]:
    runners: dict[str, Callable[[], dict[str, bool]]] = {
        "baseline": lambda: run_baseline(graph),
        "arbiter": make_arbiter_run(graph),
    }
    times: dict[str, list[float]] = {name: [] for name in runners}
    for round_no in range(rounds):
        # Alternate which runner goes first, so neither always inherits a warm cache.
        order = list(runners) if round_no % 2 == 0 else list(reversed(runners))
        for name in order:
            times[name].append(timed(runners[name], graph, f"{shape}/{name}"))
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000, help="tasks per shape")
    parser.add_argument("--rounds", type=int, default=5, help="timed runs of each runner")
    options = parser.parse_args(argv)
    n, rounds = options.tasks, options.rounds
    if n < 1 or rounds < 1:
        parser.error("--tasks and --rounds must be at least 1")

    print(
        f"run_tasks overhead: {n:,} no-op tasks, {WORKERS} threads, {rounds} round(s), "
        f"Python {sys.version.split()[0]}"
    )
    header = (
        f"{'shape':<12} {'runner':<9} {'median s':>9} {'min s':>9} {'µs/task':>8} "
        f"{'ratio':>6} {'min ratio':>9}  target"
    )
    print(header)
    print("-" * len(header))
    verdicts = []
    for shape, graph in (("random-dag", random_dag(n)), ("independent", independent(n))):
        times = measure(shape, graph, rounds)
        base_median = statistics.median(times["baseline"])
        base_min = min(times["baseline"])
        for runner, samples in times.items():
            median, fastest = statistics.median(samples), min(samples)
            line = (
                f"{shape:<12} {runner:<9} {median:>9.3f} {fastest:>9.3f} {median / n * 1e6:>8.1f}"
            )
            if runner == "arbiter":
                ratio = median / base_median
                ok = ratio <= TARGET_RATIO
                verdicts.append((shape, ok))
                line += f" {ratio:>6.2f} {fastest / base_min:>9.2f}  "
                line += f"<= {TARGET_RATIO}: {'met' if ok else 'NOT met'}"
            print(line, flush=True)
    print("-" * len(header))
    print("ratio = arbiter median / baseline median; min ratio = arbiter min / baseline min")
    missed = [shape for shape, ok in verdicts if not ok]
    print(
        "all tasks succeeded in both runners; "
        + (f"target missed on: {', '.join(missed)}" if missed else "target met on every shape")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
