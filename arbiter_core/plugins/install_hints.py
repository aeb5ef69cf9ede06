"""The ``pip install`` lines for what a default install lacks, in one place.

Only lines that really work belong here: a URL scheme or module with no published
backend (``amqp://``, ``kombu``) has no entry, so its error says that no installed
plugin provides it instead of naming a distribution that does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping

REDIS_EXTRA = "pip install 'arbiter-tasks[redis]'"
"""The Redis backend ships in ``arbiter-tasks``; its client is the ``redis`` extra."""

SCHEME_INSTALL_HINTS: Mapping[str, str] = {
    "redis": REDIS_EXTRA,
    "rediss": REDIS_EXTRA,
    "unix": REDIS_EXTRA,
}
"""Well-known URL schemes whose plugin is not installed by default, and how to get it."""

MODULE_INSTALL_HINTS: Mapping[str, str] = {
    "redis": REDIS_EXTRA,
    "arbiter_redis": REDIS_EXTRA,
}
"""Top-level modules a lazy reference may miss, and the install line that brings them."""
