"""Tagged JSON: how the JSON serializer carries the Python values JSON has no word for.

A value made only of str, int, float, bool, None, lists and dicts with str keys is
plain JSON, content type ``json``, byte for byte as it always was. Anything else is
sent as content type ``json+tags`` (:data:`CONTENT_TYPE`), where each such value is
an object of exactly two members, the tag ``"~"`` and its plain JSON value ``"v"``::

    tag          Python value                         "v"
    tuple        tuple                                [item, ...]
    set          set                                  [item, ...]
    frozenset    frozenset                            [item, ...]
    dict         dict with a key that is not a str,   [[key, value], ...]
                 or with a "~" key (escaped)
    datetime     datetime.datetime                    "2024-05-01T12:00:00+02:00[Europe/Paris]"
    date         datetime.date                        "2024-05-01"
    time         datetime.time                        "12:00:00.250000+02:00"
    timedelta    datetime.timedelta                   [days, seconds, microseconds]
    uuid         uuid.UUID                            "5f0c...-..."
    decimal      decimal.Decimal                      "12.50"
    bytes        bytes                                base64 text
    @NAME        registered as NAME (register_type)   what its encode returned, tagged too

Dates and times are ISO 8601 (``isoformat``); a ``zoneinfo.ZoneInfo`` zone adds its
key in brackets (as RFC 9557 does), so the receiver gets the same zone back; other
tzinfo classes arrive as ``datetime.timezone`` with the same UTC offset.

Safety: the decoder builds only the types in this table and those the receiving
process registered itself; a tag is never a class path, and a message names a
registered type by its name alone. Because every dict that has a ``"~"`` key is
escaped, no data can become a tagged value. An unknown tag, a malformed value or
a name this process did not register is a :class:`TagError` (the message is
rejected with that reason). Plain ``json`` payloads are decoded without any of
this, exactly as before, so an older minion reads them, and rejects a ``json+tags``
message as a content type it does not accept rather than misreading it.
"""

from __future__ import annotations

import base64
import datetime as dt
import reprlib
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from arbiter_core.wire.type_registry import RegisteredType, TypeRegistry

T = TypeVar("T")

CONTENT_TYPE = "json+tags"
TAG = "~"
VALUE = "v"
USER = "@"
"""Prefix of a registered type's tag: ``@money``; built-in tags never start with it."""

PLAIN_DEPTH = 200
"""How deep :func:`is_plain` looks; a value nested deeper takes the full walk (same bytes)."""

_SCALARS: frozenset[type] = frozenset({str, int, float, bool, type(None)})
_STR: frozenset[type] = frozenset({str})

RESERVED_CLASSES: frozenset[type] = frozenset(
    {*_SCALARS, list, dict, tuple, set, frozenset, bytes, Decimal, uuid.UUID}
    | {dt.datetime, dt.date, dt.time, dt.timedelta}
)
"""Classes the format carries itself, which :func:`register_type` refuses."""


class TagError(ValueError):
    """A tagged value that does not decode: unknown tag, malformed value, unregistered name."""


# ------------------------------------------------------------------------------ encoding
def is_plain(value: Any, types: TypeRegistry, depth: int = 0) -> bool:
    """Whether ``value`` is plain JSON (sent as ``json``, unchanged); fast on small args.

    False for anything that needs a tag, and for values nested deeper than
    :data:`PLAIN_DEPTH` (the full walk then decides, and writes the same bytes if
    no tag was needed). Subclasses of str, int and float (enums) and of list and
    dict are plain, as they always were, unless registered.
    """
    cls = type(value)
    if cls is dict:
        if depth >= PLAIN_DEPTH:
            return False
        for key, item in value.items():
            if type(key) is not str and not isinstance(key, str):  # a str enum is a str
                return False
            if type(item) not in _SCALARS and not is_plain(item, types, depth + 1):
                return False
        return True
    if cls is list:
        if depth >= PLAIN_DEPTH:
            return False
        for item in value:
            if type(item) not in _SCALARS and not is_plain(item, types, depth + 1):
                return False
        return True
    return cls in _SCALARS or _plain_subclass(value, types, depth)


