"""Your own types on the wire: registered by name on both sides, never looked up from a message.

A message names a registered type by the ``name`` it was registered under, and the
receiver looks that name up in its own registry: a name it does not know is a
rejected message, never an import, so a broker cannot make a worker build any
class the worker's own code did not register.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,99}")
"""What a registered name may be: a short label (letters first), not a class path to import."""


@dataclass(frozen=True, slots=True)
class RegisteredType:
    """One user type: its exact class, its name on the wire, and the two functions."""

    cls: type
    name: str
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


class TypeRegistry:
    """The user types a process encodes and decodes, by exact class and by name.

    Reads are plain dict lookups (the encoder asks once per non-plain value); a
    registration replaces the dicts whole under a lock, so a reader never sees one
    half-updated.
    """

    def __init__(self, reserved: frozenset[type] = frozenset()) -> None:
        self._reserved = reserved  # classes the format carries itself
        self._lock = threading.Lock()
        self._by_class: dict[type, RegisteredType] = {}
        self._by_name: dict[str, RegisteredType] = {}

    def register(
        self,
        cls: type,
        name: str,
        encode: Callable[[Any], Any],
        decode: Callable[[Any], Any],
    ) -> None:
        """See :func:`arbiter_core.wire.tagged_json.register_type`."""
        if not isinstance(cls, type):
            raise TypeError(f"register_type needs a class, got {type(cls).__name__}")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise ValueError(
                f"type name {name!r} must be 1 to 100 letters, digits, '_', '.' or '-', "
                "starting with a letter"
            )
        if cls in self._reserved:
            raise ValueError(
                f"{cls.__name__} is carried by arbiter already; register your own class"
            )
        if not callable(encode) or not callable(decode):
            raise TypeError("register_type needs an encode and a decode function")
        entry = RegisteredType(cls, name, encode, decode)
        with self._lock:
            named = self._by_name.get(name)
            if named is not None and named.cls is not cls:
                raise ValueError(
                    f"type name {name!r} is registered for {_qualname(named.cls)} already"
                )
            known = self._by_class.get(cls)
            if known is not None and known.name != name:
                raise ValueError(f"{_qualname(cls)} is registered as {known.name!r} already")
            self._by_class = {**self._by_class, cls: entry}
            self._by_name = {**self._by_name, name: entry}

    def unregister(self, name: str) -> None:
        """Forget the type registered as ``name`` (nothing if none is)."""
        with self._lock:
            entry = self._by_name.get(name)
            if entry is None:
                return
            self._by_name = {k: v for k, v in self._by_name.items() if k != name}
            self._by_class = {k: v for k, v in self._by_class.items() if k is not entry.cls}

    def by_class(self, cls: type) -> RegisteredType | None:
        return self._by_class.get(cls)

    def by_name(self, name: str) -> RegisteredType | None:
        return self._by_name.get(name)

    def __contains__(self, cls: object) -> bool:
        return cls in self._by_class


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
