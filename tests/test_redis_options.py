"""RedisEventNode's keyword arguments: an allow-list, carrier-io/arbiter's options mapped,
everything else refused by name when the node is built (which never connects)."""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from arbiter_core.client import Arbiter
from arbiter_core.connect import connect
from arbiter_core.errors import BrokerError, ConfigurationError
from arbiter_core.minion import Minion
from arbiter_redis import RedisEventNode
from arbiter_redis.options import POOL_OPTIONS, UPSTREAM_OPTIONS
from tests.distributed.conftest import running
from tests.redis_server import free_port

WAIT = 20.0


@pytest.fixture
def listening() -> Iterator[socket.socket]:
    """A port that accepts connections, to tell whether building a node opened one."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.settimeout(0.3)
        yield server


def port_of(server: socket.socket) -> int:
    return int(server.getsockname()[1])


def as_kwargs(options: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of any type (some tests pass ones no annotation allows)."""
    return options


def pool_kwargs(node: RedisEventNode) -> dict[str, Any]:
    return dict(node.client.connection_pool.connection_kwargs)


# --- unknown names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("sokcet_timeout", "socket_timeout"),
        ("use_sssl", "use_ssl"),
        ("hmac_kye", "hmac_key"),
        ("event_queu", "event_queue"),
        ("socket_conect_timeout", "socket_connect_timeout"),
        ("ssl_ca_cert", "ssl_ca_certs"),
    ],
)
def test_an_unknown_keyword_is_refused_with_the_closest_known_one(typo: str, meant: str) -> None:
    with pytest.raises(TypeError, match=rf"'{typo}' \(did you mean {meant}\?\)"):
        RedisEventNode(**as_kwargs({typo: 1}))


def test_every_unknown_keyword_is_named_and_the_pass_through_list_shown() -> None:
    with pytest.raises(TypeError) as caught:
        RedisEventNode(bogus=1, hmac_kye="x")
    message = str(caught.value)
    assert "unexpected keyword arguments 'bogus', 'hmac_kye' (did you mean hmac_key?)" in message
    assert "socket_connect_timeout" in message  # the allow-list is listed


@pytest.mark.parametrize(
    ("name", "advice"),
    [
        ("decode_responses", "bytes"),
        ("protocol", "RESP2"),
        ("connection_pool", "client="),
        ("unix_socket_path", "unix://"),
    ],
)
def test_redis_options_that_would_break_the_node_are_refused_with_advice(
    name: str, advice: str
) -> None:
    with pytest.raises(TypeError, match=rf"does not take {name}=: .*{advice}"):
        RedisEventNode(**as_kwargs({name: True}))


def test_the_allow_list_passes_through() -> None:
    retry = Retry(NoBackoff(), 1)
    with RedisEventNode(
        socket_connect_timeout=1.5,
        health_check_interval=7,
        retry=retry,
        retry_on_error=[],
        max_connections=9,
        client_name="shop",
        socket_keepalive=False,
    ) as node:
        kwargs = pool_kwargs(node)
        assert kwargs["socket_connect_timeout"] == 1.5
        assert kwargs["health_check_interval"] == 7
        assert kwargs["client_name"] == "shop"
        assert kwargs["socket_keepalive"] is False
        assert node.client.connection_pool.max_connections == 9


def test_tls_options_need_tls_and_tcp_options_need_tcp() -> None:
    with pytest.raises(ConfigurationError, match=r"ssl_ca_certs= needs TLS.*rediss://"):
        RedisEventNode(ssl_ca_certs="/etc/ca.pem")
    with pytest.raises(ConfigurationError, match="needs TLS"):
        RedisEventNode(url="redis://localhost/0", ssl_check_hostname=False)
    with pytest.raises(ConfigurationError, match="socket_keepalive= is for TCP"):
        RedisEventNode(url="unix:///run/redis.sock", socket_keepalive=True)
    with RedisEventNode(url="rediss://localhost/0", ssl_ca_certs="/etc/ca.pem") as node:
        assert pool_kwargs(node)["ssl_ca_certs"] == "/etc/ca.pem"


