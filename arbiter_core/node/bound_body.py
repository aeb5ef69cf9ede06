"""A message body that carries the key of its record: how a composed node binds the two.

A backend that keeps both queues and records binds a message to its record in its own
store (see :mod:`arbiter_core.node.burial`). The broker of a
:class:`~arbiter_core.node.ComposedNode` keeps no records, so the composed node writes
the binding into the body it pushes, and takes it out again on every way back (a pull,
the dead letters, a burial the broker reports)::

    BOUND_PREFIX + str(len(key_bytes)).encode() + b":" + key_bytes + body

``BOUND_PREFIX`` is ``b"\\x00arbiter-bound:"``, the key is UTF-8 and its length is
decimal with no leading zero. Parsing is strict: a body that does not start with the
prefix, or whose header is not exactly of that form, is not bound and is handed on
whole, as an unbound message always was. Nothing else ever sees a bound body, except a
node on the broker alone (not composed), which sees it as pushed.
"""

from __future__ import annotations

BOUND_PREFIX = b"\x00arbiter-bound:"
"""What a bound body starts with: a NUL (no arbiter frame, no JSON text starts so)."""

_MAX_LENGTH_DIGITS = 9
"""Digits a key's length may have: far more than any broker allows in a key."""


def bind(key: str, body: bytes) -> bytes:
    """``body`` bound to the record ``key`` (a checked name: it encodes as UTF-8)."""
    raw = key.encode("utf-8")
    return b"%s%d:%s%s" % (BOUND_PREFIX, len(raw), raw, body)


def unbind(data: bytes) -> tuple[str, bytes] | None:
    """The key and the original body of :func:`bind`; None if ``data`` is not bound."""
    if not data.startswith(BOUND_PREFIX):
        return None
    start = len(BOUND_PREFIX)
    colon = data.find(b":", start, start + _MAX_LENGTH_DIGITS + 1)
    digits = data[start:colon]
    if colon < 0 or not digits.isdigit() or digits.startswith(b"0"):
        return None
    end = colon + 1 + int(digits)
    if end > len(data):
        return None
    try:
        key = data[colon + 1 : end].decode("utf-8")
    except UnicodeDecodeError:
        return None
    return key, data[end:]
