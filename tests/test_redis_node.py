"""The Redis backend: the conformance suite on fakeredis and on a real server, plus what is
Redis-specific (URLs, the key layout, scripts, pub/sub reconnects, a dead server)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis_server import ExternalRedis, RedisServer, free_port

from arbiter_core.conformance import EventNodeContract, Inbox
from arbiter_core.errors import BrokerConnectionError, ConfigurationError, NodeClosedError
from arbiter_core.node import (
    BROADCAST,
    CROSS_PROCESS,
    PERSISTENT,
    PRIORITY,
    QUEUE,
    STATE,
    Claim,
    Claimed,
    Delivery,
    Quick,
    Record,
    TransitionPush,
)
from arbiter_core.settings import Settings
from arbiter_redis import RedisEventNode, create_node
from arbiter_redis.keys import WAKE_TOKENS_MAX, Keys

AnyServer = RedisServer | ExternalRedis


class CountingScript:
    """Wraps a node's ``LuaScript`` to count its runs, direct or queued on a pipeline."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls = 0

    def __call__(self, **kwargs: Any) -> Any:
        self.calls += 1
        return self.real(**kwargs)

    def queue(self, pipe: Any, **kwargs: Any) -> None:
        self.calls += 1
        self.real.queue(pipe, **kwargs)


class TestFakeRedisContract(EventNodeContract):
    """Fast: every guarantee against fakeredis (with Lua), one FakeServer per test."""

    @pytest.fixture
    def node_factory(self) -> Callable[[], RedisEventNode]:
        server = fakeredis.FakeServer()
        return lambda: RedisEventNode(
            url="redis://fake:6379/0",
            client=fakeredis.FakeRedis(server=server),
            namespace="test",
            max_deliveries=self.max_deliveries,
        )


@pytest.mark.real_broker
class TestRealRedisContract(EventNodeContract):
    """Every guarantee against the throwaway redis-server."""

    @pytest.fixture
    def node_factory(self, redis_url: str, redis_namespace: str) -> Callable[[], RedisEventNode]:
        return lambda: RedisEventNode(
            url=redis_url, namespace=redis_namespace, max_deliveries=self.max_deliveries
        )


@pytest.fixture
def fake_nodes() -> Iterator[Callable[..., RedisEventNode]]:
    """Opens nodes on one FakeServer (namespace ``test`` unless given); closes them after."""
    server = fakeredis.FakeServer()
    opened: list[RedisEventNode] = []

    def open_node(**kwargs: Any) -> RedisEventNode:
        kwargs.setdefault("namespace", "test")
        node = RedisEventNode(client=fakeredis.FakeRedis(server=server), **kwargs)
        opened.append(node)
        return node

    yield open_node
    for node in opened:
        node.close()


@pytest.fixture
def real_nodes(redis_url: str, redis_namespace: str) -> Iterator[Callable[..., RedisEventNode]]:
    opened: list[RedisEventNode] = []

    def open_node(**kwargs: Any) -> RedisEventNode:
        kwargs.setdefault("url", redis_url)
        kwargs.setdefault("namespace", redis_namespace)
        node = RedisEventNode(**kwargs)
        opened.append(node)
        return node

    yield open_node
    for node in opened:
        node.close()


def pool_kwargs(node: RedisEventNode) -> dict[str, Any]:
    return dict(node.client.connection_pool.connection_kwargs)


# --- construction, URLs, the seed API ---------------------------------------------------------


