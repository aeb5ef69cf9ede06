"""Connecting to Redis: the URL or seed-style arguments, the pool, timeouts and retries.

Everything :class:`~arbiter_redis.node.RedisEventNode` needs before its first command,
apart from the node (arq's ``connections.py`` habit): which URL it shows (password
masked), the redis-py pool built from the URL or from ``host``/``port``/``password``,
socket timeouts, health checks and the retry policy with backoff.

redis-py is imported when a node is created (:func:`import_redis`), not when this
module is, so the plugin can list its schemes without the ``[redis]`` extra installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

from arbiter_core.errors import ConfigurationError
from arbiter_core.masking import mask_url
from arbiter_core.settings import DEFAULT_BROKER_TIMEOUT
from arbiter_redis.options import url_query

INSTALL_HINT = "pip install 'arbiter-tasks[redis]'"
SCHEMES = ("redis", "rediss", "unix")

DEFAULT_SOCKET_TIMEOUT = 10.0
"""Seconds a command may wait for its reply before the connection counts as broken."""
DEFAULT_CONNECT_TIMEOUT = 3.0
"""Seconds to establish a connection."""
HEALTH_CHECK_INTERVAL = 15
"""Idle seconds after which a pooled connection is PINGed before use (and the pub/sub one is)."""
RETRY_BACKOFF_BASE = 0.1
RETRY_BACKOFF_CAP = 2.0
"""A failed command is retried on a new connection, waiting 0.2, 0.4, 0.8, 1.6, 2, 2... s
until the waits add up to the ``broker_timeout`` setting (5 s by default: five retries,
enough to ride out a server restart; the last wait is cut to fit); then
:class:`~arbiter_core.errors.BrokerConnectionError` is raised."""
MAX_RETRIES = 1000


def retry_waits(budget: float) -> list[float]:
    """The waits between tries that add up to ``budget`` seconds (see RETRY_BACKOFF_CAP)."""
    waits: list[float] = []
    left = budget
    while left > 1e-6 and len(waits) < MAX_RETRIES:
        wait = min(RETRY_BACKOFF_CAP, RETRY_BACKOFF_BASE * 2 ** (len(waits) + 1), left)
        waits.append(wait)
        left -= wait
    return waits


def connect_timeout(budget: float) -> float:
    """Each try's connect timeout: a server that refuses fails a try at once; only one
    that does not answer at all takes this long per try."""
    return min(DEFAULT_CONNECT_TIMEOUT, budget)


def retry_policy(budget: float) -> Any:
    """A redis-py ``Retry`` whose waits are :func:`retry_waits` of ``budget``."""
    from redis.backoff import AbstractBackoff  # noqa: PLC0415 - redis is optional
    from redis.retry import Retry  # noqa: PLC0415

    waits = retry_waits(budget)

    class BudgetBackoff(AbstractBackoff):
        def compute(self, failures: int) -> float:
            return waits[min(failures, len(waits)) - 1] if waits else 0.0

    return Retry(BudgetBackoff(), len(waits))


def import_redis() -> ModuleType:
    """The redis-py module, or a ConfigurationError that names the extra to install."""
    try:
        import redis  # noqa: PLC0415 - optional extra, imported only when a node is made
    except ImportError as exc:
        raise ConfigurationError(
            f"the Redis backend needs the redis client, which is not installed: {INSTALL_HINT}"
        ) from exc
    return redis


class RedisErrors(NamedTuple):
    """The redis-py exceptions a node turns into arbiter's (or handles itself)."""

    connection: tuple[type[BaseException], ...]
    """The server could not be reached (the command may be retried)."""
    any: type[BaseException]
    """Every redis-py error."""
    missing_script: type[BaseException]
    """NOSCRIPT: the server lost its script cache (it restarted, or SCRIPT FLUSH)."""
    refused: type[BaseException]
    """The server answered with an error (e.g. an ACL or a proxy that forbids a command)."""
    no_permission: type[BaseException]
    """NOPERM: the ACL user may not run the command, or touch the key or channel."""

    @classmethod
    def of(cls, redis_module: ModuleType) -> RedisErrors:
        errors = redis_module.exceptions
        return cls(
            (errors.ConnectionError, errors.TimeoutError),
            errors.RedisError,
            errors.NoScriptError,
            errors.ResponseError,
            errors.NoPermissionError,
        )

    def acl_refusal(self, error: BaseException) -> bool:
        """Whether ``error`` is an ACL's no: NOPERM, or a command inside a script that the
        user may not run (which Redis 7.0 reports as a plain error, naming the script)."""
        return isinstance(error, self.no_permission) or SCRIPT_REFUSAL in str(error)


SCRIPT_REFUSAL = "can't run this command"
"""What Redis says when a script calls a command the ACL user may not run."""


def acl_recipe(namespace: str) -> str:
    """The key and channel patterns an ACL user needs for ``namespace`` (docs/security.md)."""
    return f"~{{{namespace}}}:* &{{{namespace}}}:*"


def permission_hint(namespace: str) -> str:
    """What to tell a user whose ACL refused a command (NOPERM names only the kind of thing
    refused, not which key or channel, so this says what the node needs)."""
    return (
        f"; this node of namespace {namespace!r} touches only keys and channels starting "
        f"with {{{namespace}}}: the Redis ACL user needs {acl_recipe(namespace)} and the "
        "commands listed in docs/security.md ('Least privilege and TLS on Redis'), "
        "its own and those of the Lua scripts"
    )


