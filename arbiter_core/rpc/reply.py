"""An RPC reply: the value a call returned, or the error it raised, back to its caller.

On the broker a reply is the request id, a newline, then a wire frame (signed when a
secret is set) of a mapping marked ``"rpc_reply": 1``. The id in clear lets the
caller's node route the reply without decoding it (see
:class:`~arbiter_core.rpc.client.RpcClient`); the waiting caller then verifies the
frame and believes only a frame whose own id matches.

A reply carries one of: ``result``; ``error`` (``type``, ``message``, ``traceback``,
as a task's status does), raised again by the caller as a
:class:`~arbiter_core.errors.RemoteTaskError`; or ``unknown`` (the functions the
minion has), raised again as an :class:`~arbiter_core.errors.UnknownRpcError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arbiter_core.errors import (
    LimitExceededError,
    MessageRejected,
    RemoteTaskError,
    UnknownRpcError,
)
from arbiter_core.wire import WireFormat

REPLY_VERSION = 1


@dataclass(frozen=True, slots=True)
class RpcReply:
    """What a minion answered to request ``id`` (``worker`` says which minion)."""

    id: str
    worker: str
    result: Any = None
    error: dict[str, str] | None = None
    unknown: tuple[str, ...] | None = None
    too_big: str | None = None
    """Why the result is not handed over: its reply is over the caller's ``max_result_size``."""

    def encode(self, wire: WireFormat) -> bytes:
        """The reply's payload; a result that does not encode is a SerializationError."""
        body: dict[str, Any] = {"rpc_reply": REPLY_VERSION, "id": self.id, "worker": self.worker}
        if self.unknown is not None:
            body["unknown"] = list(self.unknown)
        elif self.error is not None:
            body["error"] = dict(self.error)
        else:
            body["result"] = self.result
        return self.id.encode() + b"\n" + wire.pack(body, "the rpc result")

    def value(self, name: str, queue: str) -> Any:
        """The call's result, or its error raised again."""
        if self.unknown is not None:
            raise UnknownRpcError(name, queue, self.unknown)
        if self.too_big is not None:
            raise LimitExceededError(f"rpc {name!r} on queue {queue!r}: {self.too_big}")
        if self.error is not None:
            raise RemoteTaskError(
                self.error["type"], self.error["message"], self.error["traceback"]
            )
        return self.result

    @classmethod
    def decode(cls, wire: WireFormat, frame: bytes, request_id: str) -> RpcReply:
        """Verify and check the frame of a reply to ``request_id``; MessageRejected if not.

        A genuine reply whose result is over ``wire``'s ``max_result_size`` (a minion with
        looser limits sent it) comes back ``too_big``, without the result.
        """
        body = wire.unpack(frame)
        if not isinstance(body, dict) or body.get("rpc_reply") != REPLY_VERSION:
            raise MessageRejected("not an rpc reply")
        if body.get("id") != request_id:
            raise MessageRejected("an rpc reply for another request")
        worker = body.get("worker")
        worker = worker if isinstance(worker, str) else "?"
        if "unknown" in body:
            names = body["unknown"]
            if not isinstance(names, list):
                raise MessageRejected("rpc reply field 'unknown' must be a list")
            return cls(request_id, worker, unknown=tuple(str(n) for n in names))
        if "error" in body:
            error = body["error"]
            if not isinstance(error, dict):
                raise MessageRejected("rpc reply field 'error' must be an object")
            text = {key: str(error.get(key, "")) for key in ("type", "message", "traceback")}
            return cls(request_id, worker, error=text)
        too_big = wire.limits.result_too_big(len(frame))
        if too_big is not None:
            return cls(request_id, worker, too_big=too_big)
        return cls(request_id, worker, result=body.get("result"))


def split_reply(payload: bytes) -> tuple[str, bytes]:
    """The request id a reply is addressed to (in clear), and its frame."""
    request_id, _, frame = payload.partition(b"\n")
    return request_id.decode("utf-8", "replace"), frame
