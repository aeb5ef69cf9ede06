"""Clients give up on a broker they cannot reach after a bounded, configurable time:
the ``broker_timeout`` setting (``ARBITER_BROKER_TIMEOUT``, 5 s by default), with an
error that says so. Nothing listens on the port these tests use."""

from __future__ import annotations

import shlex
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cli_support import arbiter_command
from minion_process import clean_environment
from redis_server import free_port

from arbiter import Arbiter, load_settings
from arbiter.exceptions import BrokerConnectionError, ConfigurationError
from arbiter_redis.connection import connect_timeout, retry_waits
from arbiter_redis.node import RedisEventNode


@pytest.fixture
def nowhere() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.mark.parametrize("budget", [0.5, 2.0])
def test_an_arbiter_gives_up_within_its_broker_timeout(nowhere: str, budget: float) -> None:
    arbiter = Arbiter(nowhere, broker_timeout=budget)
    started = time.monotonic()
    with pytest.raises(BrokerConnectionError, match="ARBITER_BROKER_TIMEOUT"):
        arbiter.queues()
    took = time.monotonic() - started
    arbiter.close()
    assert took <= budget + 0.5, f"{took:.2f}s for a {budget}s budget"
    assert took >= budget * 0.8, f"{took:.2f}s: it did not retry for its budget"


def test_the_default_rides_out_five_seconds_as_before() -> None:
    assert load_settings(environ={}).broker_timeout == 5.0
    assert retry_waits(5.0) == pytest.approx([0.2, 0.4, 0.8, 1.6, 2.0]), "as before"
    assert retry_waits(0.5) == pytest.approx([0.2, 0.3]), "the last wait cut to fit"
    assert connect_timeout(0.3) == 0.3, "each try's connect timeout fits the budget too"


def test_the_cli_gives_up_within_the_environment_s_timeout(nowhere: str) -> None:
    env = {**clean_environment(), "ARBITER_BROKER_TIMEOUT": "0.5"}
    started = time.monotonic()
    done = subprocess.run(
        [arbiter_command(), "ping", "--broker", nowhere],
        env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    took = time.monotonic() - started
    assert done.returncode == 1
    assert "cannot reach Redis" in done.stderr and "broker_timeout" in done.stderr
    assert took < 4.0, f"{took:.2f}s (interpreter start included)"


def test_a_bad_timeout_is_refused_naming_its_source(nowhere: str) -> None:
    with pytest.raises(ConfigurationError, match="ARBITER_BROKER_TIMEOUT"):
        load_settings(environ={"ARBITER_BROKER_TIMEOUT": "soon"})
    with pytest.raises(ConfigurationError, match="broker_timeout"):
        load_settings(broker_timeout=0)
    with pytest.raises(ValueError, match="broker_timeout"):
        RedisEventNode(url=nowhere, broker_timeout=-1)


def test_the_documented_line_prints_what_the_doc_shows(nowhere: str) -> None:
    """docs/operations.md's example, run as written with its port moved to a free one."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "operations.md").read_text()
    at = doc.index("$ ARBITER_BROKER_TIMEOUT=")
    command, shown = doc[at + 2 :].splitlines()[:2]
    assignment, _, *argv = shlex.split(command)
    name, _, value = assignment.partition("=")
    documented = "redis://localhost:6390/0"
    url = nowhere.replace("127.0.0.1", "localhost")
    done = subprocess.run(
        [arbiter_command(), *[url if a == documented else a for a in argv]],
        env={**clean_environment(), name: value}, capture_output=True, text=True, timeout=30,
        check=False,
    )  # fmt: skip
    expected = shown.replace(documented, url).replace("localhost:6390", urlsplit(url).netloc)
    assert done.returncode == 1
    assert done.stderr.strip() == expected
