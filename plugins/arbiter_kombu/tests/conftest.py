"""The plugin's tests need the plugin installed as a user installs it (``pip install``).

Without it they skip, saying what to run; under ``ARBITER_REQUIRE_REAL_BROKERS=1``
(what ``.ci/run`` sets: CI requires everything it can test) they fail instead, and so
do the tests that need RabbitMQ (127.0.0.1:5672, guest/guest, ``rabbitmqctl`` on PATH)
or ``redis-server`` when there is none.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu_support import RabbitVhost, ThrowawayRedis

DISTRIBUTION = "arbiter-kombu"
INSTALL = "pip install -e plugins/arbiter_kombu"
REQUIRED = os.environ.get("ARBITER_REQUIRE_REAL_BROKERS") == "1"


def not_installed() -> str | None:
    """Why the plugin is not usable as installed, or None if it is."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return f"{DISTRIBUTION} is not installed ({INSTALL})"
    if not any(ep.group == "arbiter" for ep in dist.entry_points):
        return f"{DISTRIBUTION} is installed without its 'arbiter' entry point; reinstall it"
    return None


def skip_or_fail(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason}; ARBITER_REQUIRE_REAL_BROKERS=1 does not allow skipping it")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _plugin_installed() -> None:
    reason = not_installed()
    if reason is not None:
        skip_or_fail(reason)


@pytest.fixture(scope="session")
def throwaway_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a redis-server of this session's own."""
    try:
        server = ThrowawayRedis(Path(tmp_path_factory.mktemp("kombu-redis")))
    except FileNotFoundError as exc:
        skip_or_fail(str(exc))
        raise  # not reached: skip_or_fail raises
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def rabbit_url() -> Iterator[str]:
    """An amqp:// URL on a vhost of this session's own, deleted (with all in it) afterwards."""
    try:
        vhost = RabbitVhost()
    except (FileNotFoundError, ConnectionError, RuntimeError) as exc:
        skip_or_fail(f"RabbitMQ is not available: {exc}")
        raise  # not reached: skip_or_fail raises
    try:
        yield vhost.url
    finally:
        vhost.delete()
