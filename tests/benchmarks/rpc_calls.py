"""Sequential RPC calls per second, beside a bare round trip to the same broker.

A script, not a test (pytest does not collect it)::

    .venv/bin/python tests/benchmarks/rpc_calls.py [--broker redis://127.0.0.1:6379/0]
        [--calls 2000] [--rounds 5]

One minion (one task slot, the default RPC threads) serves ``add``; one Arbiter calls
``arbiter.rpc("add", i, 1)`` one call after another, in a namespace of its own. On a
Redis URL the baseline is a bare redis-py ``SET`` loop on the same server, timed in
alternating rounds with the calls so both see the same machine load; the table shows
the medians and how many bare round trips one call costs. A call is three round trips
at least (the request's PUBLISH, the claim's compare-and-set, the reply's PUBLISH) plus
the thread hops between the node's event threads, the RPC pool and the caller.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid
from collections.abc import Callable

from arbiter import Arbiter, Minion
from arbiter_core.connect import connect


def rate(loop: Callable[[int], None], calls: int) -> float:
    started = time.perf_counter()
    loop(calls)
    return calls / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default="memory://rpc-bench")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    namespace = f"rpcbench{uuid.uuid4().hex[:8]}"
    app = Minion(connect(options.broker, namespace=namespace))

    @app.rpc(name="add")
    def add(x: int, y: int) -> int:
        return x + y

    thread = threading.Thread(
        target=app.run, kwargs={"workers": 1, "handle_signals": False}, daemon=True
    )
    thread.start()
    while app._run is None or not app._run.rpc.serving.is_set():
        time.sleep(0.01)
    arbiter = Arbiter(connect(options.broker, namespace=namespace))

    def calls(n: int) -> None:
        for i in range(n):
            assert arbiter.rpc("add", i, 1) == i + 1

    baseline: Callable[[int], None] | None = None
    if options.broker.startswith(("redis://", "rediss://", "unix://")):
        import redis

        client = redis.Redis.from_url(options.broker)
        key = f"{namespace}:baseline"

        def baseline(n: int) -> None:
            for i in range(n):
                client.set(key, i)

    calls(100)  # warm up: subscriptions, scripts loaded
    rpc_rates, bare_rates = [], []
    for _ in range(options.rounds):
        rpc_rates.append(rate(calls, options.calls))
        if baseline is not None:
            bare_rates.append(rate(baseline, options.calls))
    rpc = statistics.median(rpc_rates)
    print(f"{'broker':<32} {'rpc calls/s':>12} {'bare RTT/s':>12} {'RTTs per call':>14}")
    if bare_rates:
        bare = statistics.median(bare_rates)
        print(f"{options.broker:<32} {rpc:>12.0f} {bare:>12.0f} {bare / rpc:>14.1f}")
        client.delete(key)
    else:
        print(f"{options.broker:<32} {rpc:>12.0f} {'-':>12} {'-':>14}")
    app.stop()
    thread.join(10)
    arbiter.close()
    arbiter.node.close()
    app.node.close()


if __name__ == "__main__":
    main()
