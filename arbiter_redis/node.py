"""``RedisEventNode``: the ``redis://``, ``rediss://`` and ``unix://`` backend.

Every state change is one Lua script (see :mod:`arbiter_redis.scripts` and the key
layout in :mod:`arbiter_redis.keys`), timed by the server's clock, so consumers
on machines with skewed clocks still agree on leases and delays. Broadcast is
Redis pub/sub (:mod:`arbiter_redis.listener`).

A blocking ``pull`` never sleep-polls: it runs the pull script and, if nothing was
ready, BLPOPs the queue's wake list — one token per push, so a push wakes one
blocked consumer — for no longer than the time until the next delayed message or
lease falls due, the caller's timeout, and ``BLOCK_SLICE``. The BLPOP and the pull
script that follows it go in one pipeline: Redis runs the script as soon as the BLPOP
returns, so a woken consumer gets its message in the same round trip. ``close()`` pushes a
token to the node's own wake list, which every one of its BLPOPs also watches.

redis-py is imported when a node is created, not when this module is, so the
plugin can list its schemes without the ``[redis]`` extra installed.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from arbiter_core.errors import (
    BrokerConnectionError,
    BrokerError,
    ConfigurationError,
    NodeClosedError,
)
from arbiter_core.node import (
    BROADCAST,
    CROSS_PROCESS,
    PERSISTENT,
    QUEUE,
    STATE,
    Claim,
    Claimed,
    DeadLetter,
    Delivery,
    EventCallback,
    EventNode,
    Record,
    TransitionPush,
    require_bytes,
    require_positive,
)
from arbiter_core.settings import DEFAULT_MAX_DELIVERIES, Settings
from arbiter_redis.keys import WAKE_TTL_MS, Keys
from arbiter_redis.listener import Listener
from arbiter_redis.scripts import Scripts

if TYPE_CHECKING:
    import redis

T = TypeVar("T")

INSTALL_HINT = "pip install 'arbiter-tasks[redis]'"
SCHEMES = ("redis", "rediss", "unix")

DEFAULT_EVENT_QUEUE = "tasks"
"""The seed API's default ``event_queue``, which is the namespace."""
DEFAULT_SOCKET_TIMEOUT = 10.0
"""Seconds a command may wait for its reply before the connection counts as broken."""
DEFAULT_CONNECT_TIMEOUT = 3.0
"""Seconds to establish a connection."""
HEALTH_CHECK_INTERVAL = 15
"""Idle seconds after which a pooled connection is PINGed before use (and the pub/sub one is)."""
RETRIES = 5
RETRY_BACKOFF_BASE = 0.1
RETRY_BACKOFF_CAP = 2.0
"""A failed command is retried on a new connection up to ``RETRIES`` times, waiting
0.2, 0.4, 0.8, 1.6, 2 s: about five seconds, enough to ride out a server restart, and
then :class:`~arbiter_core.errors.BrokerConnectionError` is raised."""
BLOCK_SLICE = 5.0
"""Longest single BLPOP: a pull re-runs the pull script at least this often, which
bounds how late it sees a lease that another consumer took, and then lost, while it
was blocked."""
BATCH = 500
"""Most items one batch script applies, so no call blocks Redis for long."""
CLOCK_RECHECK = 300.0
"""Seconds between measurements of the offset between this machine's clock and the server's."""
IDLE_HINT_TTL = 0.5
"""Seconds a combined call's "the queue is empty" stays usable by the same thread's pull."""
CLOSE_WAIT = 2.0
"""Seconds ``close()`` waits for its blocked pulls to return before dropping connections."""