def test_client_takes_no_connection_options() -> None:
    import fakeredis

    with pytest.raises(TypeError, match="unexpected arguments with client=: max_connections"):
        RedisEventNode(client=fakeredis.FakeRedis(), max_connections=3)
    with pytest.raises(TypeError, match="with client=: ssl/use_ssl"):
        RedisEventNode(client=fakeredis.FakeRedis(), use_ssl=True)
    with RedisEventNode(client=fakeredis.FakeRedis(), hmac_key="k") as node:  # not a connection
        assert node.signing_secret == "k"


# --- URL query parameters --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("bogus=1", r"unknown query parameter 'bogus'; a Redis URL may set .*socket_timeout"),
        ("socket_timout=3", r"'socket_timout' \(did you mean socket_timeout\?\)"),
        ("decode_responses=1", r"'decode_responses' is not supported: .*bytes"),
        ("ssl_ca_certs=/ca.pem", r"ssl_ca_certs needs TLS; write rediss://"),
        ("socket_timeout=soon", r"socket_timeout='soon' is not a number"),
    ],
)
def test_connect_refuses_a_bad_url_query_parameter_by_name(query: str, expected: str) -> None:
    with pytest.raises(ConfigurationError, match=expected):
        connect(f"redis://127.0.0.1:{free_port()}/0?{query}")


def test_a_url_query_password_is_masked_in_the_refusal() -> None:
    with pytest.raises(ConfigurationError) as caught:
        RedisEventNode(url="redis://localhost/0?password=s3cret&bogus=1")
    assert "s3cret" not in str(caught.value)
    assert "'bogus'" in str(caught.value)


def test_the_url_socket_timeout_is_the_nodes() -> None:
    with RedisEventNode(url="redis://localhost/0?socket_timeout=4&client_name=x") as node:
        assert pool_kwargs(node)["socket_timeout"] == 4.0
        assert pool_kwargs(node)["client_name"] == "x"
        assert node._block_slice == 2.0  # half the URL's timeout, not the default's


# --- carrier-io/arbiter's options --------------------------------------------------------------


UPSTREAM_DEFAULTS: dict[str, Any] = {
    "hmac_key": None,
    "hmac_digest": "sha512",
    "callback_workers": 1,
    "mute_first_failed_connections": 0,
    "use_ssl": False,
    "ssl_verify": False,
    "log_errors": True,
    "use_managed_identity": False,
}
"""Upstream's defaults (its clone_config), less retry_interval, which is always refused."""


def test_upstream_options_at_their_defaults_are_accepted() -> None:
    assert set(UPSTREAM_DEFAULTS) | {"retry_interval"} == UPSTREAM_OPTIONS
    with RedisEventNode("localhost", 6379, "", "events", **UPSTREAM_DEFAULTS) as node:
        assert node.namespace == "events"
        assert node.url == "redis://localhost:6379/0"
        assert node.signing_secret is None
        assert node.client.connection_pool.connection_class is redis.Connection


@pytest.mark.parametrize(
    ("option", "value", "advice"),
    [
        ("callback_workers", 4, "one at a time on its listener thread"),
        ("log_errors", False, r"getLogger\('arbiter'\)"),
        ("mute_first_failed_connections", 3, "never connects"),
        ("use_managed_identity", True, "credential_provider="),
        ("retry_interval", 3.0, r"retry=redis\.retry\.Retry"),
    ],
)
def test_upstream_options_without_a_meaning_here_are_refused_with_what_to_do(
    option: str, value: object, advice: str
) -> None:
    with pytest.raises(ConfigurationError, match=rf"{option}=.*carrier-io.*{advice}"):
        RedisEventNode(**as_kwargs({option: value}))


