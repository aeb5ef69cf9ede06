"""Reading the scripts' and commands' replies back into arbiter's types.

Redis answers in bytes (and the scripts in flat arrays, laid out in each script's
header); these turn them into :class:`~arbiter_core.node.Delivery`,
:class:`~arbiter_core.node.Record` and the other types of the node's faces. Times
come in server milliseconds; ``offset`` is the server's clock minus this machine's
(see :class:`~arbiter_redis.clock.ServerClock`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from arbiter_core.node import Claimed, DeadLetter, Delivery, Record

DELIVERY_FIELDS = 8
"""Fields per lease in a pull reply: id, body, count, receipt, enqueued_ms, claim flag,
state and data (the last two when the claim was refused)."""


def text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def record(state: bytes | str | None, data: bytes | None) -> Record | None:
    """A record's ``state`` and ``data`` fields as read (HMGET, or a script's reply)."""
    return None if state is None else Record(text(state), bytes(data or b""))


def claimed(flag: bytes | str, state: bytes | str, data: bytes) -> Claimed | None:
    """A claim's outcome in a pull reply: '1' written, '0' refused, '' none."""
    flag = text(flag)
    if not flag:
        return None
    if flag == "1":
        return Claimed(True)
    return Claimed(False, Record(text(state), bytes(data)))


def deliveries(queue: str, reply: list[Any], first: int, offset: float) -> list[Delivery]:
    """The leases in a pull reply, ``DELIVERY_FIELDS`` fields each from index ``first`` on."""
    return [
        Delivery(
            queue=queue,
            message_id=text(reply[i]),
            body=bytes(reply[i + 1]),
            delivery_count=int(reply[i + 2]),
            receipt=text(reply[i + 3]),
            enqueued_at=int(reply[i + 4]) / 1000 - offset,
            claim=claimed(reply[i + 5], reply[i + 6], reply[i + 7]),
        )
        for i in range(first, len(reply), DELIVERY_FIELDS)
    ]


def dead_letters(
    queue: str, entries: Iterable[tuple[Any, dict[Any, Any]]], offset: float, records: str
) -> list[DeadLetter]:
    """The entries of a queue's dead-letter stream (XRANGE), oldest first.

    ``records`` is the prefix of the namespace's record keys: a letter keeps the Redis
    key of its record, and :class:`DeadLetter` shows the node's key (``task:ID``).
    """
    letters = []
    for _, raw in entries:
        fields = {text(k): v for k, v in raw.items()}
        record = text(fields.get("record", b""))  # older letters lack the field
        letters.append(
            DeadLetter(
                queue=queue,
                message_id=text(fields["id"]),
                body=bytes(fields["body"]),
                reason=text(fields["reason"]),
                delivery_count=int(fields["count"]),
                dead_at=int(fields["dead_at"]) / 1000 - offset,
                record=record[len(records) :] if record.startswith(records) else None,
                priority=int(fields.get("priority", 0)),  # written only when not 0
            )
        )
    return letters


def workers(reply: list[Any]) -> dict[str, bytes]:
    """The live_workers script's reply: worker id, info, worker id, info..."""
    return {text(reply[i]): bytes(reply[i + 1]) for i in range(0, len(reply), 2)}


def hello_info(reply: Any) -> dict[str, Any]:
    """HELLO's reply (a map on RESP3, flat pairs on RESP2) in INFO's field names, for
    :func:`server_info` when an ACL forbids INFO."""
    if not isinstance(reply, dict):
        reply = dict(zip(reply[::2], reply[1::2], strict=True))
    fields = {text(k): v for k, v in reply.items()}
    return {"redis_version": fields.get("version", "?"), "redis_mode": fields.get("mode")}


def server_info(info: dict[Any, Any]) -> dict[str, str]:
    """``INFO server``'s reply as ``server_info`` shows it: ``{"server": "redis 7.0.15"}``."""
    fields = {text(k): v for k, v in info.items()}
    shown = {"server": f"redis {text(fields.get('redis_version', '?'))}"}
    mode = fields.get("redis_mode")
    if mode and text(mode) != "standalone":
        shown["mode"] = text(mode)
    return shown
