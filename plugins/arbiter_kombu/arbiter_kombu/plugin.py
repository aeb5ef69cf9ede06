"""The plugin's hook: the URL schemes it serves, named lazily.

``amqp://`` and ``amqps://`` are RabbitMQ (kombu's py-amqp transport);
``kombu+<transport>://`` is any of kombu's transports by its alias
(``kombu+memory://`` is the in-process one the fast tests use). The list is
written out here rather than read from ``kombu.transport.TRANSPORT_ALIASES``, so
that ``arbiter plugins`` never imports kombu; a test checks it against kombu's.
Nothing is imported until a URL with one of these schemes is used.
"""

from __future__ import annotations

from arbiter_core.plugins import hookimpl

FACTORY = "arbiter_kombu.node:create_node"

KOMBU_TRANSPORTS: tuple[str, ...] = (
    "amqp",
    "amqps",
    "azureservicebus",
    "azurestoragequeues",
    "confluentkafka",
    "consul",
    "etcd",
    "filesystem",
    "gcpubsub",
    "kafka",
    "librabbitmq",
    "memory",
    "mongodb",
    "pgmq",
    "pyamqp",
    "pyro",
    "qpid",
    "redis",
    "rediss",
    "sentinel",
    "slmq",
    "sqla",
    "sqlalchemy",
    "sqs",
    "zookeeper",
)
"""kombu's transport aliases (lower-case), each served as ``kombu+<alias>://``."""


def schemes() -> dict[str, str]:
    """Every scheme this plugin serves, with its factory reference."""
    served = {"amqp": FACTORY, "amqps": FACTORY}
    served.update({f"kombu+{alias}": FACTORY for alias in KOMBU_TRANSPORTS})
    return served


@hookimpl
def arbiter_node_schemes() -> dict[str, str]:
    return schemes()


@hookimpl
def arbiter_public_names() -> dict[str, str]:
    """``from arbiter import KombuEventNode``, imported on first use."""
    return {"KombuEventNode": "arbiter_kombu.node:KombuEventNode"}