def test_seed_constructor_event_queue_is_the_namespace_and_empty_password_is_none() -> None:
    with RedisEventNode(host="127.0.0.1", port=6390, password="", event_queue="tasks") as node:
        assert node.namespace == "tasks"
        assert node.url == "redis://127.0.0.1:6390/0"
        kwargs = pool_kwargs(node)
        assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("127.0.0.1", 6390, 0)
        assert kwargs["password"] is None
    with RedisEventNode(event_queue="tasks", namespace="app") as node:
        assert node.namespace == "app"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "redis://user:s3cret@cache.example:6380/3",
            {"host": "cache.example", "port": 6380, "db": 3, "username": "user"},
        ),
        ("redis://:s3cret@localhost", {"host": "localhost"}),
        ("rediss://:s3cret@secure.example:6390/1", {"host": "secure.example", "db": 1}),
        ("unix:///run/redis.sock?db=2&password=s3cret", {"path": "/run/redis.sock", "db": 2}),
    ],
)
def test_urls_pass_db_auth_and_tls_through(url: str, expected: dict[str, Any]) -> None:
    with RedisEventNode(url=url) as node:
        kwargs = pool_kwargs(node)
        assert {key: kwargs.get(key) for key in expected} == expected
        assert kwargs["password"] == "s3cret"
        connection_class = node.client.connection_pool.connection_class
        scheme = url.partition(":")[0]
        wanted = {
            "redis": redis.Connection,
            "rediss": redis.SSLConnection,
            "unix": redis.UnixDomainSocketConnection,
        }[scheme]
        assert connection_class is wanted
        assert "s3cret" not in node.url
        assert "s3cret" not in repr(node)
        assert "***" in node.url


def test_url_wins_over_host_and_port() -> None:
    with RedisEventNode(host="ignored", port=1, url="redis://elsewhere:6400/5") as node:
        kwargs = pool_kwargs(node)
        assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("elsewhere", 6400, 5)


def test_seed_password_is_masked() -> None:
    with RedisEventNode(password="hunter2", username="app") as node:
        assert node.url == "redis://app:***@localhost:6379/0"
        assert pool_kwargs(node)["password"] == "hunter2"
        assert "hunter2" not in repr(node)


@pytest.mark.parametrize("url", ["http://localhost", "memory://", "redis:/nohost"])
def test_non_redis_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError):
        RedisEventNode(url=url)


def test_namespace_cannot_break_the_hash_tag() -> None:
    with pytest.raises(ValueError, match="hash tag"):
        RedisEventNode(namespace="a}b")


def test_capabilities() -> None:
    assert RedisEventNode.capabilities == frozenset(
        {BROADCAST, QUEUE, STATE, CROSS_PROCESS, PERSISTENT, PRIORITY}
    )


def test_create_node_takes_namespace_and_max_deliveries_from_settings() -> None:
    settings = Settings(broker_url="redis://:pw@h:1/4", namespace="app", max_deliveries=2)
    with create_node(settings.broker_url, settings) as node:
        assert (node.namespace, node.max_deliveries) == ("app", 2)
        assert pool_kwargs(node)["db"] == 4
        assert node.url == "redis://:***@h:1/4"


def test_public_name_resolves_through_the_plugin() -> None:
    from arbiter import RedisEventNode as from_arbiter

    assert from_arbiter is RedisEventNode
    import arbiter

    with pytest.raises(AttributeError, match="RedisEventNode"):
        _ = arbiter.NoSuchNode  # type: ignore[attr-defined]


