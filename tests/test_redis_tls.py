"""The Redis backend over TLS (``rediss://``), against throwaway TLS-only ``redis-server``s.

The ``openssl`` command line makes a CA, a server certificate for 127.0.0.1, a client
certificate (its key encrypted too, for ``ssl_password``) and a second, unrelated CA.
Two servers listen on loopback with TLS only (``--port 0``): one requires client
certificates (``--tls-auth-clients yes``), one only proves its own identity. A Minion
and an Arbiter work through one ``rediss://`` URL whose query carries the CA and client
certificate settings; a wrong CA, a missing client certificate and a plain server are
refused with errors that say which setting to change. Both servers are stopped at the end.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from redis_server import STOP_TIMEOUT, free_port
from support import wait_until

from arbiter import Arbiter, Minion, connect
from arbiter_core.errors import BrokerConnectionError
from arbiter_redis import RedisEventNode

pytestmark = pytest.mark.real_broker

KEY_PASSPHRASE = "tls-test-passphrase"
START_TIMEOUT = 10.0


class Certificates(NamedTuple):
    ca: Path
    wrong_ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    encrypted_client_key: Path


def openssl(*args: str | Path) -> None:
    executable = shutil.which("openssl")
    if executable is None:
        pytest.skip("the TLS tests make their certificates with the openssl command")
    subprocess.run([executable, *map(str, args)], check=True, capture_output=True, timeout=60)


def make_certificates(directory: Path) -> Certificates:
    # The extensions a strict verifier requires (Python 3.13's default context sets
    # VERIFY_X509_STRICT): a critical CA:TRUE and keyCertSign on the CA, an authority key
    # identifier and CA:FALSE on what it signs. Real CAs issue certificates like these.
    def authority(name: str) -> tuple[Path, Path]:
        cert, key = directory / f"{name}.crt", directory / f"{name}.key"
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", key,
                "-out", cert, "-subj", f"/CN=arbiter test {name}",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                "-addext", "subjectKeyIdentifier=hash")  # fmt: skip
        return cert, key

    def signed(name: str, ca: tuple[Path, Path], extensions: str) -> tuple[Path, Path]:
        cert, key, request = (directory / f"{name}.{ext}" for ext in ("crt", "key", "csr"))
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", request,
                "-subj", f"/CN={name}")  # fmt: skip
        sign = ["x509", "-req", "-in", request, "-CA", ca[0], "-CAkey", ca[1]]
        sign += ["-CAcreateserial", "-out", cert, "-days", "2"]
        extension_file = directory / f"{name}.ext"
        extension_file.write_text(
            "basicConstraints=CA:FALSE\nauthorityKeyIdentifier=keyid,issuer\n"
            "subjectKeyIdentifier=hash\n" + extensions
        )
        openssl(*sign, "-extfile", extension_file)
        return cert, key

    ca = authority("ca")
    wrong, _ = authority("wrong-ca")
    server = signed(
        "server",
        ca,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    client = signed(
        "client", ca, "keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n"
    )
    encrypted = directory / "client-encrypted.key"
    openssl("rsa", "-in", client[1], "-aes256", "-out", encrypted, "-passout",
            f"pass:{KEY_PASSPHRASE}")  # fmt: skip
    return Certificates(ca[0], wrong, *server, *client, encrypted)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certificates"))


def _answers(port: int, context: ssl.SSLContext) -> bool:
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=0.5) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
        ):
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class TlsRedis:
    """A ``redis-server`` with TLS only on a free loopback port; ``url`` lacks the query."""

    def __init__(self, directory: Path, certificates: Certificates, client_auth: bool) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            pytest.skip("the TLS tests need redis-server on PATH")
        self.port = free_port()
        self.url = f"rediss://127.0.0.1:{self.port}/0"
        directory.mkdir()
        command = [executable, "--port", "0", "--tls-port", str(self.port)]
        command += ["--bind", "127.0.0.1", "--dir", str(directory), "--save", ""]
        command += ["--appendonly", "no", "--tls-cert-file", str(certificates.server_cert)]
        command += ["--tls-key-file", str(certificates.server_key)]
        command += ["--tls-ca-cert-file", str(certificates.ca)]
        command += ["--tls-auth-clients", "yes" if client_auth else "no"]
        self.log = directory / "redis.log"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        context = ssl.create_default_context(cafile=str(certificates.ca))
        context.load_cert_chain(str(certificates.client_cert), str(certificates.client_key))
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(self.port, context):  # bounded: a dead server fails the module
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"the TLS redis-server did not start; see {self.log}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: redis-server shuts down cleanly
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)


@pytest.fixture(scope="module")
def mutual_tls(
    tmp_path_factory: pytest.TempPathFactory, certificates: Certificates
) -> Iterator[TlsRedis]:
    """Client certificates required (``tls-auth-clients yes``)."""
    server = TlsRedis(tmp_path_factory.mktemp("tls") / "mutual", certificates, True)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server_tls(
    tmp_path_factory: pytest.TempPathFactory, certificates: Certificates
) -> Iterator[TlsRedis]:
    """Only the server proves who it is (``tls-auth-clients no``), as managed Redis does."""
    server = TlsRedis(tmp_path_factory.mktemp("tls") / "server", certificates, False)
    yield server
    server.stop()


def with_client_certificate(server: TlsRedis, certificates: Certificates) -> str:
    return (
        f"{server.url}?ssl_ca_certs={certificates.ca}"
        f"&ssl_certfile={certificates.client_cert}&ssl_keyfile={certificates.client_key}"
    )


def test_a_minion_and_an_arbiter_over_tls_with_a_client_certificate(
    mutual_tls: TlsRedis, certificates: Certificates
) -> None:
    url = with_client_certificate(mutual_tls, certificates)
    nodes = [connect(url, namespace="tls-app", lease=1.0) for _ in range(2)]
    app = Minion(nodes[0], queue="default", lease=1.0)
    started, release = threading.Event(), threading.Event()

    @app.task(name="add")
    def add(a: int, b: int) -> int:
        return a + b

    @app.task(name="hang")
    def hang() -> None:
        started.set()
        release.wait(10)

    arbiter = Arbiter(nodes[1], lease=1.0)
    thread = threading.Thread(
        target=app.run, kwargs={"workers": 2, "handle_signals": False}, daemon=True
    )
    thread.start()
    try:
        ids = arbiter.apply("add", tasks_count=3, task_args=[2, 3])
        results = [s["result"] for s in arbiter.wait_for_tasks(ids, timeout=10)]
        assert results == [5, 5, 5]
        assert arbiter.status(ids[0])["state"] == "succeeded"
        assert wait_until(lambda: arbiter.workers().get("default", {}).get("workers") == 1)
        assert arbiter.ping().server["server"] == "redis 7.0.15"
        [hung] = arbiter.apply("hang")  # kill travels by pub/sub, over TLS too
        assert started.wait(10)
        assert arbiter.kill(hung)
        assert [s["state"] for s in arbiter.wait_for_tasks([hung], timeout=10)] == ["cancelled"]
        nodes[1].push("default", b"garbage")
        assert wait_until(lambda: len(arbiter.dead_letters()) == 1)
    finally:
        release.set()
        app.stop()
        thread.join(30)
        arbiter.close()
        for node in nodes:
            node.close()
    assert not thread.is_alive()


def test_only_the_ca_is_needed_when_the_server_asks_for_no_client_certificate(
    server_tls: TlsRedis, certificates: Certificates
) -> None:
    with connect(f"{server_tls.url}?ssl_ca_certs={certificates.ca}", namespace="ca-only") as node:
        message_id = node.push("default", b"over tls")
        [delivery] = node.pull("default", timeout=5, lease=5)
        assert (delivery.message_id, delivery.body) == (message_id, b"over tls")
        node.ack(delivery)


def test_the_seed_arguments_take_tls_settings_as_keywords(
    mutual_tls: TlsRedis, certificates: Certificates
) -> None:
    node = RedisEventNode(
        host="127.0.0.1",
        port=mutual_tls.port,
        use_ssl=True,  # carrier-io/arbiter's name; ssl=True is the same
        ssl_ca_certs=str(certificates.ca),
        ssl_certfile=str(certificates.client_cert),
        ssl_keyfile=str(certificates.client_key),
    )
    with node:
        assert node.url == f"rediss://127.0.0.1:{mutual_tls.port}/0"
        assert node.server_info() == {"server": "redis 7.0.15"}


def test_an_encrypted_client_key_takes_its_passphrase_from_the_url_masked(
    mutual_tls: TlsRedis, certificates: Certificates
) -> None:
    url = (
        f"{mutual_tls.url}?ssl_ca_certs={certificates.ca}&ssl_certfile={certificates.client_cert}"
        f"&ssl_keyfile={certificates.encrypted_client_key}&ssl_password={KEY_PASSPHRASE}"
    )
    with RedisEventNode(url=url, namespace="encrypted-key") as node:
        assert KEY_PASSPHRASE not in node.url
        assert "ssl_password=***" in node.url
        assert node.server_info() == {"server": "redis 7.0.15"}


def refusal(url: str) -> str:
    """The error a node on ``url`` raises at its first command (retrying for 0.5 s)."""
    with (
        RedisEventNode(url=url, namespace="refused", broker_timeout=0.5) as node,
        pytest.raises(BrokerConnectionError) as refused,
    ):
        node.get("task:x")
    return str(refused.value)


def test_a_wrong_ca_is_refused_naming_the_setting(
    mutual_tls: TlsRedis, certificates: Certificates
) -> None:
    url = with_client_certificate(mutual_tls, certificates).replace(
        str(certificates.ca), str(certificates.wrong_ca)
    )
    message = refusal(url)
    assert "CERTIFICATE_VERIFY_FAILED" in message
    assert "not signed by a CA this client trusts" in message
    assert "?ssl_ca_certs=" in message


def test_a_missing_client_certificate_is_named(
    mutual_tls: TlsRedis, certificates: Certificates
) -> None:
    message = refusal(f"{mutual_tls.url}?ssl_ca_certs={certificates.ca}")
    # TLS 1.3 ends the handshake before the server checks: an alert, a bare EOF or (the
    # client writing first, as on Python 3.13) a reset follows
    assert any(
        sign in message for sign in ("CERTIFICATE_REQUIRED", "EOF occurred", "reset by peer")
    ), message
    assert "ssl_certfile=" in message and "ssl_keyfile=" in message


def test_plain_redis_on_a_tls_port_is_refused(mutual_tls: TlsRedis) -> None:
    plain = f"redis://127.0.0.1:{mutual_tls.port}/0"
    with (
        RedisEventNode(url=plain, broker_timeout=0.5) as node,
        pytest.raises(BrokerConnectionError),
    ):
        node.get("task:x")


def test_rediss_to_a_plain_port_says_the_server_may_not_speak_tls(redis_url: str) -> None:
    """The handshake waits for an answer that never comes, socket_timeout (1 s here) a try."""
    port = redis_url.rsplit(":", 1)[1].split("/", maxsplit=1)[0]
    message = refusal(f"rediss://127.0.0.1:{port}/0?socket_timeout=1")
    assert "if the server does not speak TLS on this port, use redis://" in message


def test_tls_settings_need_rediss() -> None:
    from arbiter_core.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="ssl_ca_certs needs TLS; write rediss://"):
        RedisEventNode(url="redis://127.0.0.1:1/0?ssl_ca_certs=/ca.pem")
