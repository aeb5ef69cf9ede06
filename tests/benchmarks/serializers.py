"""Serializers: encode + decode time of typical messages, JSON before tags, now, and msgpack.

A script, not a test (pytest does not collect it)::

    .venv/bin/python tests/benchmarks/serializers.py [--repeat 20000] [--rounds 5]

For each message (a task envelope and the status record a result travels in), the
median over ``--rounds`` of the mean microseconds for one encode and one decode:

* **json before**: the codec as it was before tagged JSON (one shared C encoder and
  decoder, no check at all): the baseline, measured in the same run.
* **json now**: :class:`~arbiter_core.wire.codecs.JsonCodec` as the wire uses it: the
  plain-value check, then the C encoder; a value that needs tags is walked and sent
  as ``json+tags``, and decoded with the tag hook.
* **msgpack**: ``msgpack.packb``/``unpackb`` (if ``pip install msgpack`` was done),
  plain values only and with an ``ExtType`` hook for the rich ones, which does *not*
  keep tuples apart from lists (that needs the same walk as JSON): a lower bound.

"refused" means the serializer cannot carry the message at all.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from arbiter_core import records
from arbiter_core.errors import SerializationError
from arbiter_core.wire import CODECS, Envelope
from arbiter_core.wire.codecs import JsonCodec

BEFORE_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
"""The encoder the JSON codec had before tagged JSON (decoding ``json`` did not change)."""

WHEN = dt.datetime(2024, 5, 1, 12, 30, tzinfo=ZoneInfo("Europe/Paris"))


def envelope(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return Envelope("orders.charge", args=args, kwargs=kwargs, reply_to="r.abc").to_dict()


def status(result: Any) -> dict[str, Any]:
    return records.task_status(
        Envelope("orders.charge", reply_to="r.abc"),
        records.SUCCEEDED,
        result=result,
        started_at=1.0,
        finished_at=2.0,
        worker="w1",
    )


MESSAGES: dict[str, Any] = {
    "envelope (1, 2)": envelope(1, 2),
    "envelope str, dict, kwargs": envelope("user-42", {"sku": "A1", "qty": 3}, retry=True),
    "envelope 20 plain args": envelope(*range(10), *(f"s{i}" for i in range(10))),
    "record, result 3": status(3),
    "envelope datetime, UUID, Decimal": envelope(WHEN, uuid.UUID(int=7), Decimal("12.50")),
    "envelope tuple (1, 2)": envelope((1, 2)),
    "record, result datetime": status(WHEN),
}


def json_before() -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    return (lambda v: BEFORE_ENCODER.encode(v).encode()), CODECS["json"].loads


def json_now() -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    codec = JsonCodec()

    def decode(encoded: tuple[str, bytes]) -> Any:
        ctype, data = encoded
        return CODECS[ctype].loads(data)

    return codec.encode, decode


def msgpack_codec() -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]] | None:
    try:
        import msgpack  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None

    def default(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return msgpack.ExtType(1, value.isoformat().encode())
        if isinstance(value, uuid.UUID):
            return msgpack.ExtType(2, value.bytes)
        if isinstance(value, Decimal):
            return msgpack.ExtType(3, str(value).encode())
        raise TypeError(f"cannot pack {type(value).__name__}")

    def ext_hook(code: int, data: bytes) -> Any:
        if code == 1:
            return dt.datetime.fromisoformat(data.decode())
        if code == 2:
            return uuid.UUID(bytes=data)
        if code == 3:
            return Decimal(data.decode())
        return msgpack.ExtType(code, data)

    return (
        lambda v: msgpack.packb(v, default=default, use_bin_type=True),
        lambda data: msgpack.unpackb(data, ext_hook=ext_hook, raw=False),
    )


def per_call(
    encode: Callable[[Any], Any], decode: Callable[[Any], Any], value: Any, n: int
) -> float:
    """Mean microseconds of one encode plus one decode of ``value``."""
    encoded = encode(value)
    decode(encoded)  # warm, and fail early
    start = time.perf_counter()
    for _ in range(n):
        decode(encode(value))
    return (time.perf_counter() - start) / n * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args(argv)
    codecs: dict[str, Any] = {"json before": json_before(), "json now": json_now()}
    packed = msgpack_codec()
    if packed is not None:
        codecs["msgpack"] = packed
    header = f"{'message':34}" + "".join(f"{name:>14}" for name in codecs) + f"{'now/before':>12}"
    print("encode + decode, microseconds per message (median of rounds)")
    print(header)
    print("-" * len(header))
    for label, value in MESSAGES.items():
        cells: dict[str, float | None] = {}
        for name, (encode, decode) in codecs.items():
            try:
                rounds = [
                    per_call(encode, decode, value, options.repeat) for _ in range(options.rounds)
                ]
            except (TypeError, ValueError, SerializationError):
                cells[name] = None
            else:
                cells[name] = statistics.median(rounds)
        row = f"{label:34}" + "".join(
            f"{'refused' if cells[n] is None else f'{cells[n]:.2f}':>14}" for n in codecs
        )
        before, now = cells["json before"], cells["json now"]
        ratio = f"{now / before:.2f}x" if before and now else "-"
        print(row + f"{ratio:>12}")
    if packed is None:
        print("\nmsgpack is not installed (pip install msgpack) and was not measured")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
