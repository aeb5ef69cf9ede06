"""Suite-wide rules (under CI, a skipped real-broker test fails the run) and shared fixtures."""

from __future__ import annotations

import os

import pytest
from redis_server import redis_namespace, redis_server, redis_url

__all__ = ["redis_namespace", "redis_server", "redis_url"]  # fixtures for every test module

REQUIRE_REAL_BROKERS = os.environ.get("ARBITER_REQUIRE_REAL_BROKERS") == "1"
_skipped_real_broker: list[str] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if report.skipped and item.get_closest_marker("real_broker") is not None:
        _skipped_real_broker.append(item.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if REQUIRE_REAL_BROKERS and _skipped_real_broker:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    if REQUIRE_REAL_BROKERS and _skipped_real_broker:
        terminalreporter.section("real-broker tests were skipped", sep="!", red=True)
        for nodeid in _skipped_real_broker:
            terminalreporter.line(f"SKIPPED but required: {nodeid}", red=True)
        terminalreporter.line(
            "ARBITER_REQUIRE_REAL_BROKERS=1: start the brokers (see README) instead of skipping.",
            red=True,
        )