def test_use_ssl_is_tls_and_ssl_verify_maps_to_certificate_checks() -> None:
    with RedisEventNode(host="cache.example", use_ssl=True) as node:
        assert node.url == "rediss://cache.example:6379/0"
        assert node.client.connection_pool.connection_class is redis.SSLConnection
        assert "ssl_cert_reqs" not in pool_kwargs(node)  # redis-py's default: verify
    with RedisEventNode(use_ssl=True, ssl_verify=False) as node:
        assert (pool_kwargs(node)["ssl_cert_reqs"], pool_kwargs(node)["ssl_check_hostname"]) == (
            "none",
            False,
        )
    with RedisEventNode(url="rediss://h/0", ssl_verify=True) as node:
        assert (pool_kwargs(node)["ssl_cert_reqs"], pool_kwargs(node)["ssl_check_hostname"]) == (
            "required",
            True,
        )
    with pytest.raises(ConfigurationError, match="ssl_verify=True needs TLS"):
        RedisEventNode(ssl_verify=True)
    with pytest.raises(ConfigurationError, match="use_ssl=True with the plain URL"):
        RedisEventNode(url="redis://h/0", use_ssl=True)
    with pytest.raises(ConfigurationError, match="not both"):
        RedisEventNode(use_ssl=True, ssl_verify=False, ssl_cert_reqs="required")


@pytest.mark.parametrize("digest", [None, "sha256", "SHA-256", hashlib.sha256])
def test_hmac_key_is_the_signing_secret_with_a_sha256_digest(digest: object) -> None:
    with RedisEventNode(hmac_key="s3cret", hmac_digest=digest) as node:
        assert node.signing_secret == "s3cret"
        assert "s3cret" not in repr(node)
    with RedisEventNode(hmac_key=b"s3cret") as node:
        assert node.signing_secret == "s3cret"  # the same key bytes


@pytest.mark.parametrize("digest", ["sha512", "md5", hashlib.sha1])
def test_an_unsupported_hmac_digest_is_refused(digest: object) -> None:
    with pytest.raises(ConfigurationError, match="signs every message with HMAC-SHA256"):
        RedisEventNode(hmac_key="s3cret", hmac_digest=digest)
    with RedisEventNode(hmac_digest=digest) as node:  # no key: nothing is signed, as upstream
        assert node.signing_secret is None


@pytest.mark.parametrize("key", ["", b"\xff\xfe", 42])
def test_a_bad_hmac_key_is_refused(key: object) -> None:
    with pytest.raises(ConfigurationError, match="hmac_key must be"):
        RedisEventNode(hmac_key=key)


def test_a_node_secret_and_a_different_signing_secret_conflict() -> None:
    with RedisEventNode(port=free_port(), hmac_key="a") as node:
        with pytest.raises(ConfigurationError, match="differs from the secret the node"):
            Arbiter(node, signing_secret="b")
        arbiter = Arbiter(node, signing_secret="a")
        assert arbiter.wire.signing
        assert Arbiter(node).settings.signing_secret == "a"


def test_building_a_node_never_connects(listening: socket.socket) -> None:
    port = port_of(listening)
    nodes = [
        RedisEventNode(host="127.0.0.1", port=port, password="", event_queue="tasks"),
        RedisEventNode("127.0.0.1", port, "pw", "tasks", hmac_key="k", use_ssl=True),
        RedisEventNode(url=f"redis://127.0.0.1:{port}/0?socket_timeout=3"),
        RedisEventNode(host="127.0.0.1", port=port, socket_connect_timeout=1, client_name="c"),
    ]
    try:
        Arbiter(nodes[1])  # nor does building an Arbiter on one
        with pytest.raises(socket.timeout):
            listening.accept()
    finally:
        for node in nodes:
            node.close()


# --- against real servers ----------------------------------------------------------------------