def test_package_imports_without_redis_and_using_it_names_the_extra() -> None:
    script = """
import sys
sys.modules["redis"] = None  # as if the [redis] extra were not installed
import arbiter_redis, arbiter_redis.plugin
from arbiter import RedisEventNode, connect
from arbiter_core.errors import ConfigurationError
for attempt in (lambda: RedisEventNode(), lambda: connect("redis://localhost:6379/0")):
    try:
        attempt()
    except ConfigurationError as exc:
        print("refused:", exc)
    else:
        raise SystemExit("no error")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert all("pip install 'arbiter-tasks[redis]'" in line for line in lines)


# --- queues: what only this backend has ------------------------------------------------------


def test_a_retried_push_is_not_duplicated(fake_nodes: Callable[..., RedisEventNode]) -> None:
    node = fake_nodes()
    keys = node.keys.queue("q")
    for _ in range(2):  # what redis-py's retry does when a reply was lost
        node._scripts.push(keys=keys, args=["same-id", b"body", ""])
    assert node.queue_size("q") == 1


def test_a_retried_transition_recognises_its_own_write(
    fake_nodes: Callable[..., RedisEventNode],
) -> None:
    node = fake_nodes()
    args = node._transition_args(Record("queued", b"1"), 10, [None])
    record_key = node.keys.record("k")
    for _ in range(2):  # the same call twice, as redis-py's retry sends it
        assert node._scripts.transition(keys=[record_key], args=args) == [1, b"queued", b"1"]
    push_args = [*node._transition_args(Record("queued", b"2"), 10, [None]), "m", b"x", ""]
    push_keys = [node.keys.record("j"), *node.keys.queue("q")]
    for _ in range(2):
        assert node._scripts.transition_and_push(keys=push_keys, args=push_args) == 1
    assert node.queue_size("q") == 1
    other = node._transition_args(Record("queued", b"3"), 10, [None])
    assert node._scripts.transition(keys=[record_key], args=other)[0] == 0, "a new call is refused"
    claim = Claim("running", ("queued",), 10)
    [delivery] = node.pull_and_claim("q", timeout=1, lease=10, claim=claim)
    assert delivery.claim == Claimed(True)
    assert node.ack(delivery)
    late = node._scripts.transition_and_push(keys=push_keys, args=push_args)
    assert late == 0 and node.queue_size("q") == 0, "after a claim, a late retry is refused"


def test_wake_tokens_are_bounded_and_expire(fake_nodes: Callable[..., RedisEventNode]) -> None:
    node = fake_nodes()
    for i in range(WAKE_TOKENS_MAX + 50):
        node.push("q", str(i).encode())
    wake = node.keys.queue("q").wake
    assert node.client.llen(wake) == WAKE_TOKENS_MAX
    assert node.client.pttl(wake) > 0
    while batch := node.pull("q", timeout=0, lease=10, max_messages=500):
        for delivery in batch:
            node.ack(delivery)
    assert not node.client.exists(wake), "an empty queue has nothing to wake anyone for"


def test_pull_never_sleep_polls(
    fake_nodes: Callable[..., RedisEventNode], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pull blocked for a while runs the pull script only when something can have changed."""
    node = fake_nodes()
    node.push("q", b"later", not_before=time.time() + 0.3)
    pulls = CountingScript(node._scripts.pull)
    monkeypatch.setattr(node._scripts, "pull", pulls)
    [delivery] = node.pull("q", timeout=5, lease=10)
    assert delivery.body == b"later"
    assert pulls.calls <= 3
    pulls.calls = 0
    assert node.pull("q", timeout=0.5, lease=10) == []
    assert pulls.calls <= 2, "an idle pull waits in BLPOP, not in a loop"


def test_combined_operations_are_one_round_trip(
    fake_nodes: Callable[..., RedisEventNode], monkeypatch: pytest.MonkeyPatch
) -> None:
    node = fake_nodes()
    inbox = Inbox()
    node.subscribe("done", inbox)
    commands: list[str] = []
    real_execute = node.client.execute_command

    def counting_execute(*args: Any, **options: Any) -> Any:
        commands.append(str(args[0]))
        return real_execute(*args, **options)

    def apply_and_finish(job: str, counted: bool) -> None:
        """Queue a job and finish it; with ``counted``, check each step is one command."""
        if counted:
            monkeypatch.setattr(node.client, "execute_command", counting_execute)
        assert node.transition_and_push(
            job, Record("queued", b"1"), ttl=10, expect=[None], queue="q", body=job.encode()
        )
        assert commands == (["EVALSHA"] if counted else [])
        monkeypatch.setattr(node.client, "execute_command", real_execute)
        [delivery] = node.pull("q", timeout=0, lease=10)
        if counted:
            monkeypatch.setattr(node.client, "execute_command", counting_execute)
        assert node.transition_and_ack(
            delivery,
            job,
            Record("succeeded", b"42"),
            ttl=10,
            expect=["queued"],
            event="done",
            payload=job.encode(),
        )
        assert commands == (["EVALSHA", "EVALSHA"] if counted else [])
        monkeypatch.setattr(node.client, "execute_command", real_execute)
        assert not node.transition_and_ack(
            delivery, job, Record("failed", b""), ttl=10, expect=["queued"], event="done"
        ), "a final state stays final"

    apply_and_finish("warm-up", counted=False)  # the first call of a script loads it
    apply_and_finish("job", counted=True)
    assert node.get("job") == Record("succeeded", b"42")
    assert node.queue_size("q") == 0
    assert inbox.wait_for(2, 5)
    assert inbox.received == [("done", b"warm-up"), ("done", b"job")]


