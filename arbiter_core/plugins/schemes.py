"""Broker URL schemes: read from a URL, and explained when no installed plugin serves one.

The explanation lists the installed schemes, suggests the closest one, gives the
``pip install`` line only for a scheme whose backend really exists (see
:mod:`~arbiter_core.plugins.install_hints`), and names the plugins that failed to
load, since one of them may be the missing backend. A URL is never echoed back
whole, so a password in it is not either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from arbiter_core.errors import ConfigurationError
from arbiter_core.plugins.declarations import SchemeInfo
from arbiter_core.plugins.install_hints import scheme_install_hint
from arbiter_core.plugins.loading import BrokenPlugin
from arbiter_core.plugins.suggestions import did_you_mean, listing

_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def url_scheme(url: str) -> str:
    """The lower-cased scheme of ``url``; ConfigurationError if it has none."""
    match = _URL_SCHEME.match(url) if isinstance(url, str) else None
    if match is None:
        raise ConfigurationError(
            f"{url!r} is not a broker URL: expected scheme://..., "
            "e.g. memory:// or redis://localhost:6379/0"
        )
    return match.group(1).lower()


def unknown_scheme(
    scheme: str, schemes: Mapping[str, SchemeInfo], broken: Iterable[BrokenPlugin]
) -> str:
    """The message for a ``scheme`` that none of the installed ``schemes`` is."""
    message = f"no installed plugin serves {scheme}:// URLs"
    hint = scheme_install_hint(scheme)
    if hint:
        message += f"; install its backend with: {hint}"
    else:
        message += did_you_mean(scheme, schemes, suffix="://")
    message += f". Installed schemes: {listing(schemes, suffix='://')}"
    failed = ", ".join(f"{b.name!r} ({b.error})" for b in broken)
    if failed:
        message += f". Plugins that failed to load (one may serve it): {failed}"
    return message
