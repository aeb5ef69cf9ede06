"""The quick start's second face: a Minion serving tasks that an Arbiter applies.

``arbiter demo`` runs it on the embedded default, memory://, with the Minion on a
thread of the same process. ``arbiter demo --broker redis://…`` runs it against
that broker, with the Minion in a process of its own (``python -m
arbiter.demo_distributed --serve``), in a namespace of its own so it never meets
other work. Either way it shows a fan-out/fan-in (a group whose callback adds the
members' results), a flaky member that succeeds on its retry, a task that fails,
live progress, the results and the time taken.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from tqdm import tqdm

from arbiter.demo import aligned_table
from arbiter_core.client import Arbiter
from arbiter_core.composition import TaskCall
from arbiter_core.connect import connect
from arbiter_core.minion import Minion
from arbiter_core.node import EventNode

QUEUE = "demo"
SOURCES = ("alpha", "beta", "gamma", "delta")
FLAKY = "beta"
"""The member whose first attempt fails, like a network hiccup; its retry succeeds."""
WAIT_TIMEOUT = 60.0
"""Seconds the demo waits for its tasks before it says what went wrong."""


def build_minion(node: EventNode | str | None = None) -> Minion:
    """The demo's minion: ``demo.fetch`` (retried once), ``demo.total``, ``demo.parse``."""
    app = Minion(node, queue=QUEUE)
    failed_once: set[str] = set()
    lock = threading.Lock()

    @app.task(name="demo.fetch", retries=1, delay=0.1)
    def fetch(source: str) -> int:
        time.sleep(0.05)
        with lock:
            first = source == FLAKY and source not in failed_once
            failed_once.add(source)
        if first:
            raise ConnectionError(f"{source}: connection reset")
        return len(source) * 10

    @app.task(name="demo.total")
    def total(results: list[int]) -> int:
        return sum(results)

    @app.task(name="demo.parse")
    def parse(text: str) -> int:
        return int(text)

    return app


def run(out: TextIO = sys.stdout, broker: str | None = None) -> int:
    """Apply the demo's tasks, follow them to the end, print the table; exit status 0."""
    started = time.monotonic()
    where = "on a thread of this process" if broker is None else "in a process of its own"
    with _quiet_task_log(), _serving(broker) as arbiter:
        print(f"\nDistributed, on {arbiter.node.url}: the Minion runs {where}", file=out)
        plan = arbiter.group(
            [TaskCall("demo.fetch", (source,), queue=QUEUE) for source in SOURCES],
            callback=TaskCall("demo.total", queue=QUEUE),
        )
        [parse_id] = arbiter.apply("demo.parse", task_args=["not a number"], queue=QUEUE)
        assert plan.callback is not None
        ids = [*plan.members, plan.callback, parse_id]
        members = zip(plan.members, SOURCES, strict=True)
        labels = {member: f"demo.fetch({source!r})" for member, source in members}
        statuses: dict[str, dict[str, Any]] = {}
        progress = tqdm(total=len(ids), desc="tasks", unit="task", disable=not _is_tty(out))
        with progress:
            for status in arbiter.wait_for_tasks(ids, timeout=WAIT_TIMEOUT):
                statuses[status["id"]] = status
                progress.update()
        elapsed = time.monotonic() - started
    print(_table([statuses[i] for i in ids], labels), file=out)
    ok = sum(s["state"] == "succeeded" for s in statuses.values())
    print(
        f"\n{ok} of {len(ids)} tasks succeeded in {elapsed:.2f}s "
        "(the fan-in added the fetches; the parse failure is on purpose).",
        file=out,
    )
    return 0


@contextmanager
def _quiet_task_log() -> Iterator[None]:
    """The demo's failures are on purpose: its table shows them, so the minion's task
    log (which, with no logging configured, Python prints on stderr from WARNING up)
    is silenced while the demo runs."""
    task_log = logging.getLogger("arbiter.minion")
    silence = logging.NullHandler()
    task_log.addHandler(silence)
    propagate, task_log.propagate = task_log.propagate, False
    try:
        yield
    finally:
        task_log.propagate = propagate
        task_log.removeHandler(silence)


@contextmanager
def _serving(broker: str | None) -> Iterator[Arbiter]:
    """An Arbiter with a demo minion serving its queue, on memory:// or ``broker``."""
    if broker is None:
        node = connect("memory://")
        app = build_minion(node)
        thread = threading.Thread(
            target=app.run, kwargs={"workers": 2, "handle_signals": False}, daemon=True
        )
        thread.start()
        try:
            with Arbiter(node) as arbiter:
                yield arbiter
        finally:
            app.stop()
            thread.join()
            node.close()
        return
    namespace = f"arbiter-demo-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "ARBITER_BROKER_URL": broker, "ARBITER_NAMESPACE": namespace}
    with Arbiter(broker, namespace=namespace) as arbiter:
        minion = subprocess.Popen(
            [sys.executable, "-m", "arbiter.demo_distributed", "--serve"], env=env
        )
        try:
            yield arbiter
        except TimeoutError as exc:
            code = minion.poll()
            why = "is running but" if code is None else f"exited with status {code} and"
            raise SystemExit(f"the demo minion {why} did not finish the tasks: {exc}") from exc
        finally:
            minion.terminate()
            minion.wait()


def _table(statuses: list[dict[str, Any]], labels: dict[str, str]) -> str:
    rows = [("task", "outcome", "tries", "seconds", "value")]
    for s in statuses:
        if s["state"] == "succeeded":
            value = repr(s["result"])
        else:
            error = s.get("error") or {}
            value = f"{error.get('type', '?')}: {error.get('message', '')}"
        seconds = (s["finished_at"] or 0.0) - (s["started_at"] or s["finished_at"] or 0.0)
        rows.append(
            (labels.get(s["id"], s["name"]), s["state"], str(s["attempt"]), f"{seconds:.2f}", value)
        )
    return aligned_table(rows)


def _is_tty(out: TextIO) -> bool:
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty())


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:  # the minion of ``arbiter demo --broker``
        with _quiet_task_log():
            build_minion().run(workers=2)
    else:
        sys.exit(run())
