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

MIB = 1024 * 1024
DEFAULT_MAX_MESSAGE_SIZE = 16 * MIB
"""Bytes of one task message, as framed. RabbitMQ 4 refuses bigger messages by default,
and every queued message sits in the broker's memory (Redis) until a worker takes it:
pass a reference (a path, a URL, a key) to big data instead."""
DEFAULT_MAX_RESULT_SIZE = 16 * MIB
"""Bytes of one finished task's record (its result, encoded): it stays in the state
store's memory for ``result_ttl``."""
DEFAULT_MAX_NESTING_DEPTH = 64
"""Levels that lists and dicts may nest inside one argument: real data nests a few
levels, while thousands exhaust the decoder's stack."""
DEFAULT_MAX_TASK_NAME_LENGTH = 256
"""Characters of a task name, which every log line, record and listing repeats."""


@dataclass(frozen=True)
class Settings:
    """Resolved configuration, passed to node factories and the Minion/Arbiter.

    ``state_url`` None means the broker's own state store. ``signing_secret``
    switches on HMAC signing of every message; ``serializer`` is ``"json"``
    unless the user opts into ``"pickle"``, which requires a signing secret.
    ``broker_timeout`` bounds how long a client retries a broker it cannot reach.
    ``signing_secrets`` is a list for key rotation: the first signs, every one
    verifies; ``signing_secret`` is the one-key form of it, and only one of the two
    may be set (:attr:`signing_keys` is whichever is). The ``max_*`` settings are the
    limits of :mod:`arbiter_core.wire.limits`.
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
    signing_secrets: tuple[str, ...] | None = field(default=None, repr=False)
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    max_result_size: int = DEFAULT_MAX_RESULT_SIZE
    max_nesting_depth: int = DEFAULT_MAX_NESTING_DEPTH
    max_task_name_length: int = DEFAULT_MAX_TASK_NAME_LENGTH

    @property
    def signing_keys(self) -> tuple[str, ...]:
        """The secrets that verify, the signing one first; empty when signing is off."""
        if self.signing_secrets:
            return self.signing_secrets
        return (self.signing_secret,) if self.signing_secret else ()
