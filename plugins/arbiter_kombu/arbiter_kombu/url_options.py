"""What a URL's query may set for the node itself, taken out before kombu sees the URL.

``park_after`` is the one such option: the seconds a delivery is held before a renew
parks it (see :mod:`arbiter_kombu.leases`), or ``off`` to never park. A URL is all an
operator gives ``arbiter minion --broker`` or ``ARBITER_BROKER_URL``, so this is how
they tune it; Python code may pass ``park_after=`` to the node instead, not both.
"""

from __future__ import annotations

import enum
import math
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from arbiter_core.errors import ConfigurationError
from arbiter_core.masking import mask_url
from arbiter_kombu.leases import PARK_AFTER

PARK_AFTER_QUERY = "park_after"
OFF = ("off", "none", "never")


def take_park_after(url: str) -> tuple[str, float | None, bool]:
    """``url`` without ``park_after``, the value it gave (None: off) and whether it gave one.

    Raises :class:`ConfigurationError` for a value that is neither seconds ≥ 0 nor
    ``off``, or for the option given twice.
    """
    parts = urlsplit(url)
    if not parts.query:
        return url, None, False
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    given = [value for name, value in pairs if name == PARK_AFTER_QUERY]
    if not given:
        return url, None, False
    if len(given) > 1:
        raise ConfigurationError(f"{mask_url(url)!r}: park_after is given {len(given)} times")
    rest = urlencode([(name, value) for name, value in pairs if name != PARK_AFTER_QUERY])
    return urlunsplit(parts._replace(query=rest)), parse_park_after(given[0], url), True


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
