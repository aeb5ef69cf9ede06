"""``RedisEventNode``: the ``redis://``, ``rediss://`` and ``unix://`` backend.

Every state change is one Lua script (see :mod:`arbiter_redis.scripts` and the key
layout in :mod:`arbiter_redis.keys`), timed by the server's clock
(:mod:`arbiter_redis.clock`), so consumers on machines with skewed clocks still agree
on leases and delays. Broadcast is Redis pub/sub (:mod:`arbiter_redis.listener`).
Connecting is :mod:`arbiter_redis.connection`; reading replies,
:mod:`arbiter_redis.replies`. Arguments arrive checked, by the public methods of
:class:`~arbiter_core.node.EventNode`.

A blocking ``pull`` never sleep-polls: it runs the pull script and, if nothing was
ready, BLPOPs the queue's wake list — one token per push, so a push wakes one
blocked consumer — for no longer than the time until the next delayed message or
lease falls due, the caller's timeout, and ``BLOCK_SLICE``. The BLPOP and the pull
script that follows it go in one pipeline: Redis runs the script as soon as the BLPOP
returns, so a woken consumer gets its message in the same round trip. ``close()`` pushes a
token to the node's own wake list, which every one of its BLPOPs also watches.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from arbiter_core.errors import BrokerConnectionError, BrokerError, NodeClosedError
from arbiter_core.node import (
    BROADCAST,
    CROSS_PROCESS,
    PERSISTENT,
    PRIORITY,
    PURGED,
    QUEUE,
    STATE,
    Claim,
    DeadLetter,
    Delivery,
    EventCallback,
    EventNode,
    Expect,
    Outcome,
    QueueStats,
    Record,
    TransitionPush,
    require_positive,
)
from arbiter_core.settings import DEFAULT_BROKER_TIMEOUT, DEFAULT_MAX_DELIVERIES, Settings
from arbiter_redis import connection, options, replies
from arbiter_redis.clock import ServerClock, ms
from arbiter_redis.connection import (
    DEFAULT_SOCKET_TIMEOUT,
    Address,
    RedisErrors,
    import_redis,
    shown_url,
    single_try_client,
)
from arbiter_redis.due_waker import DueWaker
from arbiter_redis.empty_queue import EmptyQueueHint
from arbiter_redis.keys import WAKE_TTL_MS, Keys
from arbiter_redis.listener import Listener
from arbiter_redis.scripts import Scripts

if TYPE_CHECKING:
    import redis

T = TypeVar("T")

DEFAULT_EVENT_QUEUE = "tasks"
"""The seed API's default ``event_queue``, which is the namespace."""
BLOCK_SLICE = 5.0
"""Longest single BLPOP: a pull re-runs the pull script at least this often, which
bounds how late it sees a lease that another consumer took, and then lost, while it
was blocked."""
BATCH = 500
"""Most items one batch script applies, so no call blocks Redis for long."""
CLOSE_WAIT = 2.0
"""Seconds ``close()`` waits for its blocked pulls to return before dropping connections."""


def _abandon(listener: Listener, waker: DueWaker) -> None:
    """What a node dropped unclosed still does: let its threads end."""
    listener.abandon()
    waker.stop()


def _expect_args(expect: Expect) -> list[Any]:
    """The transition scripts' encoding of ``expect``: count, absent allowed, states."""
    if expect is None:
        return [-1, 0]
    states = [state for state in expect if state is not None]
    return [len(states), 1 if None in expect else 0, *states]


