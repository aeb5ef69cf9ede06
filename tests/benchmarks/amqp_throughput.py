"""Minion/Arbiter on RabbitMQ (records on Redis): throughput and latency, beside bare kombu.

A script, not a test (pytest does not collect it); it needs arbiter-kombu installed,
the local RabbitMQ (127.0.0.1:5672, guest/guest) and ``rabbitmqctl``::

    .venv/bin/python tests/benchmarks/amqp_throughput.py [--tasks 5000]
        [--latency-samples 300] [--rounds 3] [--priority]

It makes a vhost of its own (deleted at exit) and starts a redis-server of its own
for the records. Two measurements, each beside a baseline measured in the same run:

* **throughput**: ``--tasks`` tasks applied one by one (``apply("noop")`` each), then
  ``wait_for_tasks`` on all of them until every result is read; ONE minion process,
  ``app.run(workers=2, pool="thread")``. The median of ``--rounds`` runs.
* **latency**: sequential ``apply`` → ``wait_for_tasks`` round trips of one task
  against an idle minion; p50 and p99.

With ``--priority``, a second minion serves a second namespace over the same vhost
with ``?max_priority=9`` (priority queues, ``x-max-priority`` 9), and each round also
measures throughput there: tasks at level 0, and tasks at levels ``i % 10``. Its ratio
is to arbiter without the option, in the same rounds: what priority queues cost.

The baseline is the bare RabbitMQ work of a task with kombu alone, in the same
shape: the producer publishes a persistent message (publisher confirms on, as
arbiter's pushes are) to a durable queue; a consumer process (2 threads, each with
its own connection, prefetch 1) takes it, publishes a reply to a reply queue and
acks; the producer consumes the replies. Throughput: publish all, then read every
reply; latency: one at a time. It has no state store, no envelope, no records: the
ratio is what arbiter's guarantees cost on top of the broker's own round trips.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from kombu import Connection, Consumer, Producer, Queue

WORKERS = 2
THROUGHPUT_TARGET = 4_000.0
"""End-to-end tasks per second to reach (applied one by one, every result fetched)."""
LATENCY_TARGET_MS = 0.5
"""p50 of one apply → wait_for_tasks round trip, in milliseconds."""
NAMESPACE = "bench"
START_TIMEOUT = 30.0
WAIT_TIMEOUT = 600.0
RABBIT = "amqp://guest:guest@127.0.0.1:5672"

MINION_SCRIPT = r"""
import sys

from arbiter import Minion

app = Minion(queue="default")  # broker, state and namespace from ARBITER_*


@app.task(name="noop")
def noop():
    return None


if __name__ == "__main__":
    app.run(workers=int(sys.argv[1]), pool="thread")
"""

BASELINE_CONSUMER = r"""
import sys
import threading

from kombu import Connection, Consumer, Producer, Queue

url, queue, replies, threads = sys.argv[1:]


def consume():
    with Connection(url, transport_options={"confirm_publish": True}) as connection:
        channel = connection.channel()
        producer = Producer(channel, auto_declare=False)
        stop = []

        def on_message(message):
            if message.body == b"stop":
                stop.append(True)
                message.ack()
                return
            producer.publish(message.body[:32], routing_key=replies, exchange="",
                             content_type="application/octet-stream",
                             content_encoding="binary", retry=False)
            message.ack()

        consumer = Consumer(channel, queues=[Queue(queue, no_declare=True)],
                            on_message=on_message, prefetch_count=1, auto_declare=False)
        consumer.consume()
        while not stop:
            connection.drain_events()


workers = [threading.Thread(target=consume) for _ in range(int(threads))]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], what: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not happen within {timeout:g}s")
        time.sleep(0.02)


def rabbitmqctl(*args: str) -> None:
    executable = shutil.which("rabbitmqctl")
    if executable is None:
        raise SystemExit("rabbitmqctl is not on PATH")
    subprocess.run([executable, *args], check=True, capture_output=True, timeout=60)


@contextlib.contextmanager
def vhost() -> Iterator[str]:
    name = f"arbiter-bench-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", name)
    try:
        rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield f"{RABBIT}/{name}"
    finally:
        rabbitmqctl("delete_vhost", name)


