"""The argument checks of every node method, made once by the base classes for every backend.

The public methods of :class:`~arbiter_core.node.WorkQueue`,
:class:`~arbiter_core.node.StateStore`, :class:`~arbiter_core.node.Broadcaster` and
:class:`~arbiter_core.node.EventNode` call these before the protected method a backend
writes, so every node refuses bad input alike, with the same error.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from arbiter_core.node.claim import Claim


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


def require_message_ids(values: object) -> list[str] | None:
    """None (meaning every one), or the message ids in ``values`` once each, in order.

    A bare string is refused: it would be read as a collection of one-letter ids.
    """
    if values is None:
        return None
    if isinstance(values, (str, bytes)):
        raise TypeError(f"message_ids must be a collection of ids, got the {values!r} itself")
    if not isinstance(values, Iterable):
        raise TypeError(f"message_ids must be a collection of ids, got {type(values).__name__}")
    return list(dict.fromkeys(require_name(value, "message id") for value in values))


def require_count(value: object, what: str) -> None:
    """Refuse a count (``max_messages``) that is not an int of at least 1."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{what} must be >= 1, got {value!r}")


def require_timeout(value: float | None) -> None:
    """Refuse a pull's negative or NaN ``timeout`` (None waits without end, 0 not at all)."""
    if value is not None and not value >= 0:
        raise ValueError(f"timeout must be >= 0 or None, got {value!r}")


def require_delay(value: float, what: str) -> None:
    """Refuse a negative or NaN delay (0 is now)."""
    if not value >= 0:
        raise ValueError(f"{what} must be >= 0 seconds, got {value!r}")


def require_expect(expect: object) -> None:
    """Refuse an ``expect`` that is not None or a collection of states (str) and None.

    A bare string is refused too: it would be read as a collection of one-letter states.
    """
    if expect is None:
        return
    if isinstance(expect, (str, bytes)):
        raise TypeError(f"expect must be a collection of states, got the {expect!r} itself")
    for state in expect:  # type: ignore[attr-defined]
        if state is not None and not isinstance(state, str):
            raise TypeError(f"expected states must be str or None, got {state!r}")


def require_claim(claim: Claim) -> None:
    """Refuse a :class:`~arbiter_core.node.claim.Claim` whose state, states or TTL are wrong."""
    require_positive(claim.ttl, "claim.ttl")
    if not isinstance(claim.state, str):
        raise TypeError(f"claim.state must be a str, got {type(claim.state).__name__}")
    if isinstance(claim.expect, (str, bytes)):
        raise TypeError(f"claim.expect must be a collection of states, got {claim.expect!r}")
    for state in claim.expect:
        if not isinstance(state, str):
            raise TypeError(f"claim.expect states must be str, got {state!r}")