def test_batch_operations_are_one_round_trip(
    fake_nodes: Callable[..., RedisEventNode], monkeypatch: pytest.MonkeyPatch
) -> None:
    node = fake_nodes()
    commands: list[str] = []
    real_execute = node.client.execute_command

    def counting_execute(*args: Any, **options: Any) -> Any:
        commands.append(str(args[0]))
        return real_execute(*args, **options)

    def items(prefix: str) -> list[TransitionPush]:
        return [
            TransitionPush(f"{prefix}{i}", Record("queued", b""), 10, [None], "q", b"x")
            for i in range(5)
        ]

    assert node.transition_and_push_many(items("warm")) == [True] * 5  # loads the script
    monkeypatch.setattr(node.client, "execute_command", counting_execute)
    assert node.transition_and_push_many(items("job")) == [True] * 5
    assert commands == ["EVALSHA"]


def test_receipts_are_unique_across_nodes_and_pulls(
    fake_nodes: Callable[..., RedisEventNode],
) -> None:
    first, second = fake_nodes(), fake_nodes()
    for i in range(4):
        first.push("q", str(i).encode())
    receipts = []
    for node in (first, second, first, second):
        [delivery] = node.pull("q", timeout=0, lease=10)
        receipts.append(delivery.receipt)
        assert node.nack(delivery)  # the same message again, with a new receipt
    batch = first.pull("q", timeout=0, lease=10, max_messages=4)
    receipts += [delivery.receipt for delivery in batch]
    assert len(batch) == 4
    assert len(set(receipts)) == len(receipts) == 8


def test_transition_and_ack_stores_even_when_the_lease_is_lost(
    fake_nodes: Callable[..., RedisEventNode],
) -> None:
    node, other = fake_nodes(), fake_nodes()
    node.push("q", b"x")
    [old] = node.pull("q", timeout=0, lease=0.05)
    [new] = other.pull("q", timeout=5, lease=10)
    assert node.transition_and_ack(old, "k", Record("succeeded", b""), ttl=10, expect=None)
    assert node.get("k") == Record("succeeded", b"")
    assert other.queue_size("q") == 1, "the stale ack did not remove the new lease"
    assert other.ack(new)


# --- the real server: key hygiene, scripts, pub/sub reconnects, failures ----------------------


@pytest.mark.real_broker
def test_every_key_carries_the_hash_tag_and_expires_or_goes_with_its_messages(
    real_nodes: Callable[..., RedisEventNode], redis_namespace: str
) -> None:
    node = real_nodes(max_deliveries=2)
    inbox = Inbox()
    node.subscribe("e", inbox)
    for queue in ("a", "b"):
        for i in range(20):
            node.push(queue, str(i).encode(), not_before=time.time() + 0.05 if i % 2 else None)
    node.push("poison", b"dies")
    for _ in range(2):
        [delivery] = node.pull("poison", timeout=5, lease=10)
        node.nack(delivery)
    for queue in ("a", "b"):
        while batch := node.pull(queue, timeout=0.3, lease=10, max_messages=7):
            for delivery in batch:
                node.transition_and_ack(
                    delivery,
                    f"task:{delivery.message_id}",
                    Record("succeeded", b""),
                    ttl=60,
                    expect=None,
                    event="e",
                    payload=b"",
                )
    node.transition("k", Record("queued", b""), ttl=60)
    node.heartbeat("w1", b"", 30)
    node.heartbeat("w2", b"", 30)
    node.remove_worker("w2")
    assert node.dead_letters("poison")[0].reason == "delivered 2 times without an ack"
    client = node.client
    names = sorted(name.decode() for name in client.scan_iter(match=f"*{redis_namespace}*"))
    assert names, "the workload left records"
    tag = f"{{{redis_namespace}}}:"
    assert all(name.startswith(tag) for name in names), names
    keys = Keys(redis_namespace)
    queue_keys = {k for q in ("a", "b", "poison") for k in keys.queue(q)}
    leftovers = [
        name for name in names if name in queue_keys and name not in (keys.queue("poison").dead,)
    ]
    assert leftovers == [], "a drained queue keeps only its dead letters"
    for name in names:
        assert client.pttl(name) > 0, f"{name} never expires"


