"""The Redis backend under an ACL user confined to its namespace (issue 17, item 4).

A throwaway ``redis-server`` of this module's own gets users made with ``ACL SETUSER``:
the recipe of docs/security.md (``~{ns}:* &{ns}:* +@all -@dangerous``) and its minimal
command list. A Minion and an Arbiter do everything an application does under each
(apply, wait, status, unique keys, delays, periodic ticks, workers, queues, dead
letters, broadcast and kill); the same user gets NOPERM, as a BrokerError that says what
the node needs, for another namespace's keys and channels, and for a command the ACL
leaves out. The throwaway server is on loopback and is shut down at the end.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis_server import RedisServer, private_server
from support import wait_until

from arbiter import Arbiter, Minion, connect
from arbiter_core.errors import BrokerError
from arbiter_core.node import EventNode
from arbiter_redis import RedisEventNode

pytestmark = pytest.mark.real_broker

NAMESPACE = "acl-app"
OTHER = "acl-other"
PASSWORD = "acl-test-password"
LEASE = 1.0

BROAD = "+@all -@dangerous"
"""The recipe's command rule: everything but the commands Redis marks dangerous."""
NODE_COMMANDS = (
    "hello ping time evalsha script|load hmget del lpush pexpire blpop xrange xlen "
    "multi exec scan publish subscribe unsubscribe"
)
"""What the node sends itself: HELLO (redis-py's handshake), PING (health checks, the
due waker), TIME (the server clock), SCRIPT LOAD and EVALSHA, reads of records and dead
letters, its wake lists, a transaction (purging dead letters), SCAN (listing queues)
and pub/sub."""
SCRIPT_COMMANDS = (
    "hget hset hsetnx hdel hexists exists llen rpush rpop ltrim zadd zrem zcard "
    "zscore zrange zrevrange zrangebyscore xadd xdel pexpireat"
)
"""What the Lua scripts call beyond NODE_COMMANDS: Redis checks a script's commands
against the user's command rules as well as its key patterns."""
MINIMAL = "-@all " + " ".join(f"+{name}" for name in f"{NODE_COMMANDS} {SCRIPT_COMMANDS}".split())
"""The recipe's minimal command rule (docs/security.md shows it as it is built here)."""


def acl_rule(namespace: str, commands: str) -> list[str]:
    """``ACL SETUSER <user>`` arguments confining a user to ``namespace``."""
    return [
        "on",
        f">{PASSWORD}",
        "resetkeys",
        f"~{{{namespace}}}:*",
        "resetchannels",
        f"&{{{namespace}}}:*",
        *commands.split(),
    ]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with private_server(tmp_path_factory.mktemp("acl") / "redis", "the ACL tests") as started:
        admin = redis.Redis.from_url(started.url)
        try:
            admin.execute_command("ACL", "SETUSER", "broad", *acl_rule(NAMESPACE, BROAD))
            admin.execute_command("ACL", "SETUSER", "minimal", *acl_rule(NAMESPACE, MINIMAL))
            no_scripts = MINIMAL.replace("+evalsha ", "")
            admin.execute_command("ACL", "SETUSER", "noscripts", *acl_rule(NAMESPACE, no_scripts))
        finally:
            admin.close()
        yield started


def user_url(server: RedisServer, user: str) -> str:
    return f"redis://{user}:{PASSWORD}@127.0.0.1:{server.port}/0"


