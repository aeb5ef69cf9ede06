"""arbiter-kombu: RabbitMQ and kombu's other transports as arbiter brokers.

``amqp://`` / ``amqps://`` reach RabbitMQ; ``kombu+<transport>://`` any kombu
transport (``kombu+memory://`` for tests). RabbitMQ keeps queues and broadcast
only: task records come from a state store of their own (``state_url=`` /
``ARBITER_STATE_URL``, e.g. Redis), which ``arbiter.connect`` composes with it.
The node is :class:`arbiter_kombu.node.KombuEventNode` (also ``from arbiter import
KombuEventNode``); its module docstring gives the design, README.md its limits.

This package does not import kombu: the plugin's hook (:mod:`arbiter_kombu.plugin`)
is loaded by every ``arbiter`` command, and kombu only when a URL of its schemes is used.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("arbiter-kombu")
except PackageNotFoundError:  # pragma: no cover - imported from a source tree
    __version__ = "0+unknown"

__all__ = ["__version__"]