@pytest.mark.real_broker
def test_scripts_are_reloaded_after_script_flush(
    real_nodes: Callable[..., RedisEventNode],
) -> None:
    node = real_nodes()
    node.push("q", b"before")
    node.client.script_flush()
    node.push("q", b"after")
    bodies = [d.body for d in node.pull("q", timeout=1, lease=10, max_messages=2)]
    assert bodies == [b"before", b"after"]


@pytest.mark.real_broker
def test_a_subscriber_resubscribes_after_its_connection_is_killed(
    real_nodes: Callable[..., RedisEventNode],
) -> None:
    listener, emitter = real_nodes(), real_nodes()
    inbox = Inbox()
    listener.subscribe("e", inbox)
    emitter.emit("e", b"before")
    assert inbox.wait_for(1, 5)
    assert emitter.client.client_kill_filter(_type="pubsub") >= 1
    deadline = time.monotonic() + 10
    while not inbox.wait_for(2, 0.1):  # events sent while it reconnects are lost (at most once)
        assert time.monotonic() < deadline, "the subscriber never came back"
        emitter.emit("e", b"after")
    assert inbox.payloads[-1] == b"after"


@pytest.mark.real_broker
def test_unix_socket_url(redis_server: AnyServer, redis_namespace: str) -> None:
    if not isinstance(redis_server, RedisServer):
        pytest.skip("needs the throwaway server's unix socket")
    with RedisEventNode(url=redis_server.unix_url + "?db=2", namespace=redis_namespace) as node:
        node.push("q", b"over a unix socket")
        [delivery] = node.pull("q", timeout=1, lease=10)
        assert node.ack(delivery)
        assert node.client.connection_pool.connection_kwargs["db"] == 2


def test_a_dead_server_raises_broker_connection_error_instead_of_hanging() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with RedisEventNode(url=url, namespace="n") as node:
        started = time.monotonic()
        with pytest.raises(BrokerConnectionError, match=r"127\.0\.0\.1"):
            node.push("q", b"x")
        assert time.monotonic() - started < 10, "the default retries take about five seconds"
    # Every kind of call fails the same way (no retries here, to keep the test short).
    no_retry = Retry(NoBackoff(), 0)
    with RedisEventNode(url=url, namespace="n", retry=no_retry, retry_on_error=[]) as node:
        calls: list[Callable[[], object]] = [
            lambda: node.pull("q", timeout=None, lease=10),
            lambda: node.get("k"),
            lambda: node.subscribe("e", Inbox()),
            lambda: node.emit("e", b""),
            node.live_workers,
        ]
        for call in calls:
            with pytest.raises(BrokerConnectionError, match=r"127\.0\.0\.1"):
                call()
    with pytest.raises(NodeClosedError):
        node.push("q", b"x")


@pytest.mark.real_broker
def test_messages_records_and_subscriptions_survive_a_server_restart(
    redis_server: AnyServer, real_nodes: Callable[..., RedisEventNode]
) -> None:
    if not redis_server.can_restart:
        pytest.skip("the server is not ours to restart")
    node, emitter = real_nodes(), real_nodes()
    node.push("q", b"durable")
    node.transition("k", Record("queued", b"kept"), ttl=60)
    inbox = Inbox()
    node.subscribe("e", inbox)
    redis_server.restart()
    assert node.get("k") == Record("queued", b"kept")
    [delivery] = node.pull("q", timeout=5, lease=10)  # script cache is empty: reloaded
    assert delivery.body == b"durable"
    assert node.ack(delivery)
    deadline = time.monotonic() + 15
    while not inbox.wait_for(1, 0.2):
        assert time.monotonic() < deadline, "the subscription did not come back"
        emitter.emit("e", b"after restart")


def test_close_wakes_every_blocked_pull_of_the_node(
    fake_nodes: Callable[..., RedisEventNode],
) -> None:
    node = fake_nodes()
    results: list[list[Any]] = []
    threads = [
        threading.Thread(target=lambda q=q: results.append(node.pull(q, timeout=None, lease=1)))
        for q in ("a", "b", "a")
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.2)  # let them block
    started = time.monotonic()
    node.close()
    for thread in threads:
        thread.join(5)
    assert results == [[], [], []]
    assert time.monotonic() - started < 1
    assert not node.client.exists(node.keys.node_wake(node._node_id))