def _plain_subclass(value: Any, types: TypeRegistry, depth: int) -> bool:
    """An unregistered subclass of str, int, float (an enum) or of list or dict (an
    OrderedDict): plain as ever, sent as its base type."""
    if type(value) in types:
        return False
    if isinstance(value, (str, int, float)):
        return True
    if isinstance(value, list):
        return is_plain(list(value), types, depth)
    if isinstance(value, dict):
        return all(isinstance(key, str) for key in value) and is_plain(dict(value), types, depth)
    return False


class Tagger:
    """Turns a value into plain JSON data with tags; ``used`` says whether it needed any.

    Cycles are refused as the JSON encoder refuses them (``Circular reference
    detected``); too deep a value raises RecursionError; a value of no known type
    raises TypeError. The codec turns each into a SerializationError naming it.
    """

    def __init__(self, types: TypeRegistry) -> None:
        self.types = types
        self.used = False
        self._open: set[int] = set()  # ids of the containers being walked, to see a cycle

    def tree(self, value: Any) -> Any:
        cls = type(value)
        if cls in _SCALARS:
            return value
        if cls is list:  # lists and plain dicts in this frame: one frame per level
            self._enter(value)
            items: list[Any] = []
            for item in value:
                items.append(self.tree(item))
            self._open.discard(id(value))
            return items
        if cls is dict and TAG not in value and _STR.issuperset(map(type, value)):
            self._enter(value)
            members: dict[str, Any] = {}
            for key, item in value.items():
                members[key] = self.tree(item)
            self._open.discard(id(value))
            return members
        registered = self.types.by_class(cls)
        if registered is not None:
            return self._registered(registered, value)
        encode = _ENCODERS.get(cls)
        if encode is None:
            return self._subclass(value)
        self.used = True
        return encode(self, value)

    def _subclass(self, value: Any) -> Any:
        """A subclass travels as its built-in base, as a str subclass always has."""
        if isinstance(value, (str, int, float)):
            return value
        if isinstance(value, list):
            return self.items(value)
        if isinstance(value, dict):
            return self.dict(value)
        for base, encode in _ENCODERS.items():
            if isinstance(value, base):  # datetime is listed before date
                self.used = True
                return encode(self, value)
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    def _enter(self, container: Any) -> None:
        """Mark ``container`` as being walked; entering it again is a cycle. (After a
        failure the tagger is dropped, so nothing needs unmarking then.)"""
        marker = id(container)
        if marker in self._open:
            raise ValueError("Circular reference detected")
        self._open.add(marker)

    def walk(self, container: Any, build: Callable[[], T]) -> T:
        """``build()`` the encoding of ``container``, refusing to enter it twice (a cycle)."""
        self._enter(container)
        built = build()
        self._open.discard(id(container))
        return built

    def items(self, values: Iterable[Any]) -> list[Any]:
        return self.walk(values, lambda: [self.tree(item) for item in values])

    def dict(self, value: dict[Any, Any]) -> Any:
        """A dict with str keys and no ``"~"`` as an object; any other as tagged pairs."""
        if TAG not in value and all(isinstance(key, str) for key in value):
            return self.walk(value, lambda: {k: self.tree(item) for k, item in value.items()})
        self.used = True
        pairs = self.walk(value, lambda: [[self.tree(k), self.tree(v)] for k, v in value.items()])
        return _tagged("dict", pairs)

    def _registered(self, entry: RegisteredType, value: Any) -> Any:
        try:
            stand_in = entry.encode(value)
        except Exception as exc:  # the user's function: say whose it was
            raise ValueError(
                f"the encode function registered as {entry.name!r} raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if type(stand_in) is entry.cls:
            raise ValueError(
                f"the encode function registered as {entry.name!r} returned a "
                f"{entry.cls.__name__} again; it must return a value the serializer carries "
                "(a str, a dict, a tuple...)"
            )
        self.used = True
        return _tagged(USER + entry.name, self.walk(value, lambda: self.tree(stand_in)))


def _tagged(tag: str, value: Any) -> dict[str, Any]:
    return {TAG: tag, VALUE: value}


def _zoned(text: str, tz: dt.tzinfo | None) -> str:
    if isinstance(tz, ZoneInfo) and tz.key:
        return f"{text}[{tz.key}]"
    return text


def _encode_datetime(tagger: Tagger, value: dt.datetime) -> Any:
    if value.tzinfo is not None and value.utcoffset() is None:
        raise ValueError("its tzinfo gives no UTC offset; use a zoneinfo.ZoneInfo or a timezone")
    return _tagged("datetime", _zoned(value.isoformat(), value.tzinfo))


def _encode_time(tagger: Tagger, value: dt.time) -> Any:
    tz = value.tzinfo
    if tz is not None and value.utcoffset() is None and not isinstance(tz, ZoneInfo):
        raise ValueError("its tzinfo gives no UTC offset; use a zoneinfo.ZoneInfo or a timezone")
    return _tagged("time", _zoned(value.isoformat(), tz))


_ENCODERS: dict[type, Callable[[Tagger, Any], Any]] = {
    tuple: lambda tagger, value: _tagged("tuple", tagger.items(value)),
    set: lambda tagger, value: _tagged("set", tagger.items(value)),
    frozenset: lambda tagger, value: _tagged("frozenset", tagger.items(value)),
    dt.datetime: _encode_datetime,  # before date: a datetime is a date too
    dt.date: lambda tagger, value: _tagged("date", value.isoformat()),
    dt.time: _encode_time,
    dt.timedelta: lambda tagger, v: _tagged("timedelta", [v.days, v.seconds, v.microseconds]),
    uuid.UUID: lambda tagger, value: _tagged("uuid", str(value)),
    Decimal: lambda tagger, value: _tagged("decimal", str(value)),
    bytes: lambda tagger, value: _tagged("bytes", base64.b64encode(value).decode("ascii")),
}
"""The built-in tags by exact class, in the order a subclass is matched to its base."""


# ------------------------------------------------------------------------------ decoding
class Untagger:
    """The JSON decoder's ``object_hook``: a tagged object becomes its value, others stay.

    The decoder calls it innermost first, so ``"v"`` is decoded already.
    """

    def __init__(self, types: TypeRegistry) -> None:
        self.types = types

    def __call__(self, obj: dict[str, Any]) -> Any:
        if TAG not in obj:
            return obj
        if len(obj) != 2 or VALUE not in obj:
            raise TagError(f"a tagged value has exactly the members '~' and 'v', not {_keys(obj)}")
        tag, value = obj[TAG], obj[VALUE]
        if type(tag) is not str:
            raise TagError(f"a tag is a str, not {type(tag).__name__}")
        if tag.startswith(USER):
            return self._registered(tag[len(USER) :], value)
        decode = _DECODERS.get(tag)
        if decode is None:
            raise TagError(
                f"unknown tag {_short(tag)} (the built-in tags are {', '.join(_DECODERS)}; "
                "a registered type's tag starts with '@')"
            )
        try:
            return decode(value)
        except TagError:
            raise
        except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
            raise TagError(f"{tag} value {_short(value)} does not decode: {exc}") from None

    def _registered(self, name: str, value: Any) -> Any:
        entry = self.types.by_name(name)
        if entry is None:
            raise TagError(
                f"type {_short(name)} is not registered in this process: call "
                f"arbiter.register_type(YourClass, {_short(name)}, encode, decode) here too, "
                "as the sender did"
            )
        try:
            return entry.decode(value)
        except Exception as exc:  # noqa: BLE001 - the user's function: the message is at fault
            raise TagError(
                f"the decode function registered as {name!r} raised {type(exc).__name__}: {exc}"
            ) from None


def _keys(obj: dict[str, Any]) -> str:
    return _short(sorted(obj)[:5])


def _short(value: Any) -> str:
    return reprlib.repr(value)


def _list(value: Any) -> list[Any]:
    if type(value) is not list:
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return value


def _text(value: Any) -> str:
    if type(value) is not str:
        raise TypeError(f"expected a str, got {type(value).__name__}")
    return value


def _pairs(value: Any) -> dict[Any, Any]:
    pairs = _list(value)
    for pair in pairs:
        if type(pair) is not list or len(pair) != 2:
            raise TypeError("expected a list of [key, value] pairs")
    return dict(pairs)


def _split_zone(text: str) -> tuple[str, str | None]:
    """``"...+02:00[Europe/Paris]"`` -> the ISO text and the zone key."""
    if text.endswith("]") and "[" in text:
        start = text.rindex("[")
        return text[:start], text[start + 1 : -1]
    return text, None


def _decode_datetime(value: Any) -> dt.datetime:
    iso, key = _split_zone(_text(value))
    parsed = dt.datetime.fromisoformat(iso)
    if key is None:
        return parsed
    zone = ZoneInfo(key)
    offset = parsed.utcoffset()
    for fold in (0, 1):  # the wall time in the zone, with the fold its offset says
        wall = parsed.replace(tzinfo=zone, fold=fold)
        if offset is None or wall.utcoffset() == offset:
            return wall
    return parsed.astimezone(zone)  # the zone's rules differ here: keep the instant


def _decode_time(value: Any) -> dt.time:
    iso, key = _split_zone(_text(value))
    parsed = dt.time.fromisoformat(iso)
    return parsed if key is None else parsed.replace(tzinfo=ZoneInfo(key))


def _decode_timedelta(value: Any) -> dt.timedelta:
    parts = _list(value)
    if len(parts) != 3 or any(type(part) is not int for part in parts):
        raise TypeError("expected [days, seconds, microseconds] as ints")
    return dt.timedelta(days=parts[0], seconds=parts[1], microseconds=parts[2])


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "tuple": lambda value: tuple(_list(value)),
    "set": lambda value: set(_list(value)),
    "frozenset": lambda value: frozenset(_list(value)),
    "dict": _pairs,
    "datetime": _decode_datetime,
    "date": lambda value: dt.date.fromisoformat(_text(value)),
    "time": _decode_time,
    "timedelta": _decode_timedelta,
    "uuid": lambda value: uuid.UUID(_text(value)),
    "decimal": lambda value: Decimal(_text(value)),
    "bytes": lambda value: base64.b64decode(_text(value), validate=True),
}


# ---------------------------------------------------------------------------- user types
TYPES = TypeRegistry(RESERVED_CLASSES)
"""This process's registry: the one :func:`register_type` fills and the JSON codec reads."""


def register_type(
    cls: type,
    name: str,
    encode: Callable[[Any], Any],
    decode: Callable[[Any], Any],
) -> None:
    """Carry instances of ``cls`` through the JSON serializer, tagged ``@name`` on the wire.

    ``encode(obj)`` returns what stands for ``obj``: any value the serializer
    carries (a str, a dict, a tuple, a Decimal...); ``decode(that)`` gets it back
    and returns the object. Call it with the same name on **both sides**, in the
    module every Arbiter and every Minion imports: a process that does not know the
    name rejects the message (a minion dead-letters it, naming the type). The class
    must match exactly; a subclass is not sent as its registered parent. The same
    class under the same name again replaces the functions; another class under a
    taken name, or the same class under a second name, is a ValueError.
    """
    TYPES.register(cls, name, encode, decode)
