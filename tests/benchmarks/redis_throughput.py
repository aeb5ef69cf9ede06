"""Minion/Arbiter on Redis: throughput and round-trip latency, beside a bare redis-py loop.

A script, not a test (pytest does not collect it)::

    .venv/bin/python tests/benchmarks/redis_throughput.py [--tasks 10000]
        [--latency-samples 500] [--rounds 3] [--profile DIR]

It starts a redis-server of its own on a free loopback port (no persistence, so
the disk is not measured) and stops it at exit. Two measurements, each beside a
baseline measured in the same run:

* **throughput**: one ``apply("noop", tasks_count=N)`` call, then
  ``wait_for_tasks`` until every result has been read; ONE minion process,
  ``app.run(workers=2, pool="thread")``. ``--rounds`` timed runs alternate with
  the baseline's; the table shows the median.
* **latency**: ``--latency-samples`` sequential ``apply`` → ``wait_for_tasks``
  round trips of one task against an idle minion; p50 and p99. Baseline and
  arbiter samples alternate in blocks of 50, so both see the same machine load.

The baseline is the minimum Redis work a task needs, with redis-py alone, in the
same shape (one producer; one consumer process with 2 threads): the producer
``LPUSH``es a payload of an envelope's size; a consumer thread ``BRPOP``s it and
``SET``s a result with an expiry, pipelined with a ``PUBLISH`` of the id (the
notification: nobody sleep-polls, and the Arbiter is woken the same way); the
producer, woken by that message, ``GET``s the result. Throughput: push all, then
read each result as it is announced. Latency: one task at a time.

Round trips are counted in every process by wrapping redis-py's
``send_packed_command`` (one call per command, or per pipeline), and the server's
``INFO commandstats`` deltas give the commands executed per task, including those
run inside Lua scripts; the CPU time of each process (client, worker, redis-server)
per task is read from ``os.times``, ``/proc/PID/stat`` and ``INFO cpu``.
``--profile DIR`` (needs ``pip install py-spy``) samples the minion and this
process during one more arbiter throughput run and prints where the time goes.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import redis

WORKERS = 2
THROUGHPUT_TARGET = 4_000.0
"""End-to-end tasks per second to reach."""
LATENCY_TARGET_MS = 0.5
"""p50 of one apply → wait_for_tasks round trip, in milliseconds."""
NAMESPACE = "bench"
RESULT_TTL = 24 * 3600
PAYLOAD_SIZE = 240
"""Bytes of a baseline payload: about what an encoded noop envelope weighs."""
LATENCY_BLOCK = 50
COUNTED_ROUND_TRIPS = 200
"""Sequential tasks whose round trips are counted (outside the timed samples)."""
WARM_UP = 20
PING_SAMPLES = 2_000
WAIT_TIMEOUT = 300.0
START_TIMEOUT = 30.0
BASELINE_QUEUE = "baseline:tasks"
BASELINE_CHANNEL = "baseline:done"

# Imported by every process of the run (this one included) before it talks to Redis.
ROUND_TRIP_COUNTER = r'''
"""Counts what redis-py sends: one call per command, or per pipeline (one round trip)."""
import threading

import redis.connection

_lock = threading.Lock()
_sent = 0


def current():
    return _sent


def _install():
    original = redis.connection.AbstractConnection.send_packed_command

    def send_packed_command(self, command, check_health=True):
        global _sent
        with _lock:
            _sent += 1
        return original(self, command, check_health)

    redis.connection.AbstractConnection.send_packed_command = send_packed_command


_install()
'''

MINION_SCRIPT = r'''
import sys

import bench_counter
from arbiter import Minion

app = Minion(queue="default")  # broker and namespace from ARBITER_*


@app.task(name="noop")
def noop():
    return None


@app.task(name="round_trips")
def round_trips():
    """This process's round trips so far."""
    return bench_counter.current()


if __name__ == "__main__":
    app.run(workers=int(sys.argv[1]), pool="thread")
