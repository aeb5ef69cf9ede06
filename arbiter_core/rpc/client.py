"""Calling a function on a minion and waiting for its answer (``Arbiter.rpc``).

A call is broadcast on the queue's request event, not queued: it reaches the minions
serving the queue at that moment, exactly one of them runs it (see
:mod:`~arbiter_core.rpc.claim`), and the answer comes back on this client's reply
event. Nothing is stored for the caller and nothing is retried: a call is answered
at most once, and a call no minion answers within its timeout raises
:class:`~arbiter_core.errors.RpcTimeoutError`.

The reply event's callback only routes (a :class:`~arbiter_core.node.Quick`): it reads
the request id in clear and hands the frame to the waiting call, whose own thread
verifies and decodes it. A reply that does not verify is not believed; the call waits
on for the genuine one.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Mapping, Sequence
from queue import Empty, SimpleQueue
from typing import Any

from arbiter_core.errors import BrokerError, MessageRejected, NodeClosedError, RpcTimeoutError
from arbiter_core.liveness import served_queues
from arbiter_core.node import EventNode, Quick, require_name
from arbiter_core.rpc.channels import MAX_TIMEOUT, reply_event, request_event
from arbiter_core.rpc.reply import RpcReply, split_reply
from arbiter_core.rpc.request import RpcRequest
from arbiter_core.wire import WireFormat

log = logging.getLogger("arbiter.client")


class RpcClient:
    """One Arbiter's calls in flight: request id → the inbox its caller waits on."""

    def __init__(self, node: EventNode, wire: WireFormat, client_id: str) -> None:
        self.node = node
        self.wire = wire
        self.reply_to = reply_event(client_id)
        self._on_reply = Quick(self._route)
        self._lock = threading.Lock()  # the pending calls; the reply callback takes it
        self._pending: dict[str, SimpleQueue[bytes]] = {}
        self._listen_lock = threading.Lock()  # held while subscribing, so not the same lock
        self._listening = False

    def call(
        self,
        queue: str,
        name: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        timeout: float,
    ) -> Any:
        """Run ``name(*args, **kwargs)`` on one minion serving ``queue``; its result.

        Raises what :meth:`RpcReply.value` raises for an error reply, RpcTimeoutError
        if no answer comes within ``timeout`` seconds, SerializationError (naming the
        argument) before anything is sent if an argument cannot be encoded, and its
        subclass LimitExceededError (naming the size and the limit) if the request is over
        ``max_message_size`` or ``max_nesting_depth``, or the reply over ``max_result_size``.
        """
        require_name(queue, "queue")
        require_name(name, "rpc name")
        if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
            raise TypeError(f"rpc args must be a list or tuple, got {type(args).__name__}")
        budget = _timeout(timeout)
        request = RpcRequest(
            name=name,
            queue=queue,
            reply_to=self.reply_to,
            budget=budget,
            deadline=time.time() + budget,
            args=tuple(args),
            kwargs=dict(kwargs or {}),
        )
        frame = request.encode(self.wire)
        self._listen()
        inbox: SimpleQueue[bytes] = SimpleQueue()
        with self._lock:
            self._pending[request.id] = inbox
        try:
            gives_up_at = time.monotonic() + budget
            self.node.emit(request_event(queue), frame)
            while True:
                try:
                    payload = inbox.get(timeout=max(0.0, gives_up_at - time.monotonic()))
                except Empty:
                    raise RpcTimeoutError(name, queue, budget, self._why_silent(queue)) from None
                try:
                    reply = RpcReply.decode(self.wire, payload, request.id)
                except MessageRejected as exc:
                    log.warning("ignoring a reply to rpc %r that is not believed: %s", name, exc)
                    continue
                return reply.value(name, queue)
        finally:
            with self._lock:
                self._pending.pop(request.id, None)

    def close(self) -> None:
        """Stop listening for replies (idempotent); calls still waiting time out."""
        with self._listen_lock:
            listening, self._listening = self._listening, False
        if listening:
            with contextlib.suppress(NodeClosedError):  # a borrowed node its owner closed
                self.node.unsubscribe(self.reply_to, self._on_reply)

    def _listen(self) -> None:
        with self._listen_lock:
            if self._listening:
                return
            self.node.subscribe(self.reply_to, self._on_reply)  # active when it returns
            self._listening = True

    def _route(self, event: str, payload: bytes) -> None:
        request_id, frame = split_reply(payload)
        with self._lock:
            inbox = self._pending.get(request_id)
        if inbox is not None:  # else a late reply to a call that gave up: dropped
            inbox.put(frame)

    def _why_silent(self, queue: str) -> str:
        """What the worker registry says of a call nobody answered (one read, on timeout)."""
        try:
            served = queue in served_queues(self.node.live_workers())
        except BrokerError:
            return ""
        if not served:
            return f"no live minion serves queue {queue!r}"
        return (
            "the minions serving it did not answer in time (at most once: the call may "
            "have run, or not at all)"
        )


def _timeout(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"rpc timeout must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or not 0 < value <= MAX_TIMEOUT:
        raise ValueError(f"rpc timeout must be in (0, {MAX_TIMEOUT:g}] seconds, got {value!r}")
    return float(value)