@contextlib.contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit("redis-server is not on PATH")
    port = free_port()
    process = subprocess.Popen(
        [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def answers() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    try:
        wait_for(answers, "redis-server answering")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


# ---------------------------------------------------------------------- arbiter
@contextlib.contextmanager
def minion(directory: Path, env: dict[str, str]) -> Iterator[None]:
    script = directory / "bench_minion.py"
    script.write_text(MINION_SCRIPT)
    process = subprocess.Popen(
        [sys.executable, str(script), str(WORKERS)],
        cwd=directory,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(directory / "minion.log").open("wb"),
    )
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def arbiter_throughput(client: object, tasks: int, levels: int = 1) -> float:
    """Tasks per second; the i-th task is applied at level ``i % levels``."""
    started = time.perf_counter()
    ids = [client.apply("noop", priority=i % levels)[0] for i in range(tasks)]  # type: ignore[attr-defined]
    done = sum(1 for _ in client.wait_for_tasks(ids, timeout=WAIT_TIMEOUT))  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - started
    assert done == tasks, f"{done} of {tasks} results"
    return tasks / elapsed


def arbiter_latency(client: object, samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        ids = client.apply("noop")  # type: ignore[attr-defined]
        list(client.wait_for_tasks(ids, timeout=WAIT_TIMEOUT))  # type: ignore[attr-defined]
        times.append(time.perf_counter() - started)
    return times


# ---------------------------------------------------------------------- baseline
@contextlib.contextmanager
def baseline(directory: Path, url: str) -> Iterator[Callable[[int], float]]:
    queue, replies = f"baseline-{uuid.uuid4().hex[:6]}", f"replies-{uuid.uuid4().hex[:6]}"
    connection = Connection(url, transport_options={"confirm_publish": True})
    channel = connection.channel()
    for name in (queue, replies):
        channel.queue_declare(queue=name, durable=True, auto_delete=False)
    script = directory / "baseline_consumer.py"
    script.write_text(BASELINE_CONSUMER)
    process = subprocess.Popen([sys.executable, str(script), url, queue, replies, str(WORKERS)])
    producer = Producer(channel, auto_declare=False)
    got: list[bytes] = []
    consumer = Consumer(
        channel,
        queues=[Queue(replies, no_declare=True)],
        on_message=lambda m: (got.append(m.body), m.ack()),
        auto_declare=False,
        prefetch_count=100,
    )
    consumer.consume()
    payload = b"x" * 240

    def run(count: int) -> float:
        """Publish ``count`` messages, read every reply; the seconds it took."""
        got.clear()
        started = time.perf_counter()
        for _ in range(count):
            producer.publish(
                uuid.uuid4().hex.encode() + payload,
                routing_key=queue,
                exchange="",
                delivery_mode=2,
                content_type="application/octet-stream",
                content_encoding="binary",
                retry=False,
            )
        while len(got) < count:
            connection.drain_events(timeout=WAIT_TIMEOUT)
        return time.perf_counter() - started

    try:
        run(50)  # warm up: both sides connected
        yield run
    finally:
        for _ in range(WORKERS):
            producer.publish(b"stop", routing_key=queue, exchange="", retry=False)
        process.wait(30)
        connection.release()


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=5_000)
    parser.add_argument("--latency-samples", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--priority", action="store_true", help="also measure on queues with ?max_priority=9"
    )
    args = parser.parse_args()

    import arbiter
    from arbiter_core.client import Arbiter

    with tempfile.TemporaryDirectory() as tmp, vhost() as url, redis_server(Path(tmp)) as state:
        directory = Path(tmp)
        env = {
            **os.environ,
            "ARBITER_BROKER_URL": url,
            "ARBITER_STATE_URL": state,
            "ARBITER_NAMESPACE": NAMESPACE,
        }
        node = arbiter.connect(url, state_url=state, namespace=NAMESPACE)
        client = Arbiter(node)
        leveled_url = f"{url}?max_priority=9"
        leveled_env = {**env, "ARBITER_BROKER_URL": leveled_url, "ARBITER_NAMESPACE": "benchp"}
        leveled_node = arbiter.connect(leveled_url, state_url=state, namespace="benchp")
        leveled = Arbiter(leveled_node)
        priority_minion = (
            minion(directory / "leveled", leveled_env)
            if args.priority
            else contextlib.nullcontext()
        )
        (directory / "leveled").mkdir()
        with minion(directory, env), priority_minion, baseline(directory, url) as bare:
            wait_for(lambda: bool(client.workers()), "the minion registering")
            arbiter_latency(client, 50)  # warm up
            if args.priority:
                wait_for(lambda: bool(leveled.workers()), "the max_priority minion registering")
                arbiter_latency(leveled, 50)
            ours, theirs, level0, mixed = [], [], [], []
            for _ in range(args.rounds):
                theirs.append(args.tasks / bare(args.tasks))
                ours.append(arbiter_throughput(client, args.tasks))
                if args.priority:
                    level0.append(arbiter_throughput(leveled, args.tasks))
                    mixed.append(arbiter_throughput(leveled, args.tasks, levels=10))
            bare_latency = []
            for _ in range(args.latency_samples):
                bare_latency.append(bare(1))
            our_latency = arbiter_latency(client, args.latency_samples)
        client.close()
        node.close()
        leveled.close()
        leveled_node.close()

    rows = [
        (
            "throughput (tasks/s, median)",
            statistics.median(theirs),
            statistics.median(ours),
            f">= {THROUGHPUT_TARGET:,.0f}",
        ),
        (
            "latency p50 (ms)",
            percentile(bare_latency, 0.5) * 1e3,
            percentile(our_latency, 0.5) * 1e3,
            f"<= {LATENCY_TARGET_MS}",
        ),
        (
            "latency p99 (ms)",
            percentile(bare_latency, 0.99) * 1e3,
            percentile(our_latency, 0.99) * 1e3,
            "",
        ),
    ]
    print(
        f"\narbiter on amqp:// (records on Redis) vs bare kombu, {args.tasks} tasks x "
        f"{args.rounds} rounds, {args.latency_samples} latency samples, {WORKERS} workers"
    )
    print(f"{'':32} {'bare kombu':>12} {'arbiter':>12} {'ratio':>8}  target")
    for name, bare_value, our_value, target in rows:
        ratio = our_value / bare_value if bare_value else float("nan")
        print(f"{name:32} {bare_value:12,.2f} {our_value:12,.2f} {ratio:8.2f}  {target}")
    if args.priority:
        print(
            f"\nwith ?max_priority=9 (tasks/s, median of {args.rounds}; ratio to arbiter without)"
        )
        print(f"{'':32} {'without':>12} {'with':>12} {'ratio':>8}")
        for name, values in (("level 0 tasks", level0), ("levels i % 10", mixed)):
            without, with_ = statistics.median(ours), statistics.median(values)
            print(f"{name:32} {without:12,.2f} {with_:12,.2f} {with_ / without:8.2f}")


if __name__ == "__main__":
    main()
