"""A distributed DAG on Redis, beside independent tasks and the local runner on the same DAG.

A script, not a test (pytest does not collect it)::

    .venv/bin/python tests/benchmarks/dag_distributed.py [--tasks 2000] [--rounds 3]

It starts a redis-server of its own (see ``redis_throughput.py``, whose helpers it
uses) and ONE minion process with 2 thread slots, then times, in the same run and
alternating rounds (the table shows the median):

* **independent**: ``apply("noop", tasks_count=N)`` and ``wait_for_tasks`` on all;
* **dag**: ``Arbiter.run_tasks`` on a random DAG of N no-op tasks (each depends on up
  to 3 earlier ones, seeded), the minions advancing readiness;
* **local**: ``run_tasks(max_workers=2)`` on the same DAG, in this process;
* **group**: ``Arbiter.group`` of N no-op members with a callback (which gets the N
  results) and a finalizer, waited on whole: the same engine, in its widest fan-in;
* **pipe**: ``Arbiter.pipe`` of ``--pipe-steps`` steps, each getting the one before's
  result, beside **one by one**: as many tasks applied and waited for in turn (both are
  sequential: their ratio to each other is the one to read).

Target: the DAG costs at most 1.5x the independent tasks, per task.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from redis_throughput import MINION_SCRIPT, ROUND_TRIP_COUNTER, child, redis_server, wait_for

NAMESPACE = "dagbench"
WORKERS = 2
TARGET = 1.5
MAX_DEPENDENCIES = 3
SEED = 2000


MINION_APP = MINION_SCRIPT.replace(
    'if __name__ == "__main__":',
    '@app.task(name="count")\ndef count(results):\n    return len(results)\n\n\n'
    '@app.task(name="inc")\ndef inc(x=0):\n    return x + 1\n\n\n'
    'if __name__ == "__main__":',
)
assert MINION_APP != MINION_SCRIPT, "redis_throughput's minion script changed shape"


def noop(*_: Any) -> None:
    return None


def random_dag(n: int, function: Any) -> list[Any]:
    from arbiter import create_task

    rng = random.Random(SEED)
    tasks = []
    for i in range(n):
        k = rng.randint(0, min(i, MAX_DEPENDENCIES))
        deps = [f"t{j}" for j in rng.sample(range(i), k)] if k else []
        tasks.append(create_task(f"t{i}", function, dependencies=deps))
    return tasks


def independent(arbiter: Any, n: int) -> float:
    start = time.perf_counter()
    ids = arbiter.apply("noop", tasks_count=n)
    done = sum(m["state"] == "succeeded" for m in arbiter.wait_for_tasks(ids, timeout=300))
    elapsed = time.perf_counter() - start
    assert done == n, f"{done} of {n} succeeded"
    return elapsed


def dag(arbiter: Any, n: int) -> float:
    tasks = random_dag(n, "noop")
    start = time.perf_counter()
    results = arbiter.run_tasks(tasks, timeout=300, progress=False)
    elapsed = time.perf_counter() - start
    assert all(r.success for r in results.values()), "a DAG task failed"
    return elapsed


def group(arbiter: Any, n: int) -> float:
    from arbiter import TaskCall

    start = time.perf_counter()
    plan = arbiter.group(["noop"] * n, callback=TaskCall("count"), finalizer="noop")
    statuses = {m["id"]: m for m in arbiter.wait_for_tasks(plan.all_ids, timeout=300)}
    elapsed = time.perf_counter() - start
    assert statuses[plan.callback]["result"] == n, statuses[plan.callback]
    assert statuses[plan.finalizer]["state"] == "succeeded"
    return elapsed


def pipe(arbiter: Any, steps: int) -> float:
    from arbiter import TaskCall

    start = time.perf_counter()
    ids = arbiter.pipe([TaskCall("inc", (0,)), *["inc"] * (steps - 1)])
    [last] = arbiter.wait_for_tasks([ids[-1]], timeout=300)
    elapsed = time.perf_counter() - start
    assert last["result"] == steps, last
    return elapsed


def one_by_one(arbiter: Any, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        [status] = arbiter.wait_for_tasks(arbiter.apply("inc"), timeout=60)
        assert status["result"] == 1, status
    return time.perf_counter() - start


def local(n: int) -> float:
    from arbiter import run_tasks

    tasks = random_dag(n, noop)
    start = time.perf_counter()
    results = run_tasks(tasks, max_workers=WORKERS, progress=False)
    elapsed = time.perf_counter() - start
    assert all(r.success for r in results.values())
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pipe-steps", type=int, default=300)
    options = parser.parse_args(argv)
    n, steps = options.tasks, options.pipe_steps
    edges = sum(len(t.dependencies) for t in random_dag(n, noop))
    with tempfile.TemporaryDirectory(prefix="arbiter-dagbench-") as tmp:
        directory = Path(tmp)
        (directory / "bench_counter.py").write_text(ROUND_TRIP_COUNTER)
        (directory / "minion_app.py").write_text(MINION_APP)
        from arbiter import Arbiter

        with redis_server(directory) as url:
            env = {k: v for k, v in os.environ.items() if not k.startswith("ARBITER_")}
            env.update(
                PYTHONPATH=os.pathsep.join([str(directory), env.get("PYTHONPATH", "")]),
                ARBITER_BROKER_URL=url,
                ARBITER_NAMESPACE=NAMESPACE,
            )
            args = [sys.executable, str(directory / "minion_app.py"), str(WORKERS)]
            with (
                child(args, env, directory / "minion.log"),
                Arbiter(url, namespace=NAMESPACE) as arbiter,
            ):
                wait_for(lambda: bool(arbiter.workers().get("default")), "the minion registering")
                independent(arbiter, 200)  # warm both sides
                dag(arbiter, 200)
                group(arbiter, 200)
                runs = {
                    "independent": lambda: independent(arbiter, n),
                    "dag": lambda: dag(arbiter, n),
                    "local": lambda: local(n),
                    "group": lambda: group(arbiter, n),
                    "pipe": lambda: pipe(arbiter, steps),
                    "one by one": lambda: one_by_one(arbiter, steps),
                }
                timings: dict[str, list[float]] = {name: [] for name in runs}
                for round_no in range(options.rounds):
                    order = list(runs)
                    if round_no % 2:
                        order.reverse()
                    for name in order:
                        timings[name].append(runs[name]())
    count = {name: steps if name in ("pipe", "one by one") else n for name in timings}
    per_task = {name: statistics.median(t) / count[name] * 1e6 for name, t in timings.items()}
    ratio = per_task["dag"] / per_task["independent"]
    print(f"{n} no-op tasks, {edges} dependencies; one minion process, {WORKERS} thread slots")
    print(f"median of {options.rounds} rounds\n")
    print(f"{'run':<47}{'µs/task':>10}{'vs independent':>16}")
    rows = [
        ("independent tasks, apply + wait (Redis)", "independent"),
        ("DAG, Arbiter.run_tasks (Redis, minions)", "dag"),
        ("same DAG, local run_tasks(max_workers=2)", "local"),
        ("group + callback + finalizer (Redis, minions)", "group"),
        (f"pipe of {steps} steps (Redis, minions)", "pipe"),
        (f"{steps} tasks applied and waited one by one", "one by one"),
    ]
    for label, name in rows:
        print(
            f"{label:<47}{per_task[name]:>10.1f}{per_task[name] / per_task['independent']:>15.2f}x"
        )
    print(f"\npipe per step vs one by one: {per_task['pipe'] / per_task['one by one']:.2f}x")
    verdict = "met" if ratio <= TARGET else "NOT met"
    print(f"target: DAG <= {TARGET}x independent tasks: {ratio:.2f}x, {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
