"""``connect()``: from a URL (or the configuration) to a ready EventNode, through the plugins."""

from __future__ import annotations

import difflib
from typing import Any

from arbiter_core.config import SETTING_NAMES, load_settings
from arbiter_core.errors import ConfigurationError
from arbiter_core.node import QUEUE, STATE, ComposedNode, EventNode
from arbiter_core.plugins import PluginRegistry, default_registry


def connect(
    url: str | None = None,
    *,
    state_url: str | None = None,
    registry: PluginRegistry | None = None,
    **settings: Any,
) -> EventNode:
    """Open the broker at ``url``, or wherever the configuration points (``memory://`` by default).

    ``url``, ``state_url`` and the other keyword settings (``namespace``,
    ``lease``, ...) override the environment and config files (see
    :mod:`arbiter_core.config`), so the same application code runs on
    ``memory://``, ``redis://`` or ``amqp://`` with nothing changed but
    ``ARBITER_BROKER_URL``. When a state URL is set (``state_url`` /
    ``ARBITER_STATE_URL``), task records live there and the broker keeps only
    queues and broadcast — the way Celery separates broker and result backend.

    ``registry`` defaults to the installed plugins. The caller owns the node:
    close it, or use it as a context manager.
    """
    unknown = sorted(set(settings) - set(SETTING_NAMES))
    if unknown:
        close = difflib.get_close_matches(unknown[0], SETTING_NAMES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise TypeError(f"connect() got an unknown setting {unknown[0]!r}{hint}")
    resolved = load_settings(broker_url=url, state_url=state_url, **settings)
    registry = default_registry() if registry is None else registry

    broker = registry.create_node(resolved.broker_url, resolved)
    try:
        if QUEUE not in broker.capabilities:
            raise ConfigurationError(
                f"{broker.url} has no work queues, so it cannot be the broker; "
                "use it as state_url (ARBITER_STATE_URL) instead"
            )
        if resolved.state_url is None or resolved.state_url == resolved.broker_url:
            if STATE not in broker.capabilities:
                raise ConfigurationError(
                    f"{broker.url} has no state store for task records; set state_url "
                    "(or ARBITER_STATE_URL) to a backend that has one, "
                    "e.g. redis://localhost:6379/0"
                )
            return broker
        state = registry.create_node(resolved.state_url, resolved)
    except BaseException:
        broker.close()
        raise
    try:
        return ComposedNode(broker, state, record_ttl=resolved.result_ttl)
    except BaseException:
        broker.close()
        state.close()
        raise