TLS_HINTS = (
    (
        "CERTIFICATE_VERIFY_FAILED",
        "the server's certificate is not signed by a CA this client trusts (or does not "
        "name this host): give the CA's certificate as ?ssl_ca_certs=/path/ca.pem",
    ),
    (
        "CERTIFICATE_REQUIRED",
        "the server asks for a client certificate (tls-auth-clients yes): give "
        "?ssl_certfile=/path/client.pem&ssl_keyfile=/path/client.key",
    ),
)
"""OpenSSL reasons a TLS connection fails on, and what the user should change."""


def connection_hint(error: BaseException, tls: bool) -> str:
    """A hint for a connection error whose cause is a setting, not the network (TLS)."""
    text = str(error)
    for reason, hint in TLS_HINTS:
        if reason in text:
            return f"; {hint} (see docs/security.md)"
    if tls and "Timeout connecting" in text:
        # a server without TLS on the port never answers the handshake (until socket_timeout)
        return "; if the server does not speak TLS on this port, use redis:// instead"
    if tls and ("EOF occurred in violation of protocol" in text or "reset by peer" in text):
        # TLS 1.3: a server refusing the client's certificate (or its absence) may just close
        # the connection, which the client sees as an EOF or, writing, as a reset
        return (
            "; the server closed the TLS connection: if it requires client certificates, "
            "give ?ssl_certfile=/path/client.pem&ssl_keyfile=/path/client.key, signed by a "
            "CA in its tls-ca-cert-file (see docs/security.md)"
        )
    return ""


class Address(NamedTuple):
    """The seed-style arguments: where the server is, who logs in, and whether over TLS."""

    host: str
    port: int
    db: int
    username: str | None
    password: str | None
    """None or empty: no password."""
    ssl: bool

    @property
    def url(self) -> str:
        """The (masked) URL these arguments stand for."""
        user = quote(self.username or "", safe="")
        auth = f"{user}:***@" if self.password else (f"{user}@" if user else "")
        return f"{'rediss' if self.ssl else 'redis'}://{auth}{self.host}:{self.port}/{self.db}"


def shown_url(url: str | None, address: Address) -> str:
    """The URL a node shows (password masked): ``url`` if given, which must be a Redis one."""
    if url is None:
        return address.url
    if urlsplit(url).scheme.lower() not in SCHEMES:
        raise ConfigurationError(
            f"{mask_url(url)!r} is not a Redis URL; expected one of "
            + ", ".join(f"{s}://" for s in SCHEMES)
        )
    return mask_url(url)


def url_socket_timeout(url: str, default: float) -> float:
    """The socket timeout a Redis URL sets (``?socket_timeout=5``), else ``default``.

    Checks the URL's query parameters (:func:`arbiter_redis.options.url_query`) on the way.
    """
    value = url_query(url).get("socket_timeout")
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        raise ConfigurationError(
            f"{mask_url(url)}: socket_timeout={value!r} is not a number of seconds"
        ) from None


def connect(
    redis_module: ModuleType,
    url: str | None,
    address: Address,
    socket_timeout: float,
    overrides: Mapping[str, Any],
    broker_timeout: float = DEFAULT_BROKER_TIMEOUT,
) -> Any:
    """A client on a pool with timeouts, health checks and retries; ``overrides`` win.

    ``url``, if given, replaces every part of ``address``; its query parameters and
    ``overrides`` must already be checked (:mod:`arbiter_redis.options`). Nothing
    connects yet: one connection object is made, unopened, so that an option the
    installed redis-py does not take fails here rather than on the first command.
    """
    errors = list(RedisErrors.of(redis_module).connection)
    options: dict[str, Any] = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": connect_timeout(broker_timeout),
        "health_check_interval": HEALTH_CHECK_INTERVAL,
        "retry": retry_policy(broker_timeout),
        # redis-py 5 retries only errors listed here; later versions read the Retry's list
        "retry_on_error": errors,
    }
    if url is None or urlsplit(url).scheme.lower() != "unix":
        options["socket_keepalive"] = True
    options.update(overrides)
    try:
        if url is not None:
            pool = redis_module.ConnectionPool.from_url(url, **options)
        else:
            pool = redis_module.ConnectionPool(
                connection_class=redis_module.SSLConnection
                if address.ssl
                else redis_module.Connection,
                host=address.host,
                port=address.port,
                db=address.db,
                username=address.username,
                password=address.password or None,
                **options,
            )
        pool.connection_class(**pool.connection_kwargs)  # made, never opened
    except (TypeError, ValueError) as exc:
        where = mask_url(url) if url is not None else "the Redis arguments"
        raise ConfigurationError(f"invalid Redis settings in {where}: {exc}") from exc
    return redis_module.Redis(connection_pool=pool)


def single_try_client(client: Any) -> Any:
    """A client to the same server as ``client`` that tries each command once, no retries.

    For what ``close()`` sends, which is best effort: with the server gone, waiting out
    the retry budget would only delay the close.
    """
    redis_module = import_redis()
    from redis.backoff import NoBackoff  # noqa: PLC0415 - redis is optional
    from redis.retry import Retry  # noqa: PLC0415

    pool = client.connection_pool
    options = {**pool.connection_kwargs, "retry": Retry(NoBackoff(), 0), "retry_on_error": []}
    return redis_module.Redis(
        connection_pool=redis_module.ConnectionPool(
            connection_class=pool.connection_class, **options
        )
    )
