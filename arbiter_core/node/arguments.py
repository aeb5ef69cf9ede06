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


def require_name(value: object, what: str) -> str:
    """``value`` if it is a non-empty str that encodes as UTF-8, else an error naming ``what``.

    For queue and task names (and anything else that becomes a broker key or channel):
    a non-str is a TypeError; an empty name, or one holding a lone surrogate such as
    ``"\\ud800"`` (it cannot be encoded as UTF-8, so no broker can store it), is a
    ValueError.
    """
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{what} must not be empty; pass a non-empty name")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            shown = repr(value) if len(value) <= 60 else repr(value[:57]) + "..."
            raise ValueError(
                f"{what} {shown} is not valid text: it holds a lone surrogate "
                f"({value[exc.start]!r} at index {exc.start}), so it cannot be encoded as "
                "UTF-8 (such strings come from bytes decoded with errors='surrogateescape'); "
                "use a name made of real characters"
            ) from None
    return value
