"""Masking secrets in URLs: what may be printed, logged or shown in a banner.

A broker URL may carry its password in the user info (``redis://:pw@host``) or
as a query parameter (``redis://host?password=pw``, as redis-py and kombu
accept); both are replaced by ``***``. A URL that does not parse is returned as
it is only when it cannot hold a password in either place.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
SECRET_PARAMETERS = frozenset({"password", "pass", "passwd", "secret", "token", "ssl_password"})
"""Query parameters whose values are masked, compared case-insensitively."""

_SECRET_PARAMETER = re.compile(
    r"([?&;](?:" + "|".join(sorted(SECRET_PARAMETERS)) + r")=)[^&;#]*", re.IGNORECASE
)


def mask_url(url: str) -> str:
    """``url`` with any password (user info or query parameter) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # an unparsable netloc (a bad port, a bracket...): mask by pattern
        return _mask_unparsable(url)
    netloc = parts.netloc
    if password is not None:
        user = parts.username or ""
        host = netloc.rpartition("@")[2]
        netloc = f"{user}:{MASK}@{host}"
    query = parts.query
    if query and any(k.lower() in SECRET_PARAMETERS for k, _ in parse_qsl(query, True)):
        query = urlencode(
            [
                (k, MASK if k.lower() in SECRET_PARAMETERS else v)
                for k, v in parse_qsl(query, keep_blank_values=True)
            ],
            safe="*/",
        )
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _mask_unparsable(url: str) -> str:
    """Mask a URL ``urlsplit`` refuses: everything before the last ``@`` of the
    authority, and the value of every secret query parameter."""
    scheme, sep, rest = url.partition("://")
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        authority = f"{MASK}@{authority.rpartition('@')[2]}"
    return _SECRET_PARAMETER.sub(rf"\g<1>{MASK}", f"{scheme}{sep}{authority}{slash}{tail}")
