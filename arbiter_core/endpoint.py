"""What the Minion and the Arbiter share: a node, resolved settings and a wire format.

Both accept an :class:`~arbiter_core.node.EventNode`, a broker URL, or nothing
(the configured broker), so swapping brokers never needs a code change.
"""

from __future__ import annotations

from dataclasses import asdict
from types import TracebackType
from typing import Any, TypeVar

from arbiter_core.config import load_settings
from arbiter_core.connect import connect
from arbiter_core.errors import ConfigurationError
from arbiter_core.node import EventNode
from arbiter_core.plugins import PluginRegistry, default_registry
from arbiter_core.wire import WireFormat
from arbiter_core.wire.limits import Limits

NodeLike = EventNode | str | None
"""A node, a broker URL, or None for the configured broker."""

E = TypeVar("E", bound="Endpoint")


class Endpoint:
    """Owns the node it connected itself (and closes it); borrows one it was given."""

    def __init__(
        self, event_node: NodeLike, *, registry: PluginRegistry | None = None, **settings: Any
    ) -> None:
        self.registry = registry or default_registry()
        if isinstance(event_node, EventNode):
            # A node may carry a signing secret (RedisEventNode's hmac_key=, as upstream's).
            node_secret = getattr(event_node, "signing_secret", None)
            if node_secret is not None:
                given = settings.get("signing_secret")
                if given is not None and given != node_secret:
                    raise ConfigurationError(
                        "signing_secret= differs from the secret the node was built with "
                        "(hmac_key=); pass it in one place"
                    )
                settings = {**settings, "signing_secret": node_secret}
            self.settings = load_settings(**{**settings, "namespace": event_node.namespace})
            self.node = event_node
            self._owns_node = False
        elif event_node is None or isinstance(event_node, str):
            self.settings = load_settings(broker_url=event_node, **settings)
            resolved = {k: v for k, v in asdict(self.settings).items() if k != "broker_url"}
            self.node = connect(self.settings.broker_url, registry=self.registry, **resolved)
            self._owns_node = True
        else:
            raise TypeError(
                f"expected an EventNode, a broker URL or None, got {type(event_node).__name__}"
            )
        self.wire = WireFormat(
            self.settings.serializer,
            signing_secrets=self.settings.signing_keys,
            limits=Limits.of(self.settings),
        )

    def close(self) -> None:
        """Close the node if this object opened it."""
        if self._owns_node:
            self.node.close()

    def __enter__(self: E) -> E:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