@pytest.mark.real_broker
def test_hmac_key_signs_what_a_minion_with_the_same_secret_runs(
    redis_server: Any, redis_namespace: str
) -> None:
    port = int(redis_server.url.rsplit(":", 1)[1].split("/")[0])

    def node(secret: str) -> RedisEventNode:
        return RedisEventNode(
            "127.0.0.1", port, "", redis_namespace, hmac_key=secret, hmac_digest="sha256"
        )

    arbiter = Arbiter(node("right"))
    ran: list[tuple[int, int]] = []
    same = Minion(node("right"), queue="default")

    @same.task(name="simple_add")
    def adds(x: int, y: int) -> int:
        ran.append((x, y))
        return x + y

    try:
        [task_id] = arbiter.apply("simple_add", tasks_count=1, task_args=[1, 2])
        with running(same, workers=1):
            [message] = arbiter.wait_for_tasks([task_id], timeout=WAIT)
        assert (message["state"], message["result"]) == ("succeeded", 3)
        assert ran == [(1, 2)]

        other = Minion(node("wrong"), queue="default")
        other.task(name="simple_add")(adds)
        [forged_id] = arbiter.apply("simple_add", tasks_count=1, task_args=[3, 4])
        with running(other, workers=1):
            deadline = time.monotonic() + WAIT
            while not arbiter.node.dead_letters("default"):
                assert time.monotonic() < deadline, "the message was not dead-lettered"
                time.sleep(0.05)
        [dead] = arbiter.node.dead_letters("default")
        assert "bad signature" in dead.reason
        assert ran == [(1, 2)], "a message signed with another secret ran"
        assert forged_id
    finally:
        arbiter.close()
        arbiter.node.close()
        same.node.close()


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A redis-server of this module's own that speaks only TLS: its port and CA file."""
    executable, openssl = shutil.which("redis-server"), shutil.which("openssl")
    if executable is None or openssl is None:
        pytest.skip("a TLS Redis needs redis-server and openssl on PATH")
    directory = tmp_path_factory.mktemp("tls-redis")
    cert, key = directory / "cert.pem", directory / "key.pem"
    made = subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"openssl could not make a certificate: {made.stderr.decode()[-200:]}")
    port = free_port()
    log = (directory / "redis.log").open("wb")
    process = subprocess.Popen(
        [
            executable,
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--tls-cert-file",
            str(cert),
            "--tls-key-file",
            str(key),
            "--tls-ca-cert-file",
            str(cert),
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                text = (directory / "redis.log").read_text()
                if "TLS" in text and ("not" in text or "support" in text):
                    pytest.skip(f"this redis-server has no TLS: {text[-300:]}")
                pytest.fail(f"the TLS redis-server did not start: {text[-500:]}")
            try:
                client = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(cert))
                client.ping()
                client.close()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "the TLS redis-server did not answer"
                time.sleep(0.05)
        yield port, cert
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.real_broker
def test_use_ssl_talks_tls_to_a_tls_only_server(tls_redis: tuple[int, Path]) -> None:
    port, ca = tls_redis
    with RedisEventNode(
        "127.0.0.1", port, "", "tls-test", use_ssl=True, ssl_ca_certs=str(ca)
    ) as node:
        node.push("q", b"over TLS")
        [delivery] = node.pull("q", timeout=1, lease=10)
        assert delivery.body == b"over TLS"
        assert node.ack(delivery)
    # upstream's default ssl_verify=False: no certificate check, so no CA needed
    with RedisEventNode("127.0.0.1", port, "", "tls-test", use_ssl=True, ssl_verify=False) as node:
        assert node.queue_size("q") == 0
    # verifying against no CA fails, and says so as a broker error (not a listener traceback)
    no_retry = Retry(NoBackoff(), 0)
    verifying = RedisEventNode(
        "127.0.0.1", port, "", "tls-test", use_ssl=True, ssl_verify=True, retry=no_retry
    )
    with verifying, pytest.raises(BrokerError):
        verifying.push("q", b"x")
    # without TLS the server does not answer at all
    plain = RedisEventNode("127.0.0.1", port, "", "tls-test", retry=no_retry)
    with plain, pytest.raises(BrokerError):
        plain.push("q", b"x")


def test_threads_are_not_left_behind_by_refused_construction() -> None:
    before = threading.active_count()
    for _ in range(3):
        with pytest.raises(TypeError):
            RedisEventNode(bogus=1)
    assert threading.active_count() == before
    assert "retry" in POOL_OPTIONS
