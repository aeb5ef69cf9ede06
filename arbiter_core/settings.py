"""Every setting arbiter reads, with its default. Where values come from: ``config``."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_BROKER_URL = "memory://"
DEFAULT_RESULT_TTL = 24 * 3600.0
"""Seconds a finished task's record is kept (as Celery's ``result_expires``)."""
DEFAULT_LEASE = 30.0
"""Seconds a pulled message stays invisible; a live worker renews it every third of that."""
DEFAULT_MAX_DELIVERIES = 5
"""Deliveries without an ack before a message goes to the dead letters (poison messages)."""
DEFAULT_BROKER_TIMEOUT = 5.0
"""Seconds a command keeps trying to reach a broker that does not answer before it fails
with ``BrokerConnectionError``: long enough to ride out a broker restart."""


@dataclass(frozen=True)
class Settings:
    """Resolved configuration, passed to node factories and the Minion/Arbiter.

    ``state_url`` None means the broker's own state store. ``signing_secret``
    switches on HMAC signing of every message; ``serializer`` is ``"json"``
    unless the user opts into ``"pickle"``, which requires a signing secret.
    ``broker_timeout`` bounds how long a client retries a broker it cannot reach.
    """

    broker_url: str = DEFAULT_BROKER_URL
    state_url: str | None = None
    namespace: str = "arbiter"
    result_ttl: float = DEFAULT_RESULT_TTL
    lease: float = DEFAULT_LEASE
    max_deliveries: int = DEFAULT_MAX_DELIVERIES
    broker_timeout: float = DEFAULT_BROKER_TIMEOUT
    serializer: str = "json"
    signing_secret: str | None = field(default=None, repr=False)