@pytest.fixture
def admin(server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(server.url)
    yield client
    client.flushall()  # the module's server only: each test starts empty
    client.close()


def run_minion(app: Minion) -> threading.Thread:
    thread = threading.Thread(
        target=app.run, kwargs={"workers": 2, "handle_signals": False}, daemon=True
    )
    thread.start()
    return thread


@pytest.mark.parametrize("user", ["broad", "minimal"])
def test_a_minion_and_an_arbiter_do_everything_under_a_namespace_user(
    server: RedisServer, admin: redis.Redis, user: str
) -> None:
    url = user_url(server, user)
    nodes: list[EventNode] = [connect(url, namespace=NAMESPACE, lease=LEASE) for _ in range(3)]
    app = Minion(nodes[0], queue="default", lease=LEASE)
    started, release = threading.Event(), threading.Event()
    ticks = threading.Semaphore(0)

    @app.task(name="add")
    def add(a: int, b: int) -> int:
        return a + b

    @app.task(name="hang")
    def hang() -> None:
        started.set()
        release.wait(10)

    @app.periodic(every=1, name="tick")
    def tick() -> None:
        ticks.release()

    arbiter = Arbiter(nodes[1], lease=LEASE)
    thread = run_minion(app)
    try:
        [added] = arbiter.apply("add", task_args=[1, 2])
        [status] = arbiter.wait_for_tasks([added], timeout=10)
        assert (status["state"], status["result"]) == ("succeeded", 3)
        assert arbiter.status(added)["result"] == 3

        [later] = arbiter.apply("add", task_args=[2, 2], countdown=0.2)  # the delayed set
        [unique] = arbiter.apply("add", task_args=[3, 3], unique_key="once")
        [urgent] = arbiter.apply("add", task_args=[4, 4], priority=5)  # the level keys
        waited = arbiter.wait_for_tasks([later, unique, urgent], timeout=10)
        finished = {s["id"]: s["result"] for s in waited}
        assert finished == {later: 4, unique: 6, urgent: 8}
        assert ticks.acquire(timeout=10), "the periodic task never fired"

        assert wait_until(lambda: arbiter.workers().get("default", {}).get("workers") == 1)
        assert [w.queue for w in arbiter.worker_list()] == ["default"]
        assert "default" in arbiter.known_queues()
        assert arbiter.queues()["default"].consumers == 1
        assert arbiter.ping().server["server"] == "redis 7.0.15"  # HELLO, when INFO is refused

        [hung] = arbiter.apply("hang")  # kill travels by broadcast
        assert started.wait(10)
        assert arbiter.kill(hung)
        [killed] = arbiter.wait_for_tasks([hung], timeout=10)
        assert killed["state"] == "cancelled"

        heard = threading.Event()
        nodes[2].subscribe("hello", lambda event, payload: heard.set())
        nodes[1].emit("hello", b"")
        assert heard.wait(10)

        nodes[1].push("default", b"not a frame")
        assert wait_until(lambda: len(arbiter.dead_letters()) == 1)
        [letter] = arbiter.dead_letters()
        assert "bad magic bytes" in letter.reason
        assert arbiter.dead_letter(letter.message_id) is not None
        assert arbiter.purge_dead_letters() == 1
        assert arbiter.purge("default") == 0
    finally:
        release.set()
        app.stop()
        thread.join(30)
        arbiter.close()
        for node in nodes:
            node.close()
    assert not thread.is_alive()
    names = {name.decode() for name in admin.scan_iter(match="*", count=1000)}
    assert names and all(name.startswith(f"{{{NAMESPACE}}}:") for name in names), names


def test_the_same_user_gets_noperm_for_another_namespace(
    server: RedisServer, admin: redis.Redis
) -> None:
    admin.hset(f"{{{OTHER}}}:r:task:secret", mapping={"state": "succeeded", "data": "x"})
    url = user_url(server, "broad")
    raw = redis.Redis.from_url(url)
    other = RedisEventNode(url=url, namespace=OTHER, broker_timeout=1)
    try:
        with pytest.raises(redis.exceptions.NoPermissionError):
            raw.hgetall(f"{{{OTHER}}}:r:task:secret")
        with pytest.raises(BrokerError) as refused:
            other.get("task:secret")
        message = str(refused.value)
        assert "refused get (NOPERM)" in message
        assert f"~{{{OTHER}}}:* &{{{OTHER}}}:*" in message  # what the user needs instead
        assert "redis://broad:***@" in message  # the password stays masked
        with pytest.raises(BrokerError, match="NOPERM"):
            Arbiter(other).status("secret")
        with pytest.raises(BrokerError, match="refused push"):
            other.push("default", b"x")
        with pytest.raises(BrokerError, match=r"refused emit.*channels"):
            other.emit("event", b"x")
    finally:
        other.close()
        raw.close()
    assert admin.hgetall(f"{{{OTHER}}}:r:task:secret")[b"state"] == b"succeeded"


def test_a_subscription_the_acl_refuses_is_an_error_and_the_listener_survives(
    server: RedisServer, admin: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """The control channel is refused too, so the reader thread's SUBSCRIBE fails: it
    logs what the ACL lacks and retries, instead of dying with a traceback."""
    crashed: list[BaseException | None] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: crashed.append(args.exc_value)
    other = RedisEventNode(url=user_url(server, "broad"), namespace=OTHER, broker_timeout=1)
    try:
        with caplog.at_level(logging.ERROR, logger="arbiter.redis"):
            with pytest.raises(BrokerError, match=r"refused subscribe.*NOPERM"):
                other.subscribe("event", lambda event, payload: None)
            assert wait_until(lambda: "refused the pub/sub subscriptions" in caplog.text, 5)
        assert f"~{{{OTHER}}}:* &{{{OTHER}}}:*" in caplog.text
    finally:
        other.close()
        threading.excepthook = previous
    assert crashed == []


def test_a_command_the_acl_leaves_out_is_named(server: RedisServer, admin: redis.Redis) -> None:
    node = RedisEventNode(url=user_url(server, "noscripts"), namespace=NAMESPACE)
    try:
        with pytest.raises(BrokerError) as refused:
            node.push("default", b"x")
    finally:
        node.close()
    message = str(refused.value)
    assert "refused push (NOPERM)" in message
    assert "'evalsha' command" in message
    assert "docs/security.md" in message


def test_the_minimal_command_list_is_the_documented_one() -> None:
    text = (Path(__file__).parent.parent / "docs" / "security.md").read_text(encoding="utf-8")
    assert f"~{{{NAMESPACE}}}:*" not in text  # the docs use their own namespace, "shop"
    assert f"resetchannels &{{shop}}:* {MINIMAL}" in text
    assert f"resetchannels &{{shop}}:* {BROAD}" in text


def test_the_minimal_list_has_every_command_the_scripts_call(admin: redis.Redis) -> None:
    """A script that starts calling a new command must add it to the recipe: every
    upper-case string in the scripts that the server knows as a command is listed."""
    scripts = Path(__file__).parent.parent / "arbiter_redis" / "scripts"
    words = set()
    for script in scripts.glob("*.lua"):
        words |= set(re.findall(r"'([A-Z]+)'", script.read_text(encoding="utf-8")))
    known = {name.decode() for name in admin.command_list()}
    called = {word.lower() for word in words} & known
    allowed = set(f"{NODE_COMMANDS} {SCRIPT_COMMANDS}".split())
    assert "time" in called
    assert called - allowed == set(), "add these to SCRIPT_COMMANDS and docs/security.md"


def test_scan_shows_other_namespaces_key_names_but_nothing_more(
    server: RedisServer, admin: redis.Redis
) -> None:
    """What docs/security.md warns about: Redis's ACLs do not filter SCAN."""
    admin.hset(f"{{{OTHER}}}:q:payroll:body", "id", "secret body")
    raw = redis.Redis.from_url(user_url(server, "broad"))
    try:
        names = {name.decode() for name in raw.scan_iter(match="*")}
        assert f"{{{OTHER}}}:q:payroll:body" in names
        with pytest.raises(redis.exceptions.NoPermissionError):
            raw.hgetall(f"{{{OTHER}}}:q:payroll:body")
    finally:
        raw.close()
