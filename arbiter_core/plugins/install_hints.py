"""The ``pip install`` lines for what a default install lacks, in one place.

Only lines that really work belong here. The RabbitMQ backend, arbiter-kombu, is not on
PyPI yet: its line installs it from a clone of arbiter, and says so.
"""

from __future__ import annotations

from collections.abc import Mapping

REDIS_EXTRA = "pip install 'arbiter-tasks[redis]'"
"""The Redis backend ships in ``arbiter-tasks``; its client is the ``redis`` extra."""

KOMBU_PLUGIN = "pip install ./plugins/arbiter_kombu (from a clone of arbiter: not on PyPI yet)"
"""RabbitMQ and kombu's transports: a distribution of its own, kept in this repository."""
KOMBU_PREFIX = "kombu+"
"""``kombu+<transport>://``: any scheme with this prefix is the kombu plugin's."""

SCHEME_INSTALL_HINTS: Mapping[str, str] = {
    "redis": REDIS_EXTRA,
    "rediss": REDIS_EXTRA,
    "unix": REDIS_EXTRA,
    "amqp": KOMBU_PLUGIN,
    "amqps": KOMBU_PLUGIN,
}
"""Well-known URL schemes whose plugin is not installed by default, and how to get it."""


def scheme_install_hint(scheme: str) -> str | None:
    """The install line for ``scheme``'s plugin, if it is a well-known one."""
    if scheme.startswith(KOMBU_PREFIX):
        return KOMBU_PLUGIN
    return SCHEME_INSTALL_HINTS.get(scheme)


MODULE_INSTALL_HINTS: Mapping[str, str] = {
    "redis": REDIS_EXTRA,
    "arbiter_redis": REDIS_EXTRA,
    "arbiter_kombu": KOMBU_PLUGIN,
}
"""Top-level modules a lazy reference may miss, and the install line that brings them."""
