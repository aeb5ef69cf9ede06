"""The envelope: everything a worker needs to run one task, independent of encoding."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from arbiter_core.errors import MessageRejected

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
        """Validate a decoded dict field by field; any mismatch is a :class:`MessageRejected`."""
        if not isinstance(data, dict):
            raise MessageRejected(f"envelope is a {type(data).__name__}, not an object")
        version = data.get("v")
        if version != ENVELOPE_VERSION:
            raise MessageRejected(f"unsupported envelope version {version!r}")
        checks: dict[str, tuple[type | tuple[type, ...], bool]] = {
            "id": (str, True),
            "task": (str, True),
            "args": ((list, tuple), True),
            "kwargs": (dict, True),
            "queue": (str, True),
            "attempt": (int, True),
            "deadline": ((int, float), False),
            "reply_to": (str, False),
            "headers": (dict, True),
            "created_at": ((int, float), True),
        }
        for name, (kind, required) in checks.items():
            if name not in data:
                raise MessageRejected(f"envelope field {name!r} is missing")
            value = data[name]
            if value is None and not required:
                continue
            if not isinstance(value, kind) or isinstance(value, bool):
                raise MessageRejected(f"envelope field {name!r} has type {type(value).__name__}")
        if not data["id"] or not data["task"]:
            raise MessageRejected("envelope id and task name must not be empty")
        if data["attempt"] < 1:
            raise MessageRejected(f"envelope attempt must be >= 1, got {data['attempt']}")
        return cls(
            task=data["task"],
            args=tuple(data["args"]),
            kwargs=data["kwargs"],
            id=data["id"],
            queue=data["queue"],
            attempt=data["attempt"],
            deadline=data["deadline"],
            reply_to=data["reply_to"],
            headers=data["headers"],
            created_at=data["created_at"],
        )
