"""RPC held to the limits, on every broker: an oversize or too-deep request is refused
at the caller; one that reaches a stricter minion anyway (a caller with looser limits)
is answered with the reason, never run, and the minion serves on; a result over
``max_result_size`` comes back as an error, not as the value."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from arbiter_core.client import Arbiter
from arbiter_core.errors import LimitExceededError, RemoteTaskError
from arbiter_core.minion import Minion
from tests.distributed.conftest import LEASE
from tests.distributed.test_rpc import serving


def nested(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = [value]
    return value


def echo_minion(make_minion: Callable[..., Minion], **settings: Any) -> tuple[Minion, list[Any]]:
    app = make_minion(**settings)
    ran: list[Any] = []

    @app.rpc(name="echo")
    def echo(value: Any) -> Any:
        ran.append(value)
        return value

    @app.rpc(name="make")
    def make(size: int) -> str:
        return "x" * size

    return app, ran


def test_an_oversize_or_too_deep_request_is_refused_at_the_caller(
    node_factory: Callable[..., Any], make_minion: Callable[..., Minion]
) -> None:
    app, ran = echo_minion(make_minion)
    with (
        Arbiter(node_factory(), lease=LEASE, max_message_size=2000, max_nesting_depth=8) as caller,
        serving(app),
    ):
        with pytest.raises(LimitExceededError) as caught:
            caller.rpc("echo", "x" * 3000, timeout=5)
        message = str(caught.value)
        assert message.startswith("rpc 'echo': the message is ")
        assert (
            "over the max_message_size limit of 2,000 bytes (ARBITER_MAX_MESSAGE_SIZE)" in message
        )
        with pytest.raises(LimitExceededError, match=r"args\[0\] nests more than 8 levels deep"):
            caller.rpc("echo", nested(9), timeout=5)
        assert caller.rpc("echo", nested(8), timeout=5) == nested(8), "at the limit is fine"
    assert ran == [nested(8)], "the refused requests were never sent"


@pytest.mark.parametrize(
    ("argument", "reason"),
    [
        ("x" * 3000, "over the max_message_size limit of 2,000 bytes"),
        (nested(9), "args[0] nests more than 8 levels deep"),
    ],
    ids=["oversize", "too-deep"],
)
def test_a_request_over_the_minions_limits_is_answered_with_why_and_it_serves_on(
    arbiter: Arbiter, make_minion: Callable[..., Minion], argument: Any, reason: str
) -> None:
    """The caller's limits are the defaults, the minion's smaller: the request reaches it."""
    app, ran = echo_minion(make_minion, max_message_size=2000, max_nesting_depth=8)
    with serving(app):
        with pytest.raises(RemoteTaskError) as caught:
            arbiter.rpc("echo", argument, timeout=5)
        assert arbiter.rpc("echo", "fine", timeout=5) == "fine", "the minion serves on"
    assert caught.value.type_name == "LimitExceededError"
    assert "rpc 'echo' was refused by its minion" in caught.value.message
    assert reason in caught.value.message
    assert ran == ["fine"], "the refused request never ran"


def test_a_result_over_max_result_size_is_an_error_reply_not_the_value(
    arbiter: Arbiter, make_minion: Callable[..., Minion]
) -> None:
    app, _ = echo_minion(make_minion, max_result_size=2000)
    with serving(app):
        assert arbiter.rpc("make", 1000, timeout=5) == "x" * 1000
        with pytest.raises(RemoteTaskError) as caught:
            arbiter.rpc("make", 3000, timeout=5)
        assert arbiter.rpc("make", 10, timeout=5) == "x" * 10, "the minion serves on"
    assert caught.value.type_name == "LimitExceededError"
    message = caught.value.message
    assert "rpc 'make' returned a value too big to send" in message
    assert "over the max_result_size limit of 2,000 bytes (ARBITER_MAX_RESULT_SIZE)" in message


def test_a_caller_refuses_a_reply_over_its_own_max_result_size(
    node_factory: Callable[..., Any], make_minion: Callable[..., Minion]
) -> None:
    """A minion with looser limits answers; the stricter caller does not take the value."""
    app, _ = echo_minion(make_minion)
    with Arbiter(node_factory(), lease=LEASE, max_result_size=2000) as caller, serving(app):
        with pytest.raises(LimitExceededError) as caught:
            caller.rpc("make", 3000, timeout=5)
        assert caller.rpc("make", 10, timeout=5) == "x" * 10
    message = str(caught.value)
    assert message.startswith("rpc 'make' on queue 'default': its result is ")
    assert "over the max_result_size limit of 2,000 bytes" in message
