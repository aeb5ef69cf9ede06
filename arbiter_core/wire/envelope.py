"""The envelope: everything a worker needs to run one task, independent of encoding."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from arbiter_core.errors import MessageRejected
from arbiter_core.node.arguments import require_name
from arbiter_core.wire.codecs import short_repr

ENVELOPE_VERSION = 1


def new_task_id() -> str:
    """A random, URL-safe task id (uuid4 hex)."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Envelope:
    """One task message.

    ``deadline`` (a ``time.time()`` value) is when the task stops being worth
    starting; ``reply_to`` is the event the submitting Arbiter listens on for
    completion; ``headers`` carry composition data (group, pipe, callbacks).
    """

    task: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_task_id)
    queue: str = "default"
    attempt: int = 1
    deadline: float | None = None
    reply_to: str | None = None
    headers: Mapping[str, Any] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict for a codec: lists and dicts only, plus the envelope version."""
        return {
            "v": ENVELOPE_VERSION,
            "id": self.id,
            "task": self.task,
            "args": list(self.args),
            "kwargs": dict(self.kwargs),
            "queue": self.queue,
            "attempt": self.attempt,
            "deadline": self.deadline,
            "reply_to": self.reply_to,
            "headers": dict(self.headers),
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Envelope:
        """Validate a decoded dict field by field; any mismatch is a :class:`MessageRejected`
        whose reason names the field.

        It does not rely on the codec (pickle can deliver any object): ``id``, ``task``
        and ``queue`` are non-empty str that encode as UTF-8, ``reply_to`` such a str
        or None (empty meaning no reply); ``args`` a list or tuple; ``kwargs`` and
        ``headers`` dicts with str keys; ``attempt`` an int from 1 to 2**63 - 1 (not a
        bool); ``created_at`` and ``deadline`` (or None) finite numbers. What
        ``headers`` hold is checked where it is used (see :mod:`arbiter_core.composition`).
        Fields this version does not know are ignored, so a newer sender may add some.
        """
        if not isinstance(data, dict):
            raise MessageRejected(f"envelope is a {type(data).__name__}, not an object")
        version = data.get("v")
        if type(version) is not int or version != ENVELOPE_VERSION:
            raise MessageRejected(f"unsupported envelope version {short_repr(version)}")
        for name in _FIELDS:
            if name not in data:
                raise MessageRejected(f"envelope field {name!r} is missing")
        args = data["args"]
        if not isinstance(args, (list, tuple)):
            raise MessageRejected(
                f"envelope field 'args' has type {type(args).__name__}, not a list"
            )
        attempt = data["attempt"]
        if isinstance(attempt, bool) or not isinstance(attempt, int):
            raise MessageRejected(
                f"envelope field 'attempt' has type {type(attempt).__name__}, not an int"
            )
        if not 1 <= attempt <= _MAX_ATTEMPT:
            raise MessageRejected(
                f"envelope field 'attempt' must be from 1 to 2**63 - 1, got {short_repr(attempt)}"
            )
        reply_to = data["reply_to"]
        if reply_to is not None:
            if not isinstance(reply_to, str):
                raise MessageRejected(
                    f"envelope field 'reply_to' has type {type(reply_to).__name__}, not a str"
                )
            if reply_to:  # empty: no reply wanted
                _name(reply_to, "reply_to")
        return cls(
            task=_name(data["task"], "task"),
            args=tuple(args),
            kwargs=_str_keyed(data["kwargs"], "kwargs"),
            id=_name(data["id"], "id"),
            queue=_name(data["queue"], "queue"),
            attempt=attempt,
            deadline=None if data["deadline"] is None else _finite(data["deadline"], "deadline"),
            reply_to=reply_to,
            headers=_str_keyed(data["headers"], "headers"),
            created_at=_finite(data["created_at"], "created_at"),
        )


_FIELDS = (
    "id",
    "task",
    "args",
    "kwargs",
    "queue",
    "attempt",
    "deadline",
    "reply_to",
    "headers",
    "created_at",
)
_MAX_ATTEMPT = 2**63 - 1


def _name(value: Any, field: str) -> str:
    """A non-empty str that encodes as UTF-8 (a broker key or channel), else rejected."""
    if type(value) is str and value and value.isascii():
        return value  # the common case, checked without the exception machinery
    try:
        return require_name(value, f"envelope field {field!r}")
    except (TypeError, ValueError) as exc:
        raise MessageRejected(str(exc)) from None


def _str_keyed(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MessageRejected(
            f"envelope field {field!r} has type {type(value).__name__}, not an object"
        )
    for key in value:
        if not isinstance(key, str):
            raise MessageRejected(
                f"envelope field {field!r} has a key of type {type(key).__name__}; "
                "its keys must be str"
            )
    return value


def _finite(value: Any, field: str) -> float:
    """A timestamp: an int or float that is finite as a float (not NaN, inf, or a huge int)."""
    if type(value) is float:
        if value - value == 0.0:  # false for NaN and +-inf
            return value
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MessageRejected(
            f"envelope field {field!r} has type {type(value).__name__}, not a number"
        )
    else:
        try:
            if math.isfinite(value):
                return value
        except OverflowError:  # an int too large for a float
            pass
    raise MessageRejected(
        f"envelope field {field!r} must be a finite number, got {short_repr(value)}"
    )
