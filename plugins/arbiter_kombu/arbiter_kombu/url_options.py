"""What a URL's query may set for the node itself, taken out before kombu sees the URL.

* ``park_after``: the seconds a delivery is held before a renew parks it (see
  :mod:`arbiter_kombu.leases`), or ``off`` to never park.
* ``max_priority``: ``9`` declares the work queues with RabbitMQ's ``x-max-priority`` 9
  and publishes each message with its level as the AMQP ``priority`` property, so the
  node orders by level (the ``PRIORITY`` capability). An opt-in, because RabbitMQ
  refuses to redeclare an existing queue with other arguments (PRECONDITION_FAILED):
  a queue made without it must be drained and deleted before a node with it uses the
  queue, and the other way round (see ``BrokerCalls._declare_ready``).
  Only ``9`` is accepted: arbiter's levels are 0 to 9, and fewer broker levels would
  serve several of them as one.

A URL is all an operator gives ``arbiter minion --broker`` or ``ARBITER_BROKER_URL``, so
this is how they tune the node; Python code may pass ``park_after=`` or
``max_priority=`` to the node instead, not both.
"""

from __future__ import annotations

import enum
import math
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from arbiter_core.errors import ConfigurationError
from arbiter_core.masking import mask_url
from arbiter_core.node import MAX_PRIORITY
from arbiter_kombu.leases import PARK_AFTER

PARK_AFTER_QUERY = "park_after"
MAX_PRIORITY_QUERY = "max_priority"
OFF = ("off", "none", "never")


def take_option(url: str, option: str) -> tuple[str, str | None]:
    """``url`` without the query option ``option``, and the value it gave (None: not given).

    Raises :class:`ConfigurationError` for the option given twice.
    """
    parts = urlsplit(url)
    if not parts.query:
        return url, None
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    given = [value for name, value in pairs if name == option]
    if not given:
        return url, None
    if len(given) > 1:
        raise ConfigurationError(f"{mask_url(url)!r}: {option} is given {len(given)} times")
    rest = urlencode([(name, value) for name, value in pairs if name != option])
    return urlunsplit(parts._replace(query=rest)), given[0]


def take_park_after(url: str) -> tuple[str, float | None, bool]:
    """``url`` without ``park_after``, the value it gave (None: off) and whether it gave one.

    Raises :class:`ConfigurationError` for a value that is neither seconds ≥ 0 nor
    ``off``, or for the option given twice.
    """
    url, value = take_option(url, PARK_AFTER_QUERY)
    if value is None:
        return url, None, False
    return url, parse_park_after(value, url), True


def parse_park_after(value: str, url: str) -> float | None:
    """Seconds (a number ≥ 0) or None for ``off``; anything else is refused, naming it."""
    if value.strip().lower() in OFF:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigurationError(
            f"{mask_url(url)!r}: park_after={value!r} is not a number of seconds >= 0 or 'off'"
        )
    return seconds


class DefaultParking(enum.Enum):
    """``park_after`` left out: the URL's ``?park_after=`` if it has one, else
    :data:`~arbiter_kombu.leases.PARK_AFTER`."""

    DEFAULT = "default"


DEFAULT_PARKING = DefaultParking.DEFAULT


def parking(url: str, given: float | DefaultParking | None) -> tuple[str, float | None]:
    """The URL for kombu and the ``park_after`` a node uses, from its argument and URL."""
    url, from_url, in_url = take_park_after(url)
    if given is DEFAULT_PARKING:
        return url, from_url if in_url else PARK_AFTER
    if in_url:
        raise ConfigurationError(
            f"{mask_url(url)!r}: park_after is given both in the URL and as an argument"
        )
    if given is not None and (isinstance(given, bool) or not given >= 0):
        raise ValueError(f"park_after must be seconds >= 0 or None, got {given!r}")
    return url, given


def require_max_priority(value: object, where: str) -> int | None:
    """``9`` or None (no priority queues); anything else is refused, naming it."""
    if value is None or (value == MAX_PRIORITY and not isinstance(value, bool)):
        return None if value is None else MAX_PRIORITY
    raise ConfigurationError(
        f"{where}: max_priority={value!r} is not supported: give max_priority={MAX_PRIORITY} "
        f"(arbiter's levels are 0 to {MAX_PRIORITY}, each served apart) or leave it out "
        "(plain FIFO queues)"
    )


def priority_levels(url: str, given: int | None) -> tuple[str, int | None]:
    """The URL for kombu and the ``max_priority`` a node uses, from its argument and URL."""
    url, from_url = take_option(url, MAX_PRIORITY_QUERY)
    if from_url is None:
        return url, require_max_priority(given, "max_priority argument")
    if given is not None:
        raise ConfigurationError(
            f"{mask_url(url)!r}: max_priority is given both in the URL and as an argument"
        )
    value: object = MAX_PRIORITY if from_url.strip() == str(MAX_PRIORITY) else from_url
    return url, require_max_priority(value, repr(mask_url(url)))
