"""Which keyword arguments :class:`~arbiter_redis.node.RedisEventNode` takes beyond its own.

Checked when the node is built, so a mistake is a ``TypeError`` (an unknown name, with
the closest known one) or a :class:`~arbiter_core.errors.ConfigurationError` (a known
option with a value that cannot be honoured) there, not a redis-py traceback on the
first command or in the listener thread:

* :data:`POOL_OPTIONS`: the redis-py connection options passed through, an explicit
  allow-list. :data:`TLS_OPTIONS` need TLS (``rediss://``, ``ssl=True`` or
  ``use_ssl=True``); :data:`TCP_OPTIONS` are refused for ``unix://`` sockets.
* :data:`UPSTREAM_OPTIONS`: carrier-io/arbiter's ``RedisEventNode`` arguments. Those
  with a meaning here are mapped (``use_ssl`` is TLS, ``hmac_key`` the signing secret,
  ``ssl_verify`` certificate checks); those without one are accepted only at the value
  that asks for what arbiter does anyway, and refused otherwise with what to do instead.
* :data:`URL_QUERY_OPTIONS`: what a Redis URL's query may set (``?db=2&socket_timeout=5``).

``docs/migrating.md`` has the table of the upstream options.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from arbiter_core.errors import ConfigurationError
from arbiter_core.masking import mask_url
from arbiter_core.plugins import did_you_mean, listing

CONSTRUCTOR_ARGUMENTS = frozenset(
    {
        "host",
        "port",
        "password",
        "event_queue",
        "url",
        "db",
        "username",
        "ssl",
        "namespace",
        "max_deliveries",
        "socket_timeout",
        "client",
    }
)
"""The node's own arguments (named here only for the did-you-mean suggestions)."""

TLS_OPTIONS = frozenset(
    {
        "ssl_keyfile",
        "ssl_certfile",
        "ssl_cert_reqs",
        "ssl_ca_certs",
        "ssl_ca_data",
        "ssl_ca_path",
        "ssl_check_hostname",
        "ssl_password",
        "ssl_min_version",
        "ssl_ciphers",
    }
)
"""redis-py's TLS options: only with TLS (plain connections do not take them)."""
TCP_OPTIONS = frozenset({"socket_keepalive", "socket_keepalive_options"})
"""Options of TCP connections: a ``unix://`` socket does not take them."""
POOL_OPTIONS = (
    frozenset(
        {
            "socket_connect_timeout",
            "health_check_interval",
            "retry",
            "retry_on_error",
            "retry_on_timeout",
            "max_connections",
            "client_name",
            "credential_provider",
        }
    )
    | TLS_OPTIONS
    | TCP_OPTIONS
)
"""The redis-py ``ConnectionPool`` / connection options a node passes through.

Each changes how the node connects, never what the server's replies look like, which
the node's scripts and parsers depend on (hence no ``decode_responses`` or
``protocol``, see :data:`REFUSED_REDIS_OPTIONS`)."""

REFUSED_REDIS_OPTIONS: Mapping[str, str] = {
    "decode_responses": "the node reads replies as bytes; decode in a client of your own",
    "encoding": "the node reads replies as bytes; decode in a client of your own",
    "encoding_errors": "the node reads replies as bytes; decode in a client of your own",
    "protocol": "the node speaks RESP2, whose replies its scripts are read as",
    "connection_class": "use url='rediss://…' for TLS or url='unix:///path.sock' for a socket",
    "connection_pool": "pass client=redis.Redis(connection_pool=...) instead",
    "unix_socket_path": "use url='unix:///path/to/redis.sock'",
}
"""redis-py options a user may reach for that would break the node, and what to do instead."""

URL_QUERY_OPTIONS = frozenset(
    {
        "db",
        "username",
        "password",
        "socket_timeout",
        "socket_connect_timeout",
        "socket_keepalive",
        "health_check_interval",
        "max_connections",
        "retry_on_timeout",
        "client_name",
        "ssl_cert_reqs",
        "ssl_check_hostname",
        "ssl_ca_certs",
        "ssl_ca_path",
        "ssl_certfile",
        "ssl_keyfile",
        "ssl_password",
        "ssl_min_version",
        "ssl_ciphers",
    }
)
"""Query parameters a Redis URL may carry (redis-py's ``from_url`` reads them).

The ``ssl_*`` ones need ``rediss://``: ``ssl_ca_certs`` (the CA file that signed the
server's certificate), ``ssl_certfile`` and ``ssl_keyfile`` (this client's certificate
and key, for a server with ``tls-auth-clients yes``), ``ssl_password`` (the key's
passphrase; masked wherever the URL is shown, like ``password``)."""


# --- carrier-io/arbiter's RedisEventNode -------------------------------------------------------