def test_separate_namespaces_do_not_see_each_other(
    fake_nodes: Callable[..., RedisEventNode],
) -> None:
    a, b = fake_nodes(namespace="a"), fake_nodes(namespace=f"b-{uuid.uuid4().hex}")
    a.push("q", b"x")
    a.transition("k", Record("queued", b""), ttl=10)
    a.heartbeat("w", b"", 10)
    assert b.queue_size("q") == 0
    assert b.get("k") is None
    assert b.live_workers() == {}


def test_a_push_wakes_exactly_one_blocked_consumer(
    fake_nodes: Callable[..., RedisEventNode], monkeypatch: pytest.MonkeyPatch
) -> None:
    consumers = [fake_nodes(), fake_nodes()]
    producer = fake_nodes()
    pulls = [CountingScript(node._scripts.pull) for node in consumers]
    for node, counting in zip(consumers, pulls, strict=True):
        monkeypatch.setattr(node._scripts, "pull", counting)
    got: list[bytes] = []
    threads = [
        threading.Thread(
            target=lambda n=n: got.extend(d.body for d in n.pull("q", timeout=None, lease=10))
        )
        for n in consumers
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.2)  # both blocked in BLPOP
    # each: one pull that found nothing, then BLPOP with the pull script pipelined behind it
    assert [p.calls for p in pulls] == [2, 2]
    producer.push("q", b"one")
    deadline = time.monotonic() + 5
    while not got:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.3)  # a second wake-up would show by now
    assert got == [b"one"]
    assert [p.calls for p in pulls] == [2, 2], "the other consumer was not woken"
    for node in consumers:
        node.close()
    for thread in threads:
        thread.join(5)


def test_callbacks_may_subscribe_and_close(fake_nodes: Callable[..., RedisEventNode]) -> None:
    node = fake_nodes()
    inbox, closed = Inbox(), threading.Event()

    def subscribe_more(event: str, payload: bytes) -> None:
        node.subscribe("second", inbox)  # from the dispatcher thread: must not deadlock
        node.emit("second", b"from a callback")

    def close_me(event: str, payload: bytes) -> None:
        node.close()
        closed.set()

    node.subscribe("first", subscribe_more)
    node.emit("first", b"")
    assert inbox.wait_for(1, 5)
    node.subscribe("third", close_me)
    node.emit("third", b"")
    assert closed.wait(5)
    with pytest.raises(NodeClosedError):
        node.emit("first", b"")


@pytest.mark.real_broker
def test_closing_a_node_whose_server_died_is_prompt(tmp_path: Any) -> None:
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.skip("needs redis-server on PATH to stop one")
    server = RedisServer(executable, tmp_path)
    server.start()
    try:
        node = RedisEventNode(url=server.url, namespace="n")
        node.subscribe("e", Inbox())
        pulled: list[object] = []
        thread = threading.Thread(
            target=lambda: pulled.append(node.pull("q", timeout=None, lease=10))
        )
        thread.start()
        time.sleep(0.2)
    finally:
        server.stop()
    started = time.monotonic()
    node.close()
    assert time.monotonic() - started < 3, "close() waited out the retries"
    thread.join(15)
    assert not thread.is_alive()