def _import_redis() -> ModuleType:
    try:
        import redis  # noqa: PLC0415 - optional extra, imported only when a node is made
    except ImportError as exc:
        raise ConfigurationError(
            f"the Redis backend needs the redis client, which is not installed: {INSTALL_HINT}"
        ) from exc
    return redis


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (in the user info or a query parameter)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        user = parts.username or ""
        host = netloc.rpartition("@")[2]
        netloc = f"{user}:***@{host}"
    query = parts.query
    if "password=" in query:
        query = urlencode(
            [(k, "***" if k == "password" else v) for k, v in parse_qsl(query)], safe="*/"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _ms(seconds: float) -> int:
    """Whole milliseconds, rounded up so a wait or delay is never shortened."""
    return max(0, math.ceil(seconds * 1000))


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _check_pull(lease: float, max_messages: int, claim: Claim | None) -> None:
    """The arguments every leasing call checks before it reaches Redis."""
    require_positive(lease, "lease")
    if max_messages < 1:
        raise ValueError(f"max_messages must be >= 1, got {max_messages!r}")
    if claim is not None:
        require_positive(claim.ttl, "claim.ttl")


def _claimed(flag: bytes | str, state: bytes | str, data: bytes) -> Claimed | None:
    """A claim's outcome in a pull script's reply: '1' written, '0' refused, '' none."""
    if not _text(flag):
        return None
    if _text(flag) == "1":
        return Claimed(True)
    return Claimed(False, Record(_text(state), bytes(data)))


def _expect_args(expect: Collection[str | None] | None) -> list[Any]:
    """The transition scripts' encoding of ``expect``: count, absent allowed, states."""
    if expect is None:
        return [-1, 0]
    states = [state for state in expect if state is not None]
    for state in states:
        if not isinstance(state, str):
            raise TypeError(f"expected states must be str or None, got {state!r}")
    return [len(states), 1 if None in expect else 0, *states]


class RedisEventNode(EventNode):
    """An :class:`~arbiter_core.node.EventNode` on Redis 6.0 or later (7 is tested).

    The seed API's arguments come first: ``RedisEventNode(host="localhost",
    port=6379, password="", event_queue="tasks")``, where ``event_queue`` is the
    namespace that prefixes every key (``namespace=`` overrides it) and an empty
    password means none. ``url=`` (``redis://[user:password@]host:port/db``,
    ``rediss://`` for TLS, ``unix:///path.sock?db=N``) replaces host, port, db,
    username, password and ssl. Other keyword arguments go to redis-py's
    ``ConnectionPool`` (``socket_connect_timeout``, ``retry``, ``ssl_ca_certs``...).

    ``client`` hands the node a ready redis-py client instead (for example
    ``fakeredis.FakeRedis(server=...)`` in tests); the node owns it from then on
    and closes it. ``max_deliveries`` is applied when this node leases, reclaims
    or releases a message.

    Redis 6 is needed for BLPOP's fractional timeouts. Commands that fail to reach
    the server are retried with exponential backoff (about five seconds in all, see
    ``RETRIES``); after that they raise
    :class:`~arbiter_core.errors.BrokerConnectionError`. A retry after a lost reply
    is safe: pushes and record writes recognise their own earlier attempt; a
    retried pull may leave the first attempt's messages leased until their leases
    run out. ``close()`` does not hand back leased messages either.
    """

    capabilities = frozenset({BROADCAST, QUEUE, STATE, CROSS_PROCESS, PERSISTENT})

    def __init__(
        self,
        host: str = "localhost",
        port: int = 6379,
        password: str | None = "",
        event_queue: str = DEFAULT_EVENT_QUEUE,
        *,
        url: str | None = None,
        db: int = 0,
        username: str | None = None,
        ssl: bool = False,
        namespace: str | None = None,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
        client: redis.Redis | None = None,
        **redis_kwargs: Any,
    ) -> None:
        super().__init__(namespace=event_queue if namespace is None else namespace)
        if isinstance(max_deliveries, bool) or not isinstance(max_deliveries, int):
            raise TypeError(f"max_deliveries must be an int, got {max_deliveries!r}")
        if max_deliveries < 1:
            raise ValueError(f"max_deliveries must be >= 1, got {max_deliveries!r}")
        require_positive(socket_timeout, "socket_timeout")
        self.max_deliveries = max_deliveries
        self._keys = Keys(self.namespace)
        if url is not None:
            scheme = urlsplit(url).scheme.lower()
            if scheme not in SCHEMES:
                raise ConfigurationError(
                    f"{mask_url(url)!r} is not a Redis URL; expected one of "
                    + ", ".join(f"{s}://" for s in SCHEMES)
                )
            self._url = mask_url(url)
        else:
            self._url = _url_of(host, port, db, username, password, ssl)
        redis_module = _import_redis()
        self._connection_errors: tuple[type[BaseException], ...] = (
            redis_module.exceptions.ConnectionError,
            redis_module.exceptions.TimeoutError,
        )
        self._redis_error: type[BaseException] = redis_module.exceptions.RedisError
        self._missing_script: type[BaseException] = redis_module.exceptions.NoScriptError
        if client is None:
            pool = _connection_pool(
                redis_module,
                url,
                dict(
                    host=host,
                    port=port,
                    db=db,
                    username=username,
                    password=password or None,
                    ssl=ssl,
                    socket_timeout=socket_timeout,
                ),
                redis_kwargs,
            )
            client = redis_module.Redis(connection_pool=pool)
        elif redis_kwargs:
            raise TypeError(f"unexpected arguments with client=: {', '.join(redis_kwargs)}")
        # Typed loosely: redis-py's annotations differ between the versions we accept.
        self._client: Any = client
        self._scripts = Scripts(client)
        self._block_slice = min(BLOCK_SLICE, socket_timeout / 2)
        self._node_id = uuid.uuid4().hex
        self._wake_key = self._keys.node_wake(self._node_id)
        self._ids = itertools.count()
        self._id_prefix = self._node_id[:20]
        self._receipt_node = uuid.uuid4().hex[:16] + "."
        self._pull_count = itertools.count()
        self._writes = itertools.count()
        self._idle = threading.local()  # see _just_found_empty
        self._lock = threading.Lock()
        self._pulls_left = threading.Condition(self._lock)
        self._active_pulls = 0
        self._closed = False
        self._clock: tuple[float, float] | None = None  # (offset, measured at monotonic)
        self._listener = Listener(
            client,
            self._keys,
            self._node_id,
            connection_errors=self._connection_errors,
            confirm_timeout=socket_timeout,
            poll=HEALTH_CHECK_INTERVAL,
            where=self._url,
        )
        # Close nodes explicitly; one dropped unclosed at least lets its threads end.
        self._finalizer = weakref.finalize(self, self._listener.abandon)
        self._finalizer.atexit = False

    @property
    def url(self) -> str:
        return self._url

    @property
    def client(self) -> redis.Redis:
        """The underlying redis-py client (for tools and tests); the node owns it."""
        client: redis.Redis = self._client
        return client

    @property
    def keys(self) -> Keys:
        """The key layout of this node's namespace (see :mod:`arbiter_redis.keys`)."""
        return self._keys

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            blocked = self._active_pulls
        self._finalizer.detach()
        once = self._single_try_client()
        try:
            self._listener.close(once.publish)
            if blocked:
                self._wake_own_pulls(once, blocked)
        finally:
            once.connection_pool.disconnect()
            self._client.close()
            self._client.connection_pool.disconnect()

    def _single_try_client(self) -> Any:
        """A client to the same server that tries each command once, with no retries.

        What ``close()`` sends is best effort: with the server gone, waiting out the
        retry budget would only delay the close.
        """
        redis_module = _import_redis()
        from redis.backoff import NoBackoff  # noqa: PLC0415 - redis is optional
        from redis.retry import Retry  # noqa: PLC0415

        pool = self._client.connection_pool
        options = {**pool.connection_kwargs, "retry": Retry(NoBackoff(), 0), "retry_on_error": []}
        return redis_module.Redis(
            connection_pool=redis_module.ConnectionPool(
                connection_class=pool.connection_class, **options
            )
        )

    def _wake_own_pulls(self, client: Any, count: int) -> None:
        """Push a token per pull of this node that may be blocked in BLPOP, and wait for them."""
        try:
            pipe = client.pipeline(transaction=False)
            pipe.lpush(self._wake_key, *[b"1"] * count)
            pipe.pexpire(self._wake_key, WAKE_TTL_MS)
            pipe.execute()
        except self._redis_error:
            return  # the server is gone: their BLPOPs end with an error, then see the close
        with self._lock:
            self._pulls_left.wait_for(lambda: self._active_pulls == 0, CLOSE_WAIT)
        with contextlib.suppress(self._redis_error):  # else it expires by itself
            client.delete(self._wake_key)

    # ------------------------------------------------------------------ plumbing
    def _call(self, what: str, function: Callable[[], T]) -> T:
        """Run ``function`` (some redis-py calls), turning redis-py errors into ours."""
        if self._closed:
            raise NodeClosedError(f"{self!r} is closed")
        try:
            return function()
        except self._connection_errors as exc:
            if self._closed:
                raise NodeClosedError(f"{self!r} was closed during {what}") from exc
            raise BrokerConnectionError(
                f"cannot reach Redis at {self._url} ({what}): {exc}"
            ) from exc
        except self._redis_error as exc:
            raise BrokerError(f"Redis at {self._url} failed {what}: {exc}") from exc

    def _clock_offset(self) -> float:
        """Seconds to add to a ``time.time()`` to get the server's time.

        Measured once (and again every ``CLOCK_RECHECK``), never per call: with one
        offset, equal ``not_before`` times give equal due times, so ties keep push order.
        """
        clock = self._clock
        if clock is not None and time.monotonic() - clock[1] < CLOCK_RECHECK:
            return clock[0]
        before = time.time()
        seconds, micros = self._client.time()
        after = time.time()
        offset = float(seconds) + float(micros) / 1e6 - (before + after) / 2
        self._clock = (offset, time.monotonic())
        return offset

    def _new_id(self) -> str:
        # Made here, so a push retried after a lost reply is recognised and not duplicated;
        # ordered per node, so delayed messages due at the same time keep push order.
        return f"{self._id_prefix}{next(self._ids):012x}"

    def _due(self, not_before: float | None) -> str:
        if not_before is None:
            return ""
        return str(math.ceil((not_before + self._clock_offset()) * 1000))

    # ------------------------------------------------------------------ broadcast
    def emit(self, event: str, payload: bytes) -> None:
        payload = require_bytes(payload, "payload")
        channel = self._keys.channel(event)
        self._call("emit", lambda: self._client.publish(channel, payload))

    def subscribe(self, event: str, callback: EventCallback) -> None:
        self._call("subscribe", lambda: self._listener.subscribe(event, callback))

    def unsubscribe(self, event: str, callback: EventCallback) -> None:
        self._call("unsubscribe", lambda: self._listener.unsubscribe(event, callback))

    # ------------------------------------------------------------------ work queues
    def push(self, queue: str, body: bytes, *, not_before: float | None = None) -> str:
        body = require_bytes(body, "body")
        message_id = self._new_id()
        keys = self._keys.queue(queue)

        def push() -> None:
            self._scripts.push(keys=keys, args=[message_id, body, self._due(not_before)])

        self._call("push", push)
        return message_id

    def pull(
        self, queue: str, *, timeout: float | None, lease: float, max_messages: int = 1
    ) -> list[Delivery]:
        return self._pull(queue, timeout, lease, max_messages, None)

    def pull_and_claim(
        self,
        queue: str,
        *,
        timeout: float | None,
        lease: float,
        max_messages: int = 1,
        claim: Claim,
    ) -> list[Delivery]:
        """The pull script claims each bound record atomically with the lease."""
        return self._pull(queue, timeout, lease, max_messages, claim)

    def _pull(
        self,
        queue: str,
        timeout: float | None,
        lease: float,
        max_messages: int,
        claim: Claim | None,
    ) -> list[Delivery]:
        _check_pull(lease, max_messages, claim)
        if timeout is not None and timeout < 0:
            raise ValueError(f"timeout must be >= 0 or None, got {timeout!r}")
        deadline = None if timeout is None else time.monotonic() + timeout
        keys = self._keys.queue(queue)
        wake_keys = [keys.wake, self._wake_key]
        with self._pulling():
            try:
                reply = self._just_found_empty(queue) or self._call(
                    "pull", lambda: self._run_pull(keys, max_messages, lease, claim)
                )
            except NodeClosedError:
                return []  # closed by another thread just now
            while True:
                deliveries = self._deliveries(queue, reply, 2)
                if deliveries or self._closed:
                    return self._unless_closed(deliveries)
                due_in = int(reply[0])
                wait = self._block_slice
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return []
                    wait = min(wait, left)
                if due_in == 0:  # more fell due than one call settles: no wait
                    step = functools.partial(self._run_pull, keys, max_messages, lease, claim)
                else:
                    if due_in > 0:
                        wait = min(wait, (due_in + 1) / 1000)
                    # BLPOP's timeout has millisecond resolution and 0 would mean "forever".
                    wait = max(wait, 0.001)
                    step = functools.partial(
                        self._wait_then_pull, wake_keys, wait, keys, max_messages, lease, claim
                    )
                try:
                    reply = self._call("pull", step)
                except NodeClosedError:
                    return []  # closed by another thread while this pull waited

    def _just_found_empty(self, queue: str) -> list[Any] | None:
        """A pull script's empty reply, if this thread's combined call just found ``queue``
        empty: its pull need not look again before it blocks. That call deleted the wake
        list, so anything pushed since has left a token that ends the BLPOP at once; the
        wait it measured (to the next delayed message or lease) is carried over."""
        found = getattr(self._idle, "found", None)
        self._idle.found = None
        if found is None or found[0] != queue:
            return None
        elapsed = time.monotonic() - found[2]
        if elapsed > IDLE_HINT_TTL:
            return None
        due_in = found[1] if found[1] < 0 else max(0, found[1] - _ms(elapsed))
        return [due_in, -1]

    def _wait_then_pull(
        self,
        wake_keys: list[str],
        wait: float,
        keys: Sequence[str],
        max_messages: int,
        lease: float,
        claim: Claim | None,
    ) -> list[Any]:
        """BLPOP, then the pull script, pipelined: Redis runs the script as soon as BLPOP
        returns, so a consumer woken by a push has its message without another round trip."""
        pipe = self._client.pipeline(transaction=False)
        pipe.blpop(wake_keys, wait)
        self._scripts.pull.queue(pipe, keys=keys, args=self._pull_args(max_messages, lease, claim))
        try:
            reply: list[Any] = pipe.execute()[1]
        except self._missing_script:  # the server restarted: load it with a direct call
            return self._run_pull(keys, max_messages, lease, claim)
        return reply

    def _unless_closed(self, deliveries: list[Delivery]) -> list[Delivery]:
        """``deliveries``, or none if the node was closed meanwhile: they go back to the queue
        at once (best effort; else their leases run out), as a closed node's pull returns []."""
        if not self._closed:
            return deliveries
        for delivery in deliveries:
            keys = self._keys.queue(delivery.queue)
            args = [delivery.message_id, delivery.receipt, 0, self.max_deliveries]
            with contextlib.suppress(self._redis_error):
                self._scripts.nack(keys=keys, args=args)
        return []

    @contextmanager
    def _pulling(self) -> Iterator[None]:
        """Count the pull, so ``close()`` knows how many blocked BLPOPs to wake."""
        with self._lock:
            if self._closed:
                raise NodeClosedError(f"{self!r} is closed")
            self._active_pulls += 1
        try:
            yield
        finally:
            with self._lock:
                self._active_pulls -= 1
                if not self._active_pulls:
                    self._pulls_left.notify_all()

    def _pull_args(self, max_messages: int, lease: float, claim: Claim | None = None) -> list[Any]:
        # Unique across nodes (a random per-node part) and pulls (a counter), without
        # a uuid4 per pull.
        receipt_prefix = f"{self._receipt_node}{next(self._pull_count):x}:"
        args = [max_messages, _ms(lease), self.max_deliveries, receipt_prefix]
        if claim is None:
            return [*args, ""]
        states = list(claim.expect)
        return [*args, claim.state, _ms(claim.ttl), len(states), *states]

    def _run_pull(
        self, keys: Sequence[str], max_messages: int, lease: float, claim: Claim | None = None
    ) -> list[Any]:
        args = self._pull_args(max_messages, lease, claim)
        reply: list[Any] = self._scripts.pull(keys=keys, args=args)
        return reply

    def _deliveries(self, queue: str, reply: list[Any], first: int) -> list[Delivery]:
        """The leases in a script's reply: eight fields each from index ``first`` on."""
        if len(reply) <= first:
            return []
        offset = self._clock_offset()
        return [
            Delivery(
                queue=queue,
                message_id=_text(reply[i]),
                body=bytes(reply[i + 1]),
                delivery_count=int(reply[i + 2]),
                receipt=_text(reply[i + 3]),
                enqueued_at=int(reply[i + 4]) / 1000 - offset,
                claim=_claimed(reply[i + 5], reply[i + 6], reply[i + 7]),
            )
            for i in range(first, len(reply), 8)
        ]

    def ack(self, delivery: Delivery) -> bool:
        keys = self._keys.queue(delivery.queue)
        args = [delivery.message_id, delivery.receipt]
        return bool(self._call("ack", lambda: self._scripts.ack(keys=keys, args=args)))

    def nack(self, delivery: Delivery, *, delay: float = 0.0) -> bool:
        if delay < 0:
            raise ValueError(f"delay must be >= 0 seconds, got {delay!r}")
        keys = self._keys.queue(delivery.queue)
        args = [delivery.message_id, delivery.receipt, _ms(delay), self.max_deliveries]
        return bool(self._call("nack", lambda: self._scripts.nack(keys=keys, args=args)))

    def renew(self, deliveries: Sequence[Delivery], lease: float) -> list[bool]:
        require_positive(lease, "lease")
        if not deliveries:
            self._call("renew", lambda: None)  # still refuses on a closed node
            return []
        by_queue: dict[str, list[int]] = {}
        for index, delivery in enumerate(deliveries):
            by_queue.setdefault(delivery.queue, []).append(index)
        held = [False] * len(deliveries)
        for queue, indexes in by_queue.items():  # one script call per queue
            args: list[Any] = [_ms(lease)]
            for index in indexes:
                args += [deliveries[index].message_id, deliveries[index].receipt]
            renew = functools.partial(self._scripts.renew, keys=self._keys.queue(queue), args=args)
            for index, renewed in zip(indexes, self._call("renew", renew), strict=True):
                held[index] = bool(renewed)
        return held

    def dead_letter(self, delivery: Delivery, reason: str) -> bool:
        keys = self._keys.queue(delivery.queue)
        args = [delivery.message_id, delivery.receipt, reason]
        return bool(
            self._call("dead_letter", lambda: self._scripts.dead_letter(keys=keys, args=args))
        )

    def dead_letters(self, queue: str, *, limit: int = 100) -> list[DeadLetter]:
        keys = self._keys.queue(queue)

        def read() -> tuple[list[Any], float]:
            # Settle first, so a spent message whose lease ran out is listed, as it would be
            # on a broker that notices expiries by itself.
            self._run_pull(keys, 0, 1.0)
            if limit <= 0:
                return [], 0.0
            return self._client.xrange(keys.dead, count=limit), self._clock_offset()

        entries, offset = self._call("dead_letters", read)
        letters = []
        for _, raw in entries:
            fields = {_text(k): v for k, v in raw.items()}
            letters.append(
                DeadLetter(
                    queue=queue,
                    message_id=_text(fields["id"]),
                    body=bytes(fields["body"]),
                    reason=_text(fields["reason"]),
                    delivery_count=int(fields["count"]),
                    dead_at=int(fields["dead_at"]) / 1000 - offset,
                )
            )
        return letters

    def queue_size(self, queue: str) -> int:
        keys = self._keys.queue(queue)
        reply = self._call("queue_size", lambda: self._run_pull(keys, 0, 1.0))
        return int(reply[1])

    # ------------------------------------------------------------------ state
    def get(self, key: str) -> Record | None:
        name = self._keys.record(key)
        state, data = self._call("get", lambda: self._client.hmget(name, ["state", "data"]))
        return None if state is None else Record(_text(state), bytes(data or b""))

    def get_many(self, keys: Collection[str]) -> dict[str, Record]:
        keys = list(keys)
        if not keys:
            self._call("get_many", lambda: None)
            return {}

        def read() -> list[Any]:
            pipe = self._client.pipeline(transaction=False)
            for key in keys:
                pipe.hmget(self._keys.record(key), ["state", "data"])
            replies: list[Any] = pipe.execute()
            return replies

        found = {}
        for key, (state, data) in zip(keys, self._call("get_many", read), strict=True):
            if state is not None:
                found[key] = Record(_text(state), bytes(data or b""))
        return found

    def _transition_args(
        self, record: Record, ttl: float, expect: Collection[str | None] | None
    ) -> list[Any]:
        require_positive(ttl, "ttl")
        if not isinstance(record.state, str):
            raise TypeError(f"record.state must be a str, got {type(record.state).__name__}")
        data = require_bytes(record.data, "record.data")
        # The write id lets a retry (after a lost reply) recognise its own earlier write;
        # unique across nodes (the random node part) and calls (a counter).
        write_id = f"{self._receipt_node}w{next(self._writes):x}"
        return [record.state, data, _ms(ttl), write_id, *_expect_args(expect)]

    def transition(
        self,
        key: str,
        record: Record,
        *,
        ttl: float,
        expect: Collection[str | None] | None = None,
    ) -> tuple[bool, Record | None]:
        args = self._transition_args(record, ttl, expect)
        keys = [self._keys.record(key)]
        written, state, data = self._call(
            "transition", lambda: self._scripts.transition(keys=keys, args=args)
        )
        if written:
            return True, Record(record.state, require_bytes(record.data, "record.data"))
        return False, None if state is None else Record(_text(state), bytes(data or b""))

    def transition_and_push(
        self,
        key: str,
        record: Record,
        *,
        ttl: float,
        expect: Collection[str | None] | None,
        queue: str,
        body: bytes,
        not_before: float | None = None,
    ) -> bool:
        """One round trip: the record is written, then the message pushed, in one script."""
        args = self._transition_args(record, ttl, expect)
        body = require_bytes(body, "body")
        keys = [self._keys.record(key), *self._keys.queue(queue)]

        def run() -> Any:
            due = self._due(not_before)
            return self._scripts.transition_and_push(
                keys=keys, args=[*args, self._new_id(), body, due]
            )

        return bool(self._call("transition_and_push", run))

    def transition_and_push_many(self, items: Sequence[TransitionPush]) -> list[bool]:
        """One round trip per ``BATCH`` items: one script applies them in order."""
        items = list(items)
        if not items:
            self._call("transition_and_push_many", lambda: None)
            return []
        prepared = []
        for item in items:
            item_args = self._transition_args(item.record, item.ttl, item.expect)
            body = require_bytes(item.body, "body")
            item_keys = [self._keys.record(item.key), *self._keys.queue(item.queue)]
            prepared.append((item_keys, item_args, body, item.not_before))

        def run(batch: list[tuple[list[str], list[Any], bytes, float | None]]) -> Any:
            keys: list[str] = []
            args: list[Any] = []
            for item_keys, item_args, body, not_before in batch:
                keys += item_keys
                args += [*item_args, self._new_id(), body, self._due(not_before)]
            return self._scripts.transition_and_push_many(keys=keys, args=args)

        written: list[bool] = []
        for start in range(0, len(prepared), BATCH):
            batch = prepared[start : start + BATCH]
            reply = self._call("transition_and_push_many", functools.partial(run, batch))
            written += [bool(flag) for flag in reply]
        return written

    def transition_and_ack(
        self,
        delivery: Delivery,
        key: str,
        record: Record,
        *,
        ttl: float,
        expect: Collection[str | None] | None,
        event: str | None = None,
        payload: bytes = b"",
    ) -> bool:
        """One round trip: store, publish if written, then ack, in one script."""
        keys, args = self._finish_call(delivery, key, record, ttl, expect, event, payload)
        written, _acked = self._call(
            "transition_and_ack", lambda: self._scripts.transition_and_ack(keys=keys, args=args)
        )
        return bool(written)

    def transition_ack_and_pull(
        self,
        delivery: Delivery,
        key: str,
        record: Record,
        *,
        ttl: float,
        expect: Collection[str | None] | None,
        event: str | None = None,
        payload: bytes = b"",
        lease: float,
        max_messages: int = 1,
        claim: Claim | None = None,
    ) -> tuple[bool, list[Delivery]]:
        """One round trip: store, publish if written, ack, then lease (and claim) the next."""
        _check_pull(lease, max_messages, claim)
        keys, args = self._finish_call(delivery, key, record, ttl, expect, event, payload)

        def run() -> list[Any]:
            pull = self._pull_args(max_messages, lease, claim)
            reply: list[Any] = self._scripts.transition_ack_and_pull(keys=keys, args=args + pull)
            return reply

        reply = self._call("transition_ack_and_pull", run)
        taken = self._deliveries(delivery.queue, reply, 3)
        if not taken:  # this thread's next pull of the queue can go straight to waiting
            self._idle.found = (delivery.queue, int(reply[2]), time.monotonic())
        return bool(reply[0]), self._unless_closed(taken)

    def _finish_call(
        self,
        delivery: Delivery,
        key: str,
        record: Record,
        ttl: float,
        expect: Collection[str | None] | None,
        event: str | None,
        payload: bytes,
    ) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV shared by the scripts that store an outcome and ack its message."""
        args = self._transition_args(record, ttl, expect)
        channel = self._keys.channel(event) if event else ""
        keys = [self._keys.record(key), *self._keys.queue(delivery.queue)]
        args += [delivery.message_id, delivery.receipt, channel, require_bytes(payload, "payload")]
        return keys, args

    def delete(self, key: str) -> None:
        name = self._keys.record(key)
        self._call("delete", lambda: self._client.delete(name))

    def heartbeat(self, worker_id: str, info: bytes, ttl: float) -> None:
        require_positive(ttl, "ttl")
        info = require_bytes(info, "info")
        keys = [self._keys.workers, self._keys.workers_info]
        args = [worker_id, info, _ms(ttl)]
        self._call("heartbeat", lambda: self._scripts.heartbeat(keys=keys, args=args))

    def live_workers(self) -> dict[str, bytes]:
        keys = [self._keys.workers, self._keys.workers_info]
        reply = self._call("live_workers", lambda: self._scripts.live_workers(keys=keys))
        return {_text(reply[i]): bytes(reply[i + 1]) for i in range(0, len(reply), 2)}

    def remove_worker(self, worker_id: str) -> None:
        keys = [self._keys.workers, self._keys.workers_info]
        self._call(
            "remove_worker", lambda: self._scripts.remove_worker(keys=keys, args=[worker_id])
        )


def _url_of(
    host: str, port: int, db: int, username: str | None, password: str | None, ssl: bool
) -> str:
    """The (masked) URL that the seed-style arguments stand for."""
    user = quote(username or "", safe="")
    auth = f"{user}:***@" if password else (f"{user}@" if user else "")
    return f"{'rediss' if ssl else 'redis'}://{auth}{host}:{port}/{db}"


def _connection_pool(
    redis_module: ModuleType,
    url: str | None,
    parts: Mapping[str, Any],
    overrides: Mapping[str, Any],
) -> Any:
    """A pool with timeouts, health checks and retries with backoff; ``overrides`` win."""
    from redis.backoff import ExponentialBackoff  # noqa: PLC0415 - redis is optional
    from redis.retry import Retry  # noqa: PLC0415

    errors = [redis_module.exceptions.ConnectionError, redis_module.exceptions.TimeoutError]
    options: dict[str, Any] = {
        "socket_timeout": parts["socket_timeout"],
        "socket_connect_timeout": DEFAULT_CONNECT_TIMEOUT,
        "health_check_interval": HEALTH_CHECK_INTERVAL,
        "retry": Retry(ExponentialBackoff(cap=RETRY_BACKOFF_CAP, base=RETRY_BACKOFF_BASE), RETRIES),
        # redis-py 5 retries only errors listed here; later versions read the Retry's list
        "retry_on_error": errors,
    }
    tcp = url is None or urlsplit(url).scheme.lower() != "unix"
    if tcp:
        options["socket_keepalive"] = True
    options.update(overrides)
    try:
        if url is not None:
            return redis_module.ConnectionPool.from_url(url, **options)
        connection_class = redis_module.SSLConnection if parts["ssl"] else redis_module.Connection
        return redis_module.ConnectionPool(
            connection_class=connection_class,
            host=parts["host"],
            port=parts["port"],
            db=parts["db"],
            username=parts["username"],
            password=parts["password"],
            **options,
        )
    except ValueError as exc:
        where = mask_url(url) if url is not None else "the Redis arguments"
        raise ConfigurationError(f"invalid Redis settings in {where}: {exc}") from exc


def create_node(url: str, settings: Settings) -> RedisEventNode:
    """The node factory of the ``redis``, ``rediss`` and ``unix`` schemes (see the plugin).

    The namespace and ``max_deliveries`` come from the settings; the URL's db,
    username, password and TLS pass through to redis-py.
    """
    return RedisEventNode(
        url=url, namespace=settings.namespace, max_deliveries=settings.max_deliveries
    )
