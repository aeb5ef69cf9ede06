"""Serving RPC on a running minion: requests in, one claim, the call, the reply out.

While ``Minion.run`` lasts, the minion listens on its queue's request event
(``rpc:{queue}``). For each request:

1. On the node's event thread (a :class:`~arbiter_core.node.Quick` callback): the
   arrival time is noted and the frame handed to the RPC pool; nothing else.
2. On a thread of the RPC pool: the frame is verified and checked (a forged,
   unsigned or malformed one is logged and dropped, never run, and never stops the
   minion); the call is skipped if its caller has given up (``budget`` seconds
   after it arrived); else the minion claims it (see
   :mod:`~arbiter_core.rpc.claim`), and only the winner runs the function and
   emits the reply on the caller's reply event. A minion that does not have the
   function waits :data:`~arbiter_core.rpc.channels.UNKNOWN_GRACE` before it
   claims, so that one that has it answers first, then answers "unknown". A
   genuine request over this minion's ``max_message_size`` or ``max_nesting_depth``
   is never run: after the same grace it is claimed and answered with a
   :class:`~arbiter_core.errors.LimitExceededError` saying why; a result over
   ``max_result_size`` is answered with one instead of being sent.

The RPC pool is apart from the task slots: ``rpc_workers`` threads (``Minion.run``),
so calls never take a slot from queued tasks nor wait behind them. At most
:data:`BACKLOG_PER_WORKER` requests per thread wait for one; past that a request is
dropped unclaimed (logged), so another minion may take it, or its caller times out.
A busy minion claims later than an idle one, so calls go to whoever is free first.

On stop, the minion stops taking requests; those waiting for a thread are dropped
unclaimed, and those running finish and reply if the node is still open.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from arbiter_core.errors import (
    BrokerError,
    LimitExceededError,
    MessageRejected,
    SerializationError,
)
from arbiter_core.node import Quick
from arbiter_core.records import error_info
from arbiter_core.rpc.channels import CLOCK_TOLERANCE, UNKNOWN_GRACE, request_event
from arbiter_core.rpc.claim import claim_call
from arbiter_core.rpc.functions import RpcFunctions
from arbiter_core.rpc.reply import RpcReply
from arbiter_core.rpc.request import RpcRequest

if TYPE_CHECKING:  # the minion imports this module: nothing of the minion's at run time
    from arbiter_core.minion.run_context import RunContext

log = logging.getLogger("arbiter.minion")

DEFAULT_RPC_WORKERS = 4
"""Threads a minion runs RPC calls on, beside (not out of) its task slots."""
BACKLOG_PER_WORKER = 32
"""Requests per RPC thread that may wait for one; more are dropped unclaimed."""
WARN_EVERY = 10.0
"""Seconds between two warnings of the same kind (a flood logs a line, not a flood)."""


class RpcServer:
    """Answers the RPC calls of one minion run (see the module docstring)."""

    def __init__(
        self,
        context: RunContext,
        functions: RpcFunctions,
        *,
        workers: int,
        stopping: threading.Event,
    ) -> None:
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"rpc_workers must be an int >= 1, got {workers!r}")
        self.node = context.node
        self.wire = context.wire
        self.queue = context.queue
        self.worker_id = context.worker_id
        self.functions = functions
        self.workers = workers
        self.stopping = stopping
        self.event = request_event(context.queue)
        self._lock = threading.Lock()
        self._waiting = 0  # requests handed to the pool, not finished
        self._limit = workers * (BACKLOG_PER_WORKER + 1)
        self._warned: dict[str, float] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._on_request = Quick(self._hand_over)  # it only counts and submits
        self.serving = threading.Event()
        """Set once requests reach this minion (it is subscribed), until :meth:`stop`."""

    def start(self) -> None:
        """Listen for requests; BrokerError if the broker is down (then call it again)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="arbiter-rpc")
        self.node.subscribe(self.event, self._on_request)  # subscribing twice is a no-op
        self.serving.set()

    def stop(self) -> None:
        """Stop taking requests; drop those not started. Never raises for the broker."""
        self.serving.clear()
        try:
            self.node.unsubscribe(self.event, self._on_request)
        except BrokerError as exc:
            log.warning("could not unsubscribe from rpc requests: %s", exc)
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    # -- on the node's event thread (a Quick callback): count, hand over, nothing more
    def _hand_over(self, event: str, payload: bytes) -> None:
        received = time.monotonic()
        pool = self._pool
        if pool is None or self.stopping.is_set():
            return  # stopping: another minion may take it
        with self._lock:
            full = self._waiting >= self._limit
            if not full:
                self._waiting += 1
        if full:
            self._warn(
                "full", "the rpc pool of queue %r is full (%d requests): dropping one unclaimed",
                self.queue, self._limit,
            )  # fmt: skip
            return
        try:
            pool.submit(self._serve, payload, received)
        except RuntimeError:  # the pool was shut down meanwhile: we are stopping
            self._done()

    # -- on an RPC thread
    def _serve(self, payload: bytes, received: float) -> None:
        try:
            request = self._check(payload)
            if request is not None:
                refusal = request.over_limits(self.wire, payload)
                self._answer(request, received + request.budget, refusal)
        finally:
            self._done()

    def _check(self, payload: bytes) -> RpcRequest | None:
        """The request, or None (logged) if it is not one to run: it does not verify or
        decode, is addressed to another queue, or is a replay of an old one."""
        try:
            request = RpcRequest.decode(self.wire, payload)
            if request.queue != self.queue:
                raise MessageRejected(f"it is addressed to queue {request.queue!r}")
            if time.time() > request.deadline + CLOCK_TOLERANCE:
                raise MessageRejected("its deadline passed long ago (a replay, or clock skew)")
        except MessageRejected as exc:
            self._warn("refused", "refusing an rpc request on queue %r: %s", self.queue, exc)
            return None
        return request

    def _answer(self, request: RpcRequest, gives_up_at: float, refusal: str | None) -> None:
        """Claim and answer the call: run it, or say it is unknown, or (``refusal``) why
        it is over this minion's limits. The last two wait the grace before they claim,
        so a minion that has the function, or looser limits, answers first."""
        try:
            function = None if refusal else self.functions.get(request.name)
            if function is None:
                wait = min(UNKNOWN_GRACE, (gives_up_at - time.monotonic()) / 2)
                if wait > 0 and self.stopping.wait(wait):
                    return
            if time.monotonic() >= gives_up_at:
                log.debug("rpc %r (%s): its caller gave up before a thread was free",
                          request.name, request.id)  # fmt: skip
                return
            if not claim_call(self.node, request.id, self.worker_id, request.budget):
                return  # another minion runs it
            if refusal:
                reply = self._refused(request, refusal)
            elif function is None:
                reply = self._unknown(request)
            else:
                reply = self._run(request, function)
            self.node.emit(request.reply_to, self._encoded(reply, request))
        except BrokerError as exc:
            log.warning("rpc %r (%s) could not be answered: %s", request.name, request.id, exc)
        except Exception:  # a bug in arbiter, not in the function: log it, keep serving
            log.exception("rpc %r (%s) failed in arbiter", request.name, request.id)

    def _run(self, request: RpcRequest, function: Callable[..., Any]) -> RpcReply:
        started = time.perf_counter()
        try:
            if inspect.iscoroutinefunction(function):
                result = asyncio.run(function(*request.args, **request.kwargs))
            else:
                result = function(*request.args, **request.kwargs)
        except Exception as exc:  # noqa: BLE001 - the caller gets it, with its traceback
            log.warning(
                "rpc %r (%s) raised %s: %s", request.name, request.id, type(exc).__name__, exc
            )
            return RpcReply(request.id, self.worker_id, error=_error(exc))
        log.debug("rpc %r (%s) answered in %.3fs", request.name, request.id,
                  time.perf_counter() - started)  # fmt: skip
        return RpcReply(request.id, self.worker_id, result=result)

    def _unknown(self, request: RpcRequest) -> RpcReply:
        log.warning("rpc %r is not registered on queue %r", request.name, self.queue)
        return RpcReply(request.id, self.worker_id, unknown=tuple(sorted(self.functions)))

    def _refused(self, request: RpcRequest, refusal: str) -> RpcReply:
        self._warn("limits", "refusing rpc %r (%s) on queue %r: %s",
                   request.name, request.id, self.queue, refusal)  # fmt: skip
        error = LimitExceededError(f"rpc {request.name!r} was refused by its minion: {refusal}")
        return RpcReply(request.id, self.worker_id, error=_error(error))

    def _encoded(self, reply: RpcReply, request: RpcRequest) -> bytes:
        """The reply's payload; a result that cannot be encoded, or is over the
        ``max_result_size`` limit, is replaced by an error reply saying so."""
        try:
            payload = reply.encode(self.wire)
        except SerializationError as exc:
            error = SerializationError(
                f"rpc {request.name!r} returned a value that cannot be encoded: {exc}"
            )
        else:
            too_big = self.wire.limits.result_too_big(len(payload))
            if too_big is None:
                return payload
            log.warning("rpc %r (%s): %s", request.name, request.id, too_big)
            error = LimitExceededError(
                f"rpc {request.name!r} returned a value too big to send: {too_big}; return a "
                "reference to big data (a path, a URL, a key) instead, or raise the limit"
            )
        return RpcReply(request.id, self.worker_id, error=_error(error)).encode(self.wire)

    def _done(self) -> None:
        with self._lock:
            self._waiting -= 1

    def _warn(self, kind: str, message: str, *args: object) -> None:
        now = time.monotonic()
        with self._lock:
            due = now - self._warned.get(kind, -WARN_EVERY) >= WARN_EVERY
            if due:
                self._warned[kind] = now
        if due:
            log.warning(message, *args)
        else:
            log.debug(message, *args)


def _error(exc: BaseException) -> dict[str, str]:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return {key: str(value) for key, value in error_info(exc, text).items()}