class RedisEventNode(EventNode):
    """An :class:`~arbiter_core.node.EventNode` on Redis 6.0 or later (7 is tested).

    The seed API's arguments come first: ``RedisEventNode(host="localhost",
    port=6379, password="", event_queue="tasks")``, where ``event_queue`` is the
    namespace that prefixes every key (``namespace=`` overrides it) and an empty
    password means none. ``url=`` (``redis://[user:password@]host:port/db``,
    ``rediss://`` for TLS, ``unix:///path.sock?db=N``) replaces host, port, db,
    username, password and ssl, and its ``?socket_timeout=`` replaces
    ``socket_timeout``. The other keyword arguments allowed are the redis-py
    connection options in :data:`arbiter_redis.options.POOL_OPTIONS`
    (``socket_connect_timeout``, ``retry``, ``ssl_ca_certs``...) and
    carrier-io/arbiter's: ``use_ssl`` (TLS), ``ssl_verify``, ``hmac_key`` (the
    signing secret an Arbiter or Minion given this node uses; HMAC-SHA256, so
    ``hmac_digest`` may only be ``"sha256"``) and a few accepted only at their
    defaults (see :mod:`arbiter_redis.options`). Anything else is refused here, by
    name, before any connection is made: building a node never connects.

    ``client`` hands the node a ready redis-py client instead (for example
    ``fakeredis.FakeRedis(server=...)`` in tests); the node owns it from then on
    and closes it. ``max_deliveries`` is applied when this node leases, reclaims
    or releases a message.

    Redis 6 is needed for BLPOP's fractional timeouts. Commands that fail to reach
    the server are retried with exponential backoff for about ``broker_timeout``
    seconds (the setting, 5 s by default; see ``connection.retry_waits``); then they raise
    :class:`~arbiter_core.errors.BrokerConnectionError`. A retry after a lost reply
    is safe: pushes and record writes recognise their own earlier attempt; a
    retried pull may leave the first attempt's messages leased until their leases
    run out. ``close()`` does not hand back leased messages either.

    ``watch_burials`` returns False: this node buries spent and purged messages inside
    its Lua scripts, which end the records they keep themselves but tell no client.
    As the broker of a :class:`~arbiter_core.node.ComposedNode` (records elsewhere),
    such burials therefore leave those records as they were; ``dead_letter`` and
    ``requeue_dead_letters`` still end and revive them, through the composed node.
    """

    capabilities = frozenset({BROADCAST, QUEUE, STATE, CROSS_PROCESS, PERSISTENT, PRIORITY})

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
        broker_timeout: float = DEFAULT_BROKER_TIMEOUT,
        client: redis.Redis | None = None,
        **redis_kwargs: Any,
    ) -> None:
        super().__init__(namespace=event_queue if namespace is None else namespace)
        if isinstance(max_deliveries, bool) or not isinstance(max_deliveries, int):
            raise TypeError(f"max_deliveries must be an int, got {max_deliveries!r}")
        if max_deliveries < 1:
            raise ValueError(f"max_deliveries must be >= 1, got {max_deliveries!r}")
        extra = options.sort_out(redis_kwargs, url=url, ssl=ssl)
        address = Address(host, port, db, username, password, extra.ssl)
        self._url = shown_url(url, address)
        if url is not None:  # the URL's ?socket_timeout= is the one its connections get
            socket_timeout = connection.url_socket_timeout(url, socket_timeout)
        require_positive(socket_timeout, "socket_timeout")
        require_positive(broker_timeout, "broker_timeout")
        self._broker_timeout = broker_timeout
        self.max_deliveries = max_deliveries
        # Upstream's hmac_key: an Arbiter or Minion given this node signs with it.
        self.signing_secret = extra.signing_secret
        self._keys = Keys(self.namespace)
        redis_module = import_redis()
        self._errors = RedisErrors.of(redis_module)
        if client is None:
            client = connection.connect(
                redis_module, url, address, socket_timeout, extra.pool, broker_timeout
            )
        elif extra.pool or extra.ssl:
            given = sorted(extra.pool) + (["ssl/use_ssl"] if extra.ssl else [])
            raise TypeError(f"unexpected arguments with client=: {', '.join(given)}")
        # Typed loosely: redis-py's annotations differ between the versions we accept.
        self._client: Any = client
        self._scripts = Scripts(client)
        self._clock = ServerClock(client)
        self._empty = EmptyQueueHint()
        self._waker = DueWaker(client.ping, self._errors.any)  # see arbiter_redis.due_waker
        self._block_slice = min(BLOCK_SLICE, socket_timeout / 2)
        self._node_id = uuid.uuid4().hex
        self._wake_key = self._keys.node_wake(self._node_id)
        self._ids = itertools.count()
        self._id_prefix = self._node_id[:20]
        self._receipt_node = uuid.uuid4().hex[:16] + "."
        self._pull_count = itertools.count()
        self._writes = itertools.count()
        self._lock = threading.Lock()
        self._pulls_left = threading.Condition(self._lock)
        self._active_pulls = 0
        self._closed = False
        self._listener = Listener(
            client,
            self._keys,
            self._node_id,
            connection_errors=self._errors.connection,
            refused_errors=(self._errors.refused,),
            confirm_timeout=socket_timeout,
            poll=connection.HEALTH_CHECK_INTERVAL,
            where=self._url,
        )
        # Close nodes explicitly; one dropped unclosed at least lets its threads end.
        self._finalizer = weakref.finalize(self, _abandon, self._listener, self._waker)
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
        self._waker.close()
        once = single_try_client(self._client)
        try:
            self._listener.close(once.publish)
            if blocked:
                self._wake_own_pulls(once, blocked)
        finally:
            once.connection_pool.disconnect()
            self._client.close()
            self._client.connection_pool.disconnect()

    def _wake_own_pulls(self, client: Any, count: int) -> None:
        """Push a token per pull of this node that may be blocked in BLPOP, and wait for them."""
        try:
            pipe = client.pipeline(transaction=False)
            pipe.lpush(self._wake_key, *[b"1"] * count)
            pipe.pexpire(self._wake_key, WAKE_TTL_MS)
            pipe.execute()
        except self._errors.any:
            return  # the server is gone: their BLPOPs end with an error, then see the close
        with self._lock:
            self._pulls_left.wait_for(lambda: self._active_pulls == 0, CLOSE_WAIT)
        with contextlib.suppress(self._errors.any):  # else it expires by itself
            client.delete(self._wake_key)

    # ------------------------------------------------------------------ plumbing
    def _call(self, what: str, function: Callable[[], T]) -> T:
        """Run ``function`` (some redis-py calls), turning redis-py errors into ours."""
        if self._closed:
            raise NodeClosedError(f"{self!r} is closed")
        try:
            return function()
        except self._errors.connection as exc:
            if self._closed:
                raise NodeClosedError(f"{self!r} was closed during {what}") from exc
            raise BrokerConnectionError(
                f"cannot reach Redis at {self._url} ({what}): {exc} (tried for about "
                f"{self._broker_timeout:g}s; the broker_timeout setting, "
                "ARBITER_BROKER_TIMEOUT, sets how long)"
                + connection.connection_hint(exc, self._url.startswith("rediss:"))
            ) from exc
        except self._errors.any as exc:
            if self._errors.acl_refusal(exc):
                raise BrokerError(
                    f"Redis at {self._url} refused {what} (NOPERM): {exc}"
                    + connection.permission_hint(self.namespace)
                ) from exc
            raise BrokerError(f"Redis at {self._url} failed {what}: {exc}") from exc

    def _new_id(self) -> str:
        # Made here, so a push retried after a lost reply is recognised and not duplicated;
        # ordered per node, so delayed messages due at the same time keep push order.
        return f"{self._id_prefix}{next(self._ids):012x}"

    # ------------------------------------------------------------------ broadcast
    def _emit(self, event: str, payload: bytes) -> None:
        channel = self._keys.channel(event)
        self._call("emit", lambda: self._client.publish(channel, payload))

    def _subscribe(self, event: str, callback: EventCallback) -> None:
        self._call("subscribe", lambda: self._listener.subscribe(event, callback))

    def _unsubscribe(self, event: str, callback: EventCallback) -> None:
        self._call("unsubscribe", lambda: self._listener.unsubscribe(event, callback))

    # ------------------------------------------------------------------ work queues
    def _push(self, queue: str, body: bytes, not_before: float | None, priority: int = 0) -> str:
        message_id = self._new_id()
        keys = self._keys.queue(queue)
        level = priority or ""

        def push() -> None:
            due = self._clock.due(not_before)
            self._scripts.push(keys=keys, args=[message_id, body, due, level])

        self._call("push", push)
        return message_id

    def _pull(
        self, queue: str, timeout: float | None, lease: float, max_messages: int
    ) -> list[Delivery]:
        return self._blocking_pull(queue, timeout, lease, max_messages, None)

    def _pull_and_claim(
        self, queue: str, timeout: float | None, lease: float, max_messages: int, claim: Claim
    ) -> list[Delivery]:
        """The pull script claims each bound record atomically with the lease."""
        return self._blocking_pull(queue, timeout, lease, max_messages, claim)

    def _blocking_pull(
        self,
        queue: str,
        timeout: float | None,
        lease: float,
        max_messages: int,
        claim: Claim | None,
    ) -> list[Delivery]:
        deadline = None if timeout is None else time.monotonic() + timeout
        keys = self._keys.queue(queue)
        wake_keys = [keys.wake, self._wake_key]
        with self._pulling():
            try:
                reply = self._empty.take(queue) or self._call(
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
                    if due_in > 0 and (due_in + 1) / 1000 < wait:
                        wait = (due_in + 1) / 1000
                        # Redis times a BLPOP out on its next tick (100 ms at hz 10) unless
                        # something wakes it: a PING at the due time does.
                        self._waker.wake_at(time.monotonic() + wait)
                    # BLPOP's timeout has millisecond resolution and 0 would mean "forever".
                    wait = max(wait, 0.001)
                    step = functools.partial(
                        self._wait_then_pull, wake_keys, wait, keys, max_messages, lease, claim
                    )
                try:
                    reply = self._call("pull", step)
                except NodeClosedError:
                    return []  # closed by another thread while this pull waited

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
        except self._errors.missing_script:  # the server restarted: load it with a direct call
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
            with contextlib.suppress(self._errors.any):
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
        args = [max_messages, ms(lease), self.max_deliveries, receipt_prefix]
        if claim is None:
            return [*args, ""]
        states = list(claim.expect)
        return [*args, claim.state, ms(claim.ttl), len(states), *states]

    def _run_pull(
        self, keys: Sequence[str], max_messages: int, lease: float, claim: Claim | None = None
    ) -> list[Any]:
        args = self._pull_args(max_messages, lease, claim)
        reply: list[Any] = self._scripts.pull(keys=keys, args=args)
        return reply

    def _deliveries(self, queue: str, reply: list[Any], first: int) -> list[Delivery]:
        """The leases in a script's reply from index ``first`` on (see :mod:`.replies`)."""
        if len(reply) <= first:
            return []
        return replies.deliveries(queue, reply, first, self._clock.offset())

    def _ack(self, delivery: Delivery) -> bool:
        keys = self._keys.queue(delivery.queue)
        args = [delivery.message_id, delivery.receipt]
        return bool(self._call("ack", lambda: self._scripts.ack(keys=keys, args=args)))

    def _nack(self, delivery: Delivery, delay: float) -> bool:
        keys = self._keys.queue(delivery.queue)
        args = [delivery.message_id, delivery.receipt, ms(delay), self.max_deliveries]
        return bool(self._call("nack", lambda: self._scripts.nack(keys=keys, args=args)))

    def _renew(self, deliveries: Sequence[Delivery], lease: float) -> list[bool]:
        if not deliveries:
            self._call("renew", lambda: None)  # still refuses on a closed node
            return []
        by_queue: dict[str, list[int]] = {}
        for index, delivery in enumerate(deliveries):
            by_queue.setdefault(delivery.queue, []).append(index)
        held = [False] * len(deliveries)
        for queue, indexes in by_queue.items():  # one script call per queue
            args: list[Any] = [ms(lease)]
            for index in indexes:
                args += [deliveries[index].message_id, deliveries[index].receipt]
            renew = functools.partial(self._scripts.renew, keys=self._keys.queue(queue), args=args)
            for index, renewed in zip(indexes, self._call("renew", renew), strict=True):
                held[index] = bool(renewed)
        return held

    def _dead_letter(self, delivery: Delivery, reason: str) -> bool:
        keys = self._keys.queue(delivery.queue)
        args = [delivery.message_id, delivery.receipt, reason]
        return bool(
            self._call("dead_letter", lambda: self._scripts.dead_letter(keys=keys, args=args))
        )

    def _dead_letters(self, queue: str, limit: int) -> list[DeadLetter]:
        keys = self._keys.queue(queue)

        def read() -> tuple[list[Any], float]:
            # Settle first, so a spent message whose lease ran out is listed, as it would be
            # on a broker that notices expiries by itself.
            self._run_pull(keys, 0, 1.0)
            if limit <= 0:
                return [], 0.0
            return self._client.xrange(keys.dead, count=limit), self._clock.offset()

        entries, offset = self._call("dead_letters", read)
        return replies.dead_letters(queue, entries, offset, self._keys.record(""))

    def _queue_size(self, queue: str) -> int:
        keys = self._keys.queue(queue)
        reply = self._call("queue_size", lambda: self._run_pull(keys, 0, 1.0))
        return int(reply[1])

    # ------------------------------------------------------------------ operator's tools
    def _queue_stats(self, queue: str) -> QueueStats:
        keys = self._keys.queue(queue)
        args = [self.max_deliveries]
        ready, delayed, leased, dead = self._call(
            "queue_stats", lambda: self._scripts.stats(keys=keys, args=args)
        )
        return QueueStats(int(ready), int(delayed), int(leased), int(dead))

    def _known_queues(self) -> set[str]:
        """SCAN for the queues' ``body`` and ``dead`` keys (every stored message has a body):
        a walk of the keyspace, for operators, never on a task's path."""
        pattern, start, suffixes = self._keys.queue_scan()

        def scan() -> set[str]:
            found = set()
            for name in self._client.scan_iter(match=pattern, count=1000):
                text = replies.text(name)
                for suffix in suffixes:
                    if text.endswith(suffix) and len(text) > start + len(suffix):
                        found.add(text[start : -len(suffix)])
            return found

        return self._call("known_queues", scan)

    def _purge(self, queue: str) -> int:
        keys = self._keys.queue(queue)
        args = [BATCH, self.max_deliveries, PURGED]
        total = 0
        while dropped := int(
            self._call("purge", lambda: self._scripts.purge(keys=keys, args=args))
        ):
            total += dropped  # one batch per call, so no call blocks Redis for long
        return total

    def _requeue_dead_letters(self, queue: str, message_ids: list[str] | None) -> list[str]:
        keys = self._keys.queue(queue)
        requeued: list[str] = []

        def requeue(args: list[Any]) -> list[str]:
            reply = self._call("requeue", lambda: self._scripts.requeue(keys=keys, args=args))
            return [replies.text(item) for item in reply]

        if message_ids is not None:
            for start in range(0, len(message_ids), BATCH):
                requeued += requeue(["=", *message_ids[start : start + BATCH]])
            return requeued
        # Every letter there was at the start, oldest first, a batch per call; letters that
        # die again meanwhile are not taken twice (the count bounds the loop).
        left = int(self._call("requeue", lambda: self._client.xlen(keys.dead)))
        while left > 0:
            taken = requeue(["*", min(BATCH, left)])
            if not taken:
                break
            requeued += taken
            left -= len(taken)
        return requeued

    def _purge_dead_letters(self, queue: str) -> int:
        dead = self._keys.queue(queue).dead

        def purge() -> int:
            pipe = self._client.pipeline(transaction=True)
            pipe.xlen(dead)
            pipe.delete(dead)
            count, _ = pipe.execute()
            return int(count)

        return self._call("purge_dead_letters", purge)

    def _server_info(self) -> dict[str, str]:
        def info() -> dict[Any, Any]:
            try:
                reply: dict[Any, Any] = self._client.info("server")
            except self._errors.refused:  # INFO forbidden (-@dangerous ACLs, a proxy)
                try:  # HELLO without a version changes nothing and names the server too
                    return replies.hello_info(self._client.execute_command("HELLO"))
                except self._errors.refused:
                    return {}
            return reply

        return replies.server_info(self._call("server_info", info))

    # ------------------------------------------------------------------ state
    def _get(self, key: str) -> Record | None:
        name = self._keys.record(key)
        state, data = self._call("get", lambda: self._client.hmget(name, ["state", "data"]))
        return replies.record(state, data)

    def _get_many(self, keys: list[str]) -> dict[str, Record]:
        if not keys:
            self._call("get_many", lambda: None)
            return {}

        def read() -> list[Any]:
            pipe = self._client.pipeline(transaction=False)
            for key in keys:
                pipe.hmget(self._keys.record(key), ["state", "data"])
            found: list[Any] = pipe.execute()
            return found

        found = {}
        for key, (state, data) in zip(keys, self._call("get_many", read), strict=True):
            record = replies.record(state, data)
            if record is not None:
                found[key] = record
        return found

    def _transition_args(self, record: Record, ttl: float, expect: Expect) -> list[Any]:
        # The write id lets a retry (after a lost reply) recognise its own earlier write;
        # unique across nodes (the random node part) and calls (a counter).
        write_id = f"{self._receipt_node}w{next(self._writes):x}"
        return [record.state, record.data, ms(ttl), write_id, *_expect_args(expect)]

    def _transition(
        self, key: str, record: Record, ttl: float, expect: Expect
    ) -> tuple[bool, Record | None]:
        args = self._transition_args(record, ttl, expect)
        keys = [self._keys.record(key)]
        written, state, data = self._call(
            "transition", lambda: self._scripts.transition(keys=keys, args=args)
        )
        if written:
            return True, record
        return False, replies.record(state, data)

    def _transition_many(
        self, items: list[tuple[str, Record, float, Expect]]
    ) -> list[tuple[bool, Record | None]]:
        """One round trip per ``BATCH`` items: the transition script, pipelined."""
        if not items:
            self._call("transition_many", lambda: None)
            return []
        calls = [
            ([self._keys.record(key)], self._transition_args(record, ttl, expect))
            for key, record, ttl, expect in items
        ]
        script = self._scripts.transition

        def run(batch: list[tuple[list[str], list[Any]]]) -> list[Any]:
            def send() -> list[Any]:
                pipe = self._client.pipeline(transaction=False)
                for keys, args in batch:
                    script.queue(pipe, keys=keys, args=args)
                found: list[Any] = pipe.execute()
                return found

            try:
                return send()
            except script._missing:  # a retry is safe: each write knows its own id
                self._client.script_load(script.text)
                return send()

        results: list[tuple[bool, Record | None]] = []
        for start in range(0, len(calls), BATCH):
            batch = calls[start : start + BATCH]
            reply = self._call("transition_many", functools.partial(run, batch))
            for (_, record, _, _), (written, state, data) in zip(
                items[start : start + BATCH], reply, strict=True
            ):
                results.append((True, record) if written else (False, replies.record(state, data)))
        return results

    def _transition_and_push(self, item: TransitionPush) -> bool:
        """One round trip: the record is written, then the message pushed, in one script."""
        keys, args = self._push_call(item)

        def run() -> Any:
            due = self._clock.due(item.not_before)
            return self._scripts.transition_and_push(
                keys=keys, args=[*args, due, item.priority or ""]
            )

        return bool(self._call("transition_and_push", run))

    def _transition_and_push_many(self, items: list[TransitionPush]) -> list[bool]:
        """One round trip per ``BATCH`` items: one script applies them in order."""
        if not items:
            self._call("transition_and_push_many", lambda: None)
            return []
        prepared = [(*self._push_call(item), item.not_before, item.priority) for item in items]

        def run(batch: list[tuple[list[str], list[Any], float | None, int]]) -> Any:
            keys: list[str] = []
            args: list[Any] = []
            for item_keys, item_args, not_before, priority in batch:
                keys += item_keys
                args += [*item_args, self._clock.due(not_before), priority or ""]
            return self._scripts.transition_and_push_many(keys=keys, args=args)

        written: list[bool] = []
        for start in range(0, len(prepared), BATCH):
            batch = prepared[start : start + BATCH]
            reply = self._call("transition_and_push_many", functools.partial(run, batch))
            written += [bool(flag) for flag in reply]
        return written

    def _push_call(self, item: TransitionPush) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV (but the due time and level) of one item of the scripts that write
        and push."""
        args = self._transition_args(item.record, item.ttl, item.expect)
        keys = [self._keys.record(item.key), *self._keys.queue(item.queue)]
        return keys, [*args, self._new_id(), item.body]

    def _transition_and_ack(self, delivery: Delivery, outcome: Outcome) -> bool:
        """One round trip: store, publish if written, then ack, in one script."""
        keys, args = self._finish_call(delivery, outcome)
        written, _acked = self._call(
            "transition_and_ack", lambda: self._scripts.transition_and_ack(keys=keys, args=args)
        )
        return bool(written)

    def _transition_ack_and_pull(
        self,
        delivery: Delivery,
        outcome: Outcome,
        lease: float,
        max_messages: int,
        claim: Claim | None,
    ) -> tuple[bool, list[Delivery]]:
        """One round trip: store, publish if written, ack, then lease (and claim) the next."""
        keys, args = self._finish_call(delivery, outcome)

        def run() -> list[Any]:
            pull = self._pull_args(max_messages, lease, claim)
            reply: list[Any] = self._scripts.transition_ack_and_pull(keys=keys, args=args + pull)
            return reply

        reply = self._call("transition_ack_and_pull", run)
        taken = self._deliveries(delivery.queue, reply, 3)
        if not taken:  # this thread's next pull of the queue can go straight to waiting
            self._empty.remember(delivery.queue, int(reply[2]))
        return bool(reply[0]), self._unless_closed(taken)

    def _transition_push_ack_and_pull(
        self,
        pushes: list[TransitionPush],
        delivery: Delivery,
        outcome: Outcome,
        lease: float,
        max_messages: int,
        claim: Claim | None,
    ) -> tuple[list[bool], bool, list[Delivery]]:
        """One round trip (for up to ``BATCH`` pushes): push, store, announce, ack, lease."""
        if len(pushes) > BATCH:  # the rest of a large batch first, so no call runs long
            head = self._transition_and_push_many(pushes[:-BATCH])
            tail, written, taken = self._transition_push_ack_and_pull(
                pushes[-BATCH:], delivery, outcome, lease, max_messages, claim
            )
            return head + tail, written, taken
        prepared = [(*self._push_call(item), item.not_before, item.priority) for item in pushes]
        finish_keys, finish_args = self._finish_call(delivery, outcome)

        def run() -> list[Any]:
            keys: list[str] = []
            args: list[Any] = [len(prepared)]
            for item_keys, item_args, not_before, priority in prepared:
                keys += item_keys
                args += [*item_args, self._clock.due(not_before), priority or ""]
            pull = self._pull_args(max_messages, lease, claim)
            reply: list[Any] = self._scripts.transition_push_ack_and_pull(
                keys=keys + finish_keys, args=args + finish_args + pull
            )
            return reply

        pushed, reply = self._call("transition_push_ack_and_pull", run)
        taken = self._deliveries(delivery.queue, reply, 3)
        if not taken:  # this thread's next pull of the queue can go straight to waiting
            self._empty.remember(delivery.queue, int(reply[2]))
        return [bool(flag) for flag in pushed], bool(reply[0]), self._unless_closed(taken)

    def _finish_call(self, delivery: Delivery, outcome: Outcome) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV shared by the scripts that store an outcome and ack its message."""
        args = self._transition_args(outcome.record, outcome.ttl, outcome.expect)
        channel = self._keys.channel(outcome.event) if outcome.event else ""
        keys = [self._keys.record(outcome.key), *self._keys.queue(delivery.queue)]
        args += [delivery.message_id, delivery.receipt, channel, outcome.payload]
        return keys, args

    def _delete(self, key: str) -> None:
        name = self._keys.record(key)
        self._call("delete", lambda: self._client.delete(name))

    def _heartbeat(self, worker_id: str, info: bytes, ttl: float) -> None:
        keys = [self._keys.workers, self._keys.workers_info]
        args = [worker_id, info, ms(ttl)]
        self._call("heartbeat", lambda: self._scripts.heartbeat(keys=keys, args=args))

    def _live_workers(self) -> dict[str, bytes]:
        keys = [self._keys.workers, self._keys.workers_info]
        reply = self._call("live_workers", lambda: self._scripts.live_workers(keys=keys))
        return replies.workers(reply)

    def _remove_worker(self, worker_id: str) -> None:
        keys = [self._keys.workers, self._keys.workers_info]
        self._call(
            "remove_worker", lambda: self._scripts.remove_worker(keys=keys, args=[worker_id])
        )

    def _now(self) -> float:
        """The server's clock: the offset the due times use (a TIME now and then)."""
        return time.time() + self._call("now", self._clock.offset)


def create_node(url: str, settings: Settings) -> RedisEventNode:
    """The node factory of the ``redis``, ``rediss`` and ``unix`` schemes (see the plugin).

    The namespace, ``max_deliveries`` and ``broker_timeout`` come from the settings; the URL's db,
    username, password and TLS pass through to redis-py.
    """
    return RedisEventNode(
        url=url,
        namespace=settings.namespace,
        max_deliveries=settings.max_deliveries,
        broker_timeout=settings.broker_timeout,
    )
