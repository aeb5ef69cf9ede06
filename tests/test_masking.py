"""mask_url: the one function that makes a broker URL safe to print, log or show."""

from __future__ import annotations

import pytest

from arbiter_core.masking import MASK, SECRET_PARAMETERS, mask_url

MASKED = [
    # the password in the user info
    ("redis://:pw@host:6379/0", "redis://:***@host:6379/0"),
    ("redis://user:pw@host/0", "redis://user:***@host/0"),
    ("rediss://:a%40b@host:6380", "rediss://:***@host:6380"),
    ("redis://user:@host", "redis://user:***@host"),
    ("amqp://guest:guest@rabbit//", "amqp://guest:***@rabbit//"),
    # a password (or token, secret...) query parameter
    ("redis://host?password=pw", "redis://host?password=***"),
    ("redis://host:6379/0?db=1&password=pw", "redis://host:6379/0?db=1&password=***"),
    ("redis://cache?db=1&Password=pw", "redis://cache?db=1&Password=***"),
    ("redis://host?password=", "redis://host?password=***"),
    ("kafka://host?token=t0k&secret=s", "kafka://host?token=***&secret=***"),
    ("redis://host?pass=a&passwd=b", "redis://host?pass=***&passwd=***"),
    ("redis://:pw@host?password=pw2", "redis://:***@host?password=***"),
    # nothing to hide
    ("redis://user@host", "redis://user@host"),
    ("memory://", "memory://"),
]
"""(url, as shown): also what ``tests/test_config.py`` checks ``masked()`` against."""


@pytest.mark.parametrize(("url", "shown"), MASKED)
def test_a_password_in_the_user_info_or_a_query_parameter_is_masked(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_an_amqp_url_keeps_its_user_and_vhost() -> None:
    assert mask_url("amqp://guest:guest@rabbit:5672//") == "amqp://guest:***@rabbit:5672//"
    assert (
        mask_url("amqps://app:s3cret@mq.example.com/prod") == "amqps://app:***@mq.example.com/prod"
    )


@pytest.mark.parametrize("name", ["PASSWORD", "Password", "PassWord", "TOKEN"])
def test_parameter_names_are_compared_case_insensitively(name: str) -> None:
    assert mask_url(f"redis://host?{name}=pw&db=2") == f"redis://host?{name}=***&db=2"


@pytest.mark.parametrize(
    "url",
    [
        "memory://",
        "redis://host:6379/0",
        "redis://user@host",
        "redis://host?db=1&ssl_cert_reqs=none",
        "redis://host/0#fragment",
        "not a url at all",
        "",
    ],
)
def test_a_url_without_a_password_is_returned_unchanged(url: str) -> None:
    assert mask_url(url) == url


def test_an_unparsable_url_hides_everything_before_the_host() -> None:
    masked = mask_url("redis://:pw@[::1/0")  # an unclosed IPv6 bracket: urlsplit refuses it
    assert "pw" not in masked
    assert masked == "redis://***@[::1/0"


def test_an_unparsable_url_without_user_info_is_returned_unchanged() -> None:
    assert mask_url("redis://[::1/0") == "redis://[::1/0"


def test_an_unparsable_url_with_a_password_parameter_hides_it() -> None:
    assert mask_url("redis://[::1?password=secret&db=1") == "redis://[::1?password=***&db=1"
    assert mask_url("redis://u:pw@[::1/0?Token=t") == "redis://***@[::1/0?Token=***"


def test_the_mask_and_the_secret_parameters_are_public() -> None:
    assert MASK == "***"
    assert {"password", "token"} <= SECRET_PARAMETERS