SUPPORTED_DIGESTS = frozenset({"sha256"})
"""HMAC digests arbiter signs with: its frames carry HMAC-SHA256 (see ``arbiter_core.wire``)."""

UPSTREAM_DEFAULTS: Mapping[str, object] = {
    "callback_workers": 1,
    "log_errors": True,
    "mute_first_failed_connections": 0,
    "use_managed_identity": False,
}
"""Upstream options with no meaning here, at the one value that asks for nothing more
than what a node does anyway: accepted (and ignored) at it, refused at any other."""

UPSTREAM_REFUSALS: Mapping[str, str] = {
    "callback_workers": (
        "a node runs subscription callbacks one at a time on its listener thread; "
        "hand slow work to a task (or a pool of your own) from the callback"
    ),
    "log_errors": (
        "errors are logged through the standard logging module; to silence them, set "
        "the level of the 'arbiter' loggers, e.g. "
        "logging.getLogger('arbiter').setLevel(logging.CRITICAL)"
    ),
    "mute_first_failed_connections": (
        "building a node never connects; a command that cannot reach the server is "
        "retried with backoff and then raises BrokerConnectionError, and a minion "
        "started before its broker waits with backoff; filter the 'arbiter' loggers "
        "to quieten that"
    ),
    "use_managed_identity": (
        "pass credential_provider= instead, e.g. redis_entraid's "
        "create_from_default_azure_credential(('https://redis.azure.com/.default',))"
    ),
    "retry_interval": (
        "failed commands are retried with exponential backoff (about five seconds in "
        "all); for a fixed interval pass retry=redis.retry.Retry("
        "redis.backoff.ConstantBackoff(3.0), 5)"
    ),
}
"""Why an upstream option cannot be honoured, and what to do instead."""

UPSTREAM_OPTIONS = frozenset(
    {"hmac_key", "hmac_digest", "use_ssl", "ssl_verify", *UPSTREAM_REFUSALS}
)
"""carrier-io/arbiter's ``RedisEventNode`` arguments beyond ``host``, ``port``,
``password`` and ``event_queue``, which the node takes under the same names."""

KNOWN = CONSTRUCTOR_ARGUMENTS | POOL_OPTIONS | UPSTREAM_OPTIONS


class NodeOptions(NamedTuple):
    """A node's extra keyword arguments, sorted out."""

    ssl: bool
    """Whether to connect over TLS (``ssl=`` or upstream's ``use_ssl=``)."""
    signing_secret: str | None
    """Upstream's ``hmac_key``: the secret the node's Arbiter and Minion sign with."""
    pool: dict[str, Any]
    """redis-py options to pass through (all in :data:`POOL_OPTIONS`)."""


def sort_out(options: Mapping[str, Any], *, url: str | None, ssl: bool) -> NodeOptions:
    """Check the extra keyword arguments and map upstream's; TypeError for unknown names.

    ``url`` (the node's, if given) decides TLS and the socket kind instead of ``ssl``.
    """
    unknown = sorted(set(options) - KNOWN - set(REFUSED_REDIS_OPTIONS))
    if unknown:
        named = ", ".join(f"{name!r}{did_you_mean(name, KNOWN)}" for name in unknown)
        plural = "s" if len(unknown) > 1 else ""
        raise TypeError(
            f"RedisEventNode() got unexpected keyword argument{plural} {named}; the "
            f"redis-py options it passes through are: {listing(POOL_OPTIONS)}"
        )
    refused = sorted(set(options) & set(REFUSED_REDIS_OPTIONS))
    if refused:
        name = refused[0]
        raise TypeError(f"RedisEventNode() does not take {name}=: {REFUSED_REDIS_OPTIONS[name]}")
    for name, default in UPSTREAM_DEFAULTS.items():
        if name in options and options[name] != default:
            raise ConfigurationError(
                f"{name}={options[name]!r} (carrier-io/arbiter) has no equivalent here: "
                f"{UPSTREAM_REFUSALS[name]}"
            )
    if "retry_interval" in options:
        raise ConfigurationError(
            f"retry_interval={options['retry_interval']!r} (carrier-io/arbiter) has no "
            f"equivalent here: {UPSTREAM_REFUSALS['retry_interval']}"
        )
    pool = {name: value for name, value in options.items() if name in POOL_OPTIONS}
    tls = _tls(url, ssl, options.get("use_ssl"))
    if options.get("ssl_verify") is not None:
        _map_ssl_verify(bool(options["ssl_verify"]), tls, pool)
    scheme = urlsplit(url).scheme.lower() if url is not None else ""
    where = f"the URL {mask_url(url)}" if url is not None else "ssl=False"
    needs_tls = sorted(set(pool) & TLS_OPTIONS)
    if needs_tls and not tls:
        raise ConfigurationError(
            f"{needs_tls[0]}= needs TLS, and {where} is a plain connection: use a "
            "rediss:// URL or ssl=True (use_ssl=True)"
        )
    tcp_only = sorted(set(pool) & TCP_OPTIONS)
    if tcp_only and scheme == "unix":
        raise ConfigurationError(f"{tcp_only[0]}= is for TCP connections, not a unix:// socket")
    secret = signing_secret(options.get("hmac_key"), options.get("hmac_digest"))
    return NodeOptions(tls, secret, pool)


