"""Argument checks every backend makes the same way, so nodes refuse bad input alike."""

from __future__ import annotations


def require_bytes(value: object, what: str) -> bytes:
    """``value`` as immutable bytes (copying a bytearray or memoryview), else TypeError.

    A private copy means no caller can change what another one later reads.
    """
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be bytes, got {type(value).__name__}")


def require_positive(value: float, what: str) -> None:
    """Refuse a zero, negative or NaN duration (a lease, a TTL) with a ValueError."""
    if not value > 0:
        raise ValueError(f"{what} must be > 0 seconds, got {value!r}")