def test_a_silent_pubsub_connection_is_pinged_then_replaced(
    fake_nodes: Callable[..., RedisEventNode],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import arbiter_redis.connection

    monkeypatch.setattr(arbiter_redis.connection, "HEALTH_CHECK_INTERVAL", 0.1)
    answered, deaf = (
        fake_nodes(url="redis://answered:6379/0"),
        fake_nodes(url="redis://deaf:6379/0"),
    )
    real_pubsub = deaf.client.pubsub

    def deaf_pubsub(**kwargs: Any) -> Any:
        pubsub = real_pubsub(**kwargs)
        pubsub.ping = lambda *args: None  # the PING is lost: a half-open connection
        return pubsub

    monkeypatch.setattr(deaf.client, "pubsub", deaf_pubsub)
    inboxes = Inbox(), Inbox()
    answered.subscribe("e", inboxes[0])
    deaf.subscribe("e", inboxes[1])
    time.sleep(0.6)  # idle: pings go out, one is never answered
    answered.emit("e", b"still there")
    for inbox in inboxes:
        assert inbox.wait_for(1, 5), "both listen again"
    lost = [r.getMessage() for r in caplog.records if "lost the pub/sub" in r.getMessage()]
    assert lost, "the deaf connection was replaced"
    assert all("deaf" in m and "no answer to a PING" in m for m in lost), lost


def test_an_unclosed_node_lets_its_threads_end_when_collected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gc

    import arbiter_redis.connection

    monkeypatch.setattr(arbiter_redis.connection, "HEALTH_CHECK_INTERVAL", 0.1)
    node = RedisEventNode(client=fakeredis.FakeRedis(server=fakeredis.FakeServer()))
    node.subscribe("e", Inbox())
    prefix = f"arbiter-redis-{node._node_id[:8]}"
    threads = [t for t in threading.enumerate() if t.name.startswith(prefix)]
    assert len(threads) == 2
    del node  # never closed
    gc.collect()
    for thread in threads:
        thread.join(5)
        assert not thread.is_alive()


def test_redis_claims_with_the_lease(fake_nodes: Callable[..., RedisEventNode]) -> None:
    """The contract lets a backend leave claims to the caller; this one must not."""
    node = fake_nodes()
    node.transition_and_push(
        "task", Record("queued", b"q"), ttl=10, expect=[None], queue="q", body=b"job"
    )
    claim = Claim("running", ("queued",), 10)
    [delivery] = node.pull_and_claim("q", timeout=1, lease=10, claim=claim)
    assert delivery.claim == Claimed(True)
    assert node.get("task") == Record("running", b"q")
    assert node.nack(delivery)
    [again] = node.pull_and_claim("q", timeout=1, lease=10, claim=claim)
    assert again.claim == Claimed(False, Record("running", b"q")), "the binding survives a nack"


def test_quick_callbacks_run_on_the_reader(fake_nodes: Callable[..., RedisEventNode]) -> None:
    node = fake_nodes()
    threads: dict[str, str] = {}
    done = threading.Event()

    def quick(event: str, payload: bytes) -> None:
        threads["quick"] = threading.current_thread().name
        raise RuntimeError("a failing quick callback is logged; the reader goes on")

    def plain(event: str, payload: bytes) -> None:
        threads["plain"] = threading.current_thread().name
        done.set()

    node.subscribe("e", Quick(quick))
    node.subscribe("e", plain)
    node.emit("e", b"1")
    assert done.wait(5)
    assert threads["quick"].endswith("-listener") and threads["plain"].endswith("-events")
    inbox = Inbox()
    node.subscribe("after", Quick(inbox))
    node.emit("after", b"2")
    assert inbox.wait_for(1, 5), "the reader survived the failing callback"


def test_a_pull_after_an_empty_combined_call_goes_straight_to_waiting(
    fake_nodes: Callable[..., RedisEventNode], monkeypatch: pytest.MonkeyPatch
) -> None:
    node = fake_nodes()
    for body in (b"one", b"two"):
        node.push("q", body)
    [first] = node.pull("q", timeout=1, lease=10)
    [second] = node.pull("q", timeout=1, lease=10)
    pulls = CountingScript(node._scripts.pull)
    monkeypatch.setattr(node._scripts, "pull", pulls)

    def finish(delivery: Delivery) -> None:
        written, taken = node.transition_ack_and_pull(
            delivery, delivery.body.decode(), Record("succeeded", b""), ttl=10, expect=None,
            lease=10,
        )  # fmt: skip
        assert written and taken == []

    finish(first)
    node.push("q", b"meanwhile")
    [got] = node.pull("q", timeout=5, lease=10)
    assert got.body == b"meanwhile", "a push after the empty call ends the wait at once"
    assert pulls.calls == 1, "no pull script before the BLPOP, one after it"
    node.push("q", b"soon", not_before=time.time() + 0.3)
    finish(second)
    started = time.monotonic()
    [soon] = node.pull("q", timeout=5, lease=10)
    assert soon.body == b"soon"
    assert time.monotonic() - started < 2, "the wait to the delayed message was carried over"