def _tls(url: str | None, ssl: bool, use_ssl: object) -> bool:
    if url is None:
        return bool(ssl or use_ssl)
    scheme = urlsplit(url).scheme.lower()
    if use_ssl and scheme in ("redis", "unix"):
        raise ConfigurationError(
            f"use_ssl=True with the plain URL {mask_url(url)}: write rediss:// for TLS"
        )
    return scheme == "rediss"


def _map_ssl_verify(verify: bool, tls: bool, pool: dict[str, Any]) -> None:
    """Upstream's ``ssl_verify``: checking the server's certificate and host name, or neither."""
    if not tls:
        if verify:
            raise ConfigurationError(
                "ssl_verify=True needs TLS: pass use_ssl=True (or ssl=True, or a rediss:// URL)"
            )
        return  # nothing to verify on a plain connection; upstream ignored it too
    for name in ("ssl_cert_reqs", "ssl_check_hostname"):
        if name in pool:
            raise ConfigurationError(f"pass ssl_verify= or {name}=, not both")
    pool["ssl_cert_reqs"] = "required" if verify else "none"
    pool["ssl_check_hostname"] = verify


def signing_secret(hmac_key: object, hmac_digest: object) -> str | None:
    """Upstream's ``hmac_key`` as arbiter's signing secret (HMAC-SHA256).

    ``hmac_digest`` is accepted when it names SHA-256 (``"sha256"``, ``hashlib.sha256``);
    without a key it signs nothing, so it is ignored, as upstream did.
    """
    if hmac_key is None:
        return None
    if hmac_digest is not None and _digest_name(hmac_digest) not in SUPPORTED_DIGESTS:
        raise ConfigurationError(
            f"hmac_digest={hmac_digest!r} is not supported: arbiter signs every message "
            "with HMAC-SHA256; pass hmac_digest='sha256' or leave it out (upstream's "
            "default 'sha512' does not matter here, as arbiter and carrier-io/arbiter "
            "nodes cannot read each other's messages anyway)"
        )
    if isinstance(hmac_key, (bytes, bytearray)):
        try:
            hmac_key = bytes(hmac_key).decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigurationError(
                "hmac_key must be text (or UTF-8 bytes): the signing secret is a string"
            ) from None
    if not isinstance(hmac_key, str) or not hmac_key:
        raise ConfigurationError("hmac_key must be a non-empty string (the signing secret)")
    return hmac_key


def _digest_name(digest: object) -> str:
    if isinstance(digest, str):
        return digest.lower().replace("-", "").replace("_", "")
    if callable(digest):  # hashlib.sha256, as hmac.new(digestmod=...) takes
        try:
            made: Callable[[], Any] = digest
            return str(made().name)
        except Exception:  # noqa: BLE001 - not a hash constructor: unsupported
            return ""
    return str(getattr(digest, "name", ""))


def url_query(url: str) -> dict[str, str]:
    """The query parameters of a Redis URL, checked (the last value of each)."""
    parts = urlsplit(url)
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    for name in sorted(query):
        if name in REFUSED_REDIS_OPTIONS:
            raise ConfigurationError(
                f"{mask_url(url)}: the query parameter {name!r} is not supported: "
                f"{REFUSED_REDIS_OPTIONS[name]}"
            )
        if name not in URL_QUERY_OPTIONS:
            raise ConfigurationError(
                f"{mask_url(url)}: unknown query parameter {name!r}"
                f"{did_you_mean(name, URL_QUERY_OPTIONS)}; a Redis URL may set "
                f"{listing(URL_QUERY_OPTIONS)}"
            )
    scheme = parts.scheme.lower()
    needs_tls = sorted(set(query) & TLS_OPTIONS)
    if needs_tls and scheme != "rediss":
        raise ConfigurationError(
            f"{mask_url(url)}: {needs_tls[0]} needs TLS; write rediss:// instead of {scheme}://"
        )
    tcp_only = sorted(set(query) & TCP_OPTIONS)
    if tcp_only and scheme == "unix":
        raise ConfigurationError(f"{mask_url(url)}: {tcp_only[0]} is for TCP, not a unix:// socket")
    return query


__all__ = [
    "POOL_OPTIONS",
    "TCP_OPTIONS",
    "TLS_OPTIONS",
    "UPSTREAM_OPTIONS",
    "URL_QUERY_OPTIONS",
    "NodeOptions",
    "signing_secret",
    "sort_out",
    "url_query",
]
