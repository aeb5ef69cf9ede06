"""An RPC request: which function, its arguments, and where and until when to answer.

On the broker it is a frame of the wire format (so signed when a secret is set) around
a mapping of its own shape, marked ``"rpc": 1``: a task envelope does not decode as a
request, nor a request as a task envelope, so neither can be replayed as the other.

It is untrusted input: :meth:`RpcRequest.decode` checks every field and turns any
problem into a :class:`~arbiter_core.errors.MessageRejected` with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from arbiter_core.errors import LimitExceededError, MessageRejected, SerializationError
from arbiter_core.node import require_name
from arbiter_core.rpc.channels import MAX_TIMEOUT, REPLY_PREFIX
from arbiter_core.wire import WireFormat, new_task_id
from arbiter_core.wire.codecs import short_repr

REQUEST_VERSION = 1


@dataclass(frozen=True, slots=True)
class RpcRequest:
    """One call. ``budget`` is the caller's timeout in seconds: a minion gives up on the
    call that long after it received it (its own clock); ``deadline`` is the caller's
    ``time.time()`` when its wait ends, checked only against replays (see
    :data:`~arbiter_core.rpc.channels.CLOCK_TOLERANCE`)."""

    name: str
    queue: str
    reply_to: str
    budget: float
    deadline: float
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_task_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rpc": REQUEST_VERSION,
            "id": self.id,
            "name": self.name,
            "queue": self.queue,
            "reply_to": self.reply_to,
            "budget": self.budget,
            "deadline": self.deadline,
            "args": list(self.args),
            "kwargs": dict(self.kwargs),
        }

    def encode(self, wire: WireFormat) -> bytes:
        """The request's frame; an argument that does not encode is named in the error, and
        a request over the message size or nesting limit is a LimitExceededError saying so."""
        try:
            frame = wire.pack(self.to_dict(), f"rpc {self.name!r}")
        except SerializationError as exc:
            raise SerializationError(f"rpc {self.name!r}: {self._culprit(wire, exc)}") from exc
        too_big = wire.limits.message_too_big(len(frame))
        if too_big:
            raise LimitExceededError(
                f"rpc {self.name!r}: {too_big}; pass a reference to big data (a path, a URL, "
                "a key) instead, or raise the limit"
            )
        too_deep = wire.too_deep(frame, self.args, self.kwargs)
        if too_deep:
            raise LimitExceededError(f"rpc {self.name!r}: {too_deep}")
        return frame

    def _culprit(self, wire: WireFormat, error: SerializationError) -> str:
        parts = [(f"args[{i}]", arg) for i, arg in enumerate(self.args)]
        parts += [(f"kwargs[{short_repr(key)}]", value) for key, value in self.kwargs.items()]
        for name, part in parts:
            try:
                wire.codec.dumps(part, name)
            except SerializationError as culprit:
                return str(culprit)
        return f"the request cannot be encoded ({error})"

    @classmethod
    def decode(cls, wire: WireFormat, data: bytes) -> RpcRequest:
        """Verify and check a request frame; every problem is a MessageRejected.

        Not held to the limits here: a genuine request over them is answered, saying
        why (see :meth:`over_limits`), so it must be read to know where to answer.
        """
        return cls.from_dict(wire.unpack(data))

    def over_limits(self, wire: WireFormat, data: bytes) -> str | None:
        """Why this request, decoded from the frame ``data``, is over ``wire``'s message
        size or nesting limit, or None: one ``len()`` and a bracket count when it is not."""
        return wire.limits.message_too_big(len(data)) or wire.too_deep(data, self.args, self.kwargs)

    @classmethod
    def from_dict(cls, data: Any) -> RpcRequest:
        if not isinstance(data, dict):
            raise MessageRejected(f"rpc request is a {type(data).__name__}, not an object")
        version = data.get("rpc")
        if type(version) is not int or version != REQUEST_VERSION:
            raise MessageRejected(f"not an rpc request (version {short_repr(version)})")
        names = {}
        for key in ("id", "name", "queue", "reply_to"):
            try:
                names[key] = require_name(data.get(key), f"rpc request field {key!r}")
            except (TypeError, ValueError) as exc:
                raise MessageRejected(str(exc)) from None
        if not names["reply_to"].startswith(REPLY_PREFIX):
            raise MessageRejected(f"rpc reply_to must start with {REPLY_PREFIX!r}")
        budget = _number(data.get("budget"), "budget")
        if not 0 < budget <= MAX_TIMEOUT:
            raise MessageRejected(f"rpc budget must be in (0, {MAX_TIMEOUT:g}] seconds")
        args = data.get("args")
        if not isinstance(args, (list, tuple)):
            raise MessageRejected("rpc request field 'args' must be a list")
        kwargs = data.get("kwargs")
        if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
            raise MessageRejected("rpc request field 'kwargs' must be an object with str keys")
        return cls(
            name=names["name"],
            queue=names["queue"],
            reply_to=names["reply_to"],
            budget=budget,
            deadline=_number(data.get("deadline"), "deadline"),
            args=tuple(args),
            kwargs=kwargs,
            id=names["id"],
        )


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MessageRejected(f"rpc request field {name!r} must be a finite number")
    return float(value)
