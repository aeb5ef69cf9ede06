"""Limits on messages and results: checked at apply, and again where a message arrives.

The real-broker half (another sender's messages dead-lettered, an oversize result
failing its task) is tests/distributed/test_limits_on_the_broker.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from arbiter_core.client import Arbiter
from arbiter_core.config import load_settings
from arbiter_core.errors import ConfigurationError, LimitExceededError, MessageRejected
from arbiter_core.settings import (
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_MAX_NESTING_DEPTH,
    DEFAULT_MAX_RESULT_SIZE,
    DEFAULT_MAX_TASK_NAME_LENGTH,
    MIB,
)
from arbiter_core.wire import Envelope, WireFormat
from arbiter_core.wire.limits import Limits, bytes_shown, nests_deeper


def nested(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = [value]
    return value


def test_the_defaults_are_documented_values() -> None:
    settings = load_settings(environ={})
    assert settings.max_message_size == DEFAULT_MAX_MESSAGE_SIZE == 16 * MIB
    assert settings.max_result_size == DEFAULT_MAX_RESULT_SIZE == 16 * MIB
    assert settings.max_nesting_depth == DEFAULT_MAX_NESTING_DEPTH == 64
    assert settings.max_task_name_length == DEFAULT_MAX_TASK_NAME_LENGTH == 256
    assert Limits.of(settings) == Limits()


def test_each_limit_is_set_from_the_environment_and_checked() -> None:
    settings = load_settings(environ={"ARBITER_MAX_MESSAGE_SIZE": "1024"})
    assert settings.max_message_size == 1024
    with pytest.raises(ConfigurationError, match="ARBITER_MAX_NESTING_DEPTH='0' must be at least"):
        load_settings(environ={"ARBITER_MAX_NESTING_DEPTH": "0"})
    with pytest.raises(ConfigurationError, match="max_result_size='big'"):
        load_settings(max_result_size="big", environ={})  # type: ignore[arg-type]


def test_a_64_mib_argument_fails_at_apply_naming_the_size_and_the_limit() -> None:
    with Arbiter("memory://limits-apply") as arbiter:
        with pytest.raises(LimitExceededError) as caught:
            arbiter.apply("store", task_args=["x" * (64 * MIB)])
        assert arbiter.node.queue_size("default") == 0, "nothing was queued"
    message = str(caught.value)
    assert "task 'store'" in message
    assert "(64.0 MiB), over the max_message_size limit of 16,777,216 bytes" in message
    assert "ARBITER_MAX_MESSAGE_SIZE" in message


def test_a_too_deep_argument_and_a_too_long_name_fail_at_apply() -> None:
    with Arbiter("memory://limits-deep") as arbiter:
        with pytest.raises(LimitExceededError, match=r"kwargs\['tree'\] nests more than 64"):
            arbiter.apply("walk", task_kwargs={"tree": nested(65)})
        with pytest.raises(LimitExceededError, match="257 characters, over the max_task_name"):
            arbiter.apply("n" * 257)
        arbiter.apply("walk", task_kwargs={"tree": nested(64)})  # at the limit is fine
        arbiter.apply("n" * 256)
        assert arbiter.node.queue_size("default") == 2


def test_limits_are_set_per_client() -> None:
    with (
        Arbiter("memory://limits-small", max_message_size=500) as arbiter,
        pytest.raises(LimitExceededError, match="over the max_message_size limit of 500"),
    ):
        arbiter.apply("t", task_args=["x" * 500])


def test_a_minion_refuses_oversize_too_deep_and_too_long_messages_from_another_sender() -> None:
    loose = WireFormat(
        limits=Limits(max_message_size=10 * MIB, max_nesting_depth=1000, max_task_name_length=999)
    )
    strict = WireFormat(limits=Limits(max_message_size=1000, max_nesting_depth=8))
    with pytest.raises(MessageRejected, match=r"message is 1,3\d\d bytes, over the max_message"):
        strict.decode(loose.encode(Envelope("t", args=("x" * 1200,))))
    with pytest.raises(MessageRejected, match=r"args\[1\] nests more than 8 levels deep"):
        strict.decode(loose.encode(Envelope("t", args=(1, nested(9)))))
    with pytest.raises(MessageRejected, match="task name is 300 characters"):
        strict.decode(loose.encode(Envelope("t" * 300)))
    assert strict.decode(loose.encode(Envelope("t", args=(nested(8),)))).args == (nested(8),)


def test_the_depth_walk_is_skipped_for_a_message_with_few_brackets() -> None:
    limits = Limits(max_nesting_depth=3)
    args, kwargs = (nested(5),), {}
    assert limits.too_deep(args, kwargs, b"[[[]]]") is None, "3 brackets cannot nest 4 deep"
    assert limits.too_deep(args, kwargs, None) is not None, "not JSON: always walked"
    encoded = json.dumps(nested(5)).encode()
    assert limits.too_deep(args, kwargs, encoded) is not None


@pytest.mark.parametrize(
    ("value", "deeper_than_2"),
    [
        (0, False),
        ([1, 2], False),
        ({"a": [1]}, False),
        ({"a": [[1]]}, True),
        ((({1},),), True),
        ([[]] * 1000, False),
        (nested(100_000), True),  # iterative: no RecursionError
    ],
)
def test_nesting_counts_lists_tuples_sets_and_dicts(value: Any, deeper_than_2: bool) -> None:
    assert nests_deeper(value, 2) is deeper_than_2


def test_a_cycle_ends_the_walk() -> None:
    loop: list[Any] = []
    loop.append(loop)
    loop.append(loop)
    assert nests_deeper(loop, 64) is False


def test_sizes_read_exactly_and_plainly() -> None:
    assert bytes_shown(1000) == "1,000 bytes"
    assert bytes_shown(64 * MIB) == "67,108,864 bytes (64.0 MiB)"