'''

BASELINE_CONSUMER = r"""
import sys
import threading

import bench_counter
import redis

url, queue, channel, threads, ttl = sys.argv[1:]
pool = redis.ConnectionPool.from_url(url, socket_timeout=None)  # BRPOP waits while idle


def consume():
    client = redis.Redis(connection_pool=pool)
    pipe = client.pipeline(transaction=False)
    while True:
        _, payload = client.brpop([queue])
        if payload == b"stop":
            return
        if payload == b"round_trips":
            client.lpush(queue + ":reply", bench_counter.current())
            continue
        task_id = payload[:32]
        pipe.set(b"result:" + task_id, b"null", ex=int(ttl))
        pipe.publish(channel, task_id)
        pipe.execute()


workers = [threading.Thread(target=consume) for _ in range(int(threads))]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
"""


# ---------------------------------------------------------------------- processes
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


@contextlib.contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    """A throwaway redis-server on a free loopback port; its URL. Stopped on the way out."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit("redis-server is not on PATH")
    port = free_port()
    log = (directory / "redis.log").open("wb")
    process = subprocess.Popen(
        [
            executable,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(directory),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/0"
    probe = redis.Redis.from_url(url, socket_timeout=1)

    def answers() -> bool:
        if process.poll() is not None:
            raise SystemExit(f"redis-server exited; see {directory / 'redis.log'}")
        try:
            return bool(probe.ping())
        except redis.ConnectionError:
            return False

    try:
        wait_for(answers, "redis-server answering PING")
        yield url
    finally:
        with contextlib.suppress(redis.RedisError):
            probe.shutdown(nosave=True)
        probe.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


@contextlib.contextmanager
def child(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process, killed on the way out whatever happened."""
    with log.open("wb") as output:
        process = subprocess.Popen(args, stdout=output, stderr=subprocess.STDOUT, env=env)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


# ---------------------------------------------------------------------- one run of each
def arbiter_throughput(arbiter: Any, n: int) -> float:
    """Seconds from apply() to the last result read by wait_for_tasks."""
    gc.collect()
    start = time.perf_counter()
    ids = arbiter.apply("noop", tasks_count=n)
    done = 0
    for message in arbiter.wait_for_tasks(ids, timeout=WAIT_TIMEOUT):
        if message["state"] != "succeeded":
            raise SystemExit(f"a noop task ended {message['state']}: {message}")
        done += 1
    elapsed = time.perf_counter() - start
    if done != n:
        raise SystemExit(f"{done} of {n} results read; the benchmark is void")
    return elapsed


def arbiter_round_trip(arbiter: Any) -> float:
    start = time.perf_counter()
    ids = arbiter.apply("noop")
    for message in arbiter.wait_for_tasks(ids, timeout=10):
        if message["state"] != "succeeded":
            raise SystemExit(f"a noop task ended {message['state']}: {message}")
    return time.perf_counter() - start


class Baseline:
    """The producer's side of the bare redis-py loop."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=None)
        self.pubsub = self.client.pubsub()
        self.pubsub.subscribe(BASELINE_CHANNEL)
        wait_for(self._subscribed, "the baseline's SUBSCRIBE confirmed")
        self.filler = b"x" * (PAYLOAD_SIZE - 32)

    def _subscribed(self) -> bool:
        message = self.pubsub.get_message(timeout=1.0)
        return message is not None and message["type"] == "subscribe"

    def close(self) -> None:
        self.pubsub.close()
        self.client.close()

    def _announced(self) -> bytes:
        deadline = time.monotonic() + WAIT_TIMEOUT
        while time.monotonic() < deadline:
            message = self.pubsub.get_message(timeout=deadline - time.monotonic())
            if message is not None and message["type"] == "message":
                data: bytes = message["data"]
                return data
        raise SystemExit("the baseline consumer stopped answering")

    def _read(self, task_id: bytes) -> None:
        if self.client.get(b"result:" + task_id) is None:
            raise SystemExit("a baseline result was missing; the benchmark is void")

    def throughput(self, n: int) -> float:
        payloads = [uuid.uuid4().hex.encode() + self.filler for _ in range(n)]
        gc.collect()
        start = time.perf_counter()
        for payload in payloads:
            self.client.lpush(BASELINE_QUEUE, payload)
        for _ in range(n):
            self._read(self._announced())
        return time.perf_counter() - start

    def round_trip(self) -> float:
        task_id = uuid.uuid4().hex.encode()
        start = time.perf_counter()
        self.client.lpush(BASELINE_QUEUE, task_id + self.filler)
        announced = self._announced()
        self._read(announced)
        elapsed = time.perf_counter() - start
        if announced != task_id:
            raise SystemExit("the baseline announced another task")
        return elapsed

    def consumer_round_trips(self) -> int:
        self.client.lpush(BASELINE_QUEUE, b"round_trips")
        reply = self.client.brpop([BASELINE_QUEUE + ":reply"], timeout=10)
        if reply is None:
            raise SystemExit("the baseline consumer did not report its round trips")
        return int(reply[1])


# ---------------------------------------------------------------------- counting
class Tally:
    """Round trips and CPU time per process, and server commands, over one measured run."""

    def __init__(
        self,
        server: redis.Redis,
        own: Callable[[], int],
        other: Callable[[], int],
        other_pid: int,
    ) -> None:
        self.server, self.own, self.other, self.other_pid = server, own, other, other_pid

    @contextlib.contextmanager
    def measure(self, into: dict[str, Any]) -> Iterator[None]:
        # Asking the worker costs this process round trips: ask it first, and last.
        other = self.other()
        own = self.own()
        commands, cpu = self._commands(), self._cpu()
        yield
        cpu_after, after = self._cpu(), self._commands()
        into["client"] = self.own() - own
        into["worker"] = self.other() - other
        into["commands"] = Counter({k: after[k] - commands.get(k, 0) for k in after})
        into["cpu"] = {k: cpu_after[k] - cpu[k] for k in cpu}

    def _commands(self) -> dict[str, int]:
        stats = self.server.info("commandstats")
        return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}

    def _cpu(self) -> dict[str, float]:
        """CPU seconds (user + system) used so far by each process of the run."""
        server = self.server.info("cpu")
        fields = Path(f"/proc/{self.other_pid}/stat").read_text().rpartition(")")[2].split()
        ticks = os.sysconf("SC_CLK_TCK")
        own = os.times()
        return {
            "client": own.user + own.system,
            "worker": (int(fields[11]) + int(fields[12])) / ticks,  # utime + stime
            "redis": float(server["used_cpu_user"]) + float(server["used_cpu_sys"]),
            "client sys": own.system,
            "worker sys": int(fields[12]) / ticks,
            "redis sys": float(server["used_cpu_sys"]),
        }


# ---------------------------------------------------------------------- profiling
def profile(directory: Path, pids: dict[str, int], run: Callable[[], None]) -> None:
    """Sample ``pids`` with py-spy while ``run()`` runs; print where the time goes.

    Only samples of a thread holding the GIL are kept (``--gil``): that is the Python
    work a process does, which the GIL serializes, so it bounds its throughput.
    """
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if py_spy is None:
        print("--profile: py-spy is not installed (pip install py-spy); skipped")
        return
    directory.mkdir(parents=True, exist_ok=True)
    samplers = {}
    for name, pid in pids.items():
        output = directory / f"{name}.txt"
        command = [py_spy, "record", "--pid", str(pid), "--rate", "500", "--format", "raw"]
        command += ["--gil", "--threads", "--nonblocking", "--output", str(output)]
        samplers[name] = (
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            output,
        )
    time.sleep(1.0)  # py-spy attaches
    run()
    for name, (sampler, output) in samplers.items():
        sampler.send_signal(signal.SIGINT)
        sampler.wait(30)
        summarize(name, output)


def summarize(name: str, path: Path, top: int = 25) -> None:
    """From py-spy's raw stacks: GIL samples per thread, and the costliest functions."""
    if not path.exists():
        print(f"\n{name}: no profile written")
        return
    threads: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue  # the tail of a frame name that held a newline
        samples = int(count)
        thread, *frames = stack.split(";")
        threads[thread.split(": ", 1)[-1]] += samples
        names = [_short(frame) for frame in frames]
        for function in set(names):
            inclusive[function] += samples
        if names:
            leaves[names[-1]] += samples
    total = sum(threads.values())
    print(f"\n{name}: {total} samples holding the GIL")
    for thread, samples in threads.most_common():
        print(f"  {100 * samples / total:5.1f}%  thread {thread}")
    print("  inclusive (the function and what it calls):")
    for function, samples in inclusive.most_common(top):
        print(f"  {100 * samples / total:5.1f}%  {function}")
    print("  self (the innermost frame):")
    for function, samples in leaves.most_common(top // 2):
        print(f"  {100 * samples / total:5.1f}%  {function}")
    print(f"  raw stacks: {path}")


def _short(frame: str) -> str:
    """``Function (path/file.py:line)`` -> ``Function (file.py)``."""
    function, _, location = frame.partition(" (")
    filename = location.rstrip(")").rpartition(":")[0]
    for marker in ("site-packages/", "/main/", "lib/python3.11/"):
        filename = filename.split(marker, 1)[-1]
    return f"{function} ({filename})"


# ---------------------------------------------------------------------- report
def ping_round_trip(server: redis.Redis) -> float:
    """p50 seconds of one PING: what a round trip costs on this machine right now."""
    samples = []
    for _ in range(PING_SAMPLES):
        started = time.perf_counter()
        server.ping()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000, help="tasks per throughput run")
    parser.add_argument("--latency-samples", type=int, default=500, help="round trips timed")
    parser.add_argument("--rounds", type=int, default=3, help="timed throughput runs of each")
    parser.add_argument("--profile", type=Path, help="py-spy the arbiter run; files go here")
    options = parser.parse_args(argv)
    n, samples, rounds = options.tasks, options.latency_samples, options.rounds
    if n < 1 or samples < 1 or rounds < 1:
        parser.error("--tasks, --latency-samples and --rounds must be at least 1")

    with tempfile.TemporaryDirectory(prefix="arbiter-bench-") as tmp:
        directory = Path(tmp)
        (directory / "bench_counter.py").write_text(ROUND_TRIP_COUNTER)
        (directory / "minion_app.py").write_text(MINION_SCRIPT)
        (directory / "baseline_consumer.py").write_text(BASELINE_CONSUMER)
        sys.path.insert(0, str(directory))
        import bench_counter  # counts this process's round trips from here on

        from arbiter import Arbiter  # after the counter: every connection is counted

        with redis_server(directory) as url:
            env = {k: v for k, v in os.environ.items() if not k.startswith("ARBITER_")}
            env.update(
                PYTHONPATH=os.pathsep.join([str(directory), env.get("PYTHONPATH", "")]),
                ARBITER_BROKER_URL=url,
                ARBITER_NAMESPACE=NAMESPACE,
            )
            minion_args = [sys.executable, str(directory / "minion_app.py"), str(WORKERS)]
            consumer_args = [sys.executable, str(directory / "baseline_consumer.py"), url]
            consumer_args += [BASELINE_QUEUE, BASELINE_CHANNEL, str(WORKERS), str(RESULT_TTL)]
            with (
                child(minion_args, env, directory / "minion.log") as minion,
                child(consumer_args, env, directory / "consumer.log") as consumer,
                Arbiter(url, namespace=NAMESPACE) as arbiter,
            ):
                baseline = Baseline(url)
                try:
                    pids = {"minion": minion.pid, "consumer": consumer.pid}
                    return run(options, arbiter, baseline, url, pids, bench_counter.current)
                finally:
                    baseline.close()


def run(
    options: argparse.Namespace,
    arbiter: Any,
    baseline: Baseline,
    url: str,
    pids: dict[str, int],
    round_trips: Callable[[], int],
) -> int:
    n, samples, rounds = options.tasks, options.latency_samples, options.rounds
    wait_for(lambda: bool(arbiter.workers().get("default")), "the minion registering")
    for _ in range(WARM_UP):  # connections, scripts and code paths warm on both sides
        arbiter_round_trip(arbiter)
        baseline.round_trip()

    def minion_round_trips() -> int:
        [message] = arbiter.wait_for_tasks(arbiter.apply("round_trips"), timeout=10)
        return int(message["result"])

    server = redis.Redis.from_url(url)
    version = server.info("server")["redis_version"]
    ping = ping_round_trip(server)
    arbiter_tally = Tally(server, round_trips, minion_round_trips, pids["minion"])
    baseline_tally = Tally(server, round_trips, baseline.consumer_round_trips, pids["consumer"])
    counted: dict[str, dict[str, Any]] = {"arbiter": {}, "baseline": {}}

    throughput: dict[str, list[float]] = {"baseline": [], "arbiter": []}
    for round_no in range(rounds):
        order = ["baseline", "arbiter"] if round_no % 2 == 0 else ["arbiter", "baseline"]
        for runner in order:
            tally = arbiter_tally if runner == "arbiter" else baseline_tally
            into = counted[runner] if round_no == 0 else {}
            with tally.measure(into):
                if runner == "arbiter":
                    elapsed = arbiter_throughput(arbiter, n)
                else:
                    elapsed = baseline.throughput(n)
            throughput[runner].append(n / elapsed)

    latency: dict[str, list[float]] = {"baseline": [], "arbiter": []}
    done = 0
    while done < samples:
        block = min(LATENCY_BLOCK, samples - done)
        for _ in range(block):
            latency["baseline"].append(baseline.round_trip())
        for _ in range(block):
            latency["arbiter"].append(arbiter_round_trip(arbiter))
        done += block
    # Untimed: the round trips of one sequential apply -> result, idle minion.
    sequential: dict[str, dict[str, Any]] = {"arbiter": {}, "baseline": {}}
    with baseline_tally.measure(sequential["baseline"]):
        for _ in range(COUNTED_ROUND_TRIPS):
            baseline.round_trip()
    with arbiter_tally.measure(sequential["arbiter"]):
        for _ in range(COUNTED_ROUND_TRIPS):
            arbiter_round_trip(arbiter)
    server.close()

    print(
        f"Minion/Arbiter on Redis {version}: {n:,} no-op tasks, 1 minion process x {WORKERS} "
        f"threads, {rounds} throughput round(s), {samples} latency samples; "
        f"Python {sys.version.split()[0]}, redis-py {redis.__version__}"
    )
    print(
        f"this machine: one redis-py PING round trip takes {ping * 1e6:.0f} µs (p50 of "
        f"{PING_SAMPLES:,}); the targets assume about 40 µs"
    )
    header = (
        f"{'measure':<11} {'runner':<9} {'tasks/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'ratio':>6}  target"
    )
    print(header)
    print("-" * len(header))
    verdicts = []
    base_rate = statistics.median(throughput["baseline"])
    for runner in ("baseline", "arbiter"):
        rate = statistics.median(throughput[runner])
        line = f"{'throughput':<11} {runner:<9} {rate:>9,.0f} {'':>8} {'':>8}"
        if runner == "arbiter":
            ok = rate >= THROUGHPUT_TARGET
            verdicts.append(("throughput", ok))
            line += f" {rate / base_rate:>6.2f}  >= {THROUGHPUT_TARGET:,.0f} tasks/s: "
            line += "met" if ok else "NOT met"
        print(line)
    base_p50 = statistics.median(latency["baseline"]) * 1000
    for runner in ("baseline", "arbiter"):
        p50 = statistics.median(latency[runner]) * 1000
        p99 = percentile(latency[runner], 99) * 1000
        line = f"{'latency':<11} {runner:<9} {'':>9} {p50:>8.3f} {p99:>8.3f}"
        if runner == "arbiter":
            ok = p50 <= LATENCY_TARGET_MS
            verdicts.append(("latency", ok))
            line += f" {p50 / base_p50:>6.2f}  p50 <= {LATENCY_TARGET_MS} ms: "
            line += "met" if ok else "NOT met"
        print(line)
    print("-" * len(header))
    print(
        "ratio: throughput = arbiter / baseline tasks/s (median of rounds; "
        f"all rounds: {_rates(throughput)}); latency = arbiter p50 / baseline p50"
    )

    print(f"\nround trips per task (first throughput round of each, {n:,} tasks)")
    print(f"{'runner':<9} {'client':>8} {'worker':>8} {'total':>8}")
    for runner in ("baseline", "arbiter"):
        c = counted[runner]
        print(
            f"{runner:<9} {c['client'] / n:>8.2f} {c['worker'] / n:>8.2f} "
            f"{(c['client'] + c['worker']) / n:>8.2f}"
        )
    print("(client: the Arbiter's / producer's process; worker: the minion's / consumer's)")
    print(f"\nround trips per sequential task ({COUNTED_ROUND_TRIPS} tasks, untimed)")
    print(f"{'runner':<9} {'client':>8} {'worker':>8} {'total':>8}")
    for runner in ("baseline", "arbiter"):
        c = sequential[runner]
        k = COUNTED_ROUND_TRIPS
        print(
            f"{runner:<9} {c['client'] / k:>8.2f} {c['worker'] / k:>8.2f} "
            f"{(c['client'] + c['worker']) / k:>8.2f}"
        )
    print("\nCPU time per task, µs, user + system (of which system) (same rounds)")
    print(f"{'runner':<9} {'client':>11} {'worker':>11} {'redis':>11} {'total':>11}")
    for runner in ("baseline", "arbiter"):
        cpu = counted[runner]["cpu"]
        parts = ("client", "worker", "redis")
        cells = [(cpu[k] / n * 1e6, cpu[f"{k} sys"] / n * 1e6) for k in parts]
        cells.append((sum(c[0] for c in cells), sum(c[1] for c in cells)))
        print(f"{runner:<9} " + " ".join(f"{t:>5.0f} ({s:>3.0f})" for t, s in cells))
    print("\nserver commands per task (INFO commandstats; Lua scripts' own calls included)")
    names = sorted(
        {k for r in counted.values() for k, v in r["commands"].items() if v / n >= 0.005},
        key=lambda k: -counted["arbiter"]["commands"].get(k, 0),
    )
    print(f"{'command':<14} {'baseline':>9} {'arbiter':>9}")
    for name in names:
        row = [counted[r]["commands"].get(name, 0) / n for r in ("baseline", "arbiter")]
        print(f"{name:<14} {row[0]:>9.2f} {row[1]:>9.2f}")

    missed = [name for name, ok in verdicts if not ok]
    print(
        "\nevery task succeeded and every result was read; "
        + (f"target missed: {', '.join(missed)}" if missed else "every target met")
    )
    if options.profile is not None:
        profile(
            options.profile,
            {"minion": pids["minion"], "arbiter": os.getpid()},
            lambda: print(f"\nprofiled run: {n / arbiter_throughput(arbiter, n):,.0f} tasks/s"),
        )
    return 0


def _rates(throughput: dict[str, list[float]]) -> str:
    return "; ".join(
        f"{runner} " + ", ".join(f"{rate:,.0f}" for rate in rates)
        for runner, rates in throughput.items()
    )


if __name__ == "__main__":
    sys.exit(main())
