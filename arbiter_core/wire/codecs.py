"""Serializers for envelopes and results: JSON always, pickle only by explicit opt-in.

The JSON serializer writes plain values (str, int, float, bool, None, lists, dicts
with str keys) as content type ``json``, byte for byte as it always has, and values
that need more (datetime, UUID, Decimal, bytes, tuple, set, a registered type...) as
``json+tags`` (see :mod:`arbiter_core.wire.tagged_json`), so everything it carries
comes back as the type it was.

An encoding failure is always a :class:`~arbiter_core.errors.SerializationError` that
names the value at fault (``args[1]['when']: date``), so a bad argument is reported at
``apply`` time by the caller, not later in a worker: values of a type the codec cannot
carry, NaN and infinities (JSON), ints too long to write as text, values nested too
deeply and circular references alike. The explanation is built only after a failure
and never raises itself.

Decoding is strict in the same way: the JSON codec refuses ``NaN``, ``Infinity``,
``-Infinity`` and number literals that overflow a float, so whatever it decodes can be
encoded again.
"""

from __future__ import annotations

import builtins
import json
import pickle
import reprlib
import sys
from collections.abc import Callable
from typing import Any, Protocol

from arbiter_core.errors import ConfigurationError, SerializationError
from arbiter_core.wire import tagged_json
from arbiter_core.wire.tagged_json import TYPES, Tagger, Untagger, is_plain
from arbiter_core.wire.type_registry import TypeRegistry


class Codec(Protocol):
    """Turns plain values into bytes and back."""

    content_type: str

    def encode(self, value: Any, name: str = "value") -> tuple[str, bytes]:
        """The content type and bytes of ``value``; a failure names the culprit from ``name``."""
        ...

    def dumps(self, value: Any, name: str = "value") -> bytes:
        """Encode ``value``; a failure names the culprit as a path from ``name``."""
        ...

    def loads(self, data: bytes) -> Any: ...


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed (numbers must be finite)")


def _finite_float(text: str) -> float:
    value = float(text)
    if value - value == 0.0:  # false for inf (inf - inf is nan); JSON syntax has no nan
        return value
    raise ValueError(f"number {text[:40]} is out of range for a float (numbers must be finite)")


# One encoder and one decoder, shared: json.dumps/loads with options build a new one per call.
# Both are stateless between calls, so sharing them across threads is safe.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


class JsonCodec:
    """Compact JSON, tagged where plain JSON would lose the type; NaN/Infinity refused both ways.

    ``loads`` reads content type ``json``: plain JSON, no tags looked for.
    """

    content_type = "json"

    def __init__(self, types: TypeRegistry = TYPES) -> None:
        self.types = types

    def encode(self, value: Any, name: str = "value") -> tuple[str, bytes]:
        try:
            if is_plain(value, self.types):  # the common case: one quick walk, then C
                return "json", _ENCODER.encode(value).encode()
            tagger = Tagger(self.types)
            text = _ENCODER.encode(tagger.tree(value))
        except MemoryError:
            raise
        except Exception as exc:  # TypeError, ValueError (NaN, huge int), RecursionError, ...
            raise SerializationError(_explain(value, name, self._error, "JSON", exc)) from exc
        return (tagged_json.CONTENT_TYPE if tagger.used else "json"), text.encode()

    def dumps(self, value: Any, name: str = "value") -> bytes:
        return self.encode(value, name)[1]

    def loads(self, data: bytes) -> Any:
        """Decode like ``json.loads``, but a ``ValueError`` for NaN, Infinity and overflow."""
        return _decode(_DECODER, data)

    def _error(self, value: Any) -> Exception | None:
        """Why ``value`` alone does not encode, or None: what the culprit search asks."""
        try:
            if not is_plain(value, self.types):
                _ENCODER.encode(Tagger(self.types).tree(value))
            else:
                _ENCODER.encode(value)
        except Exception as exc:  # noqa: BLE001 - any failure means "does not encode"
            return exc
        return None


class TaggedJsonCodec(JsonCodec):
    """Content type ``json+tags``: encodes as :class:`JsonCodec`, decodes the tags too."""

    content_type = tagged_json.CONTENT_TYPE

    def __init__(self, types: TypeRegistry = TYPES) -> None:
        super().__init__(types)
        self._decoder = json.JSONDecoder(
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            object_hook=Untagger(types),
        )

    def loads(self, data: bytes) -> Any:
        """Decode, building each tagged value; a bad tag is a ``TagError`` (a ValueError)."""
        return _decode(self._decoder, data)


def _decode(decoder: json.JSONDecoder, data: bytes | str) -> Any:
    if isinstance(data, str):
        return decoder.decode(data)
    return decoder.decode(data.decode(json.detect_encoding(data), "surrogatepass"))


class PickleCodec:
    """Pickle, for Python objects JSON cannot carry. Only ever used with signing."""

    content_type = "pickle"

    def encode(self, value: Any, name: str = "value") -> tuple[str, bytes]:
        return self.content_type, self.dumps(value, name)

    def dumps(self, value: Any, name: str = "value") -> bytes:
        try:
            return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            raise
        except Exception as exc:  # pickling raises many types
            raise SerializationError(_explain(value, name, _pickle_error, "pickle", exc)) from exc

    def loads(self, data: bytes) -> Any:
        return pickle.loads(data)  # only after the frame HMAC was verified


CODECS: dict[str, Codec] = {
    "json": JsonCodec(),
    tagged_json.CONTENT_TYPE: TaggedJsonCodec(),
    "pickle": PickleCodec(),
}
"""The codec of each content type a frame may name."""

SERIALIZERS = ("json", "pickle")
"""What the ``serializer`` setting may name (``json`` writes ``json+tags`` where it must)."""


def codec_for(serializer: str) -> Codec:
    """The codec named by the ``serializer`` setting."""
    if serializer not in SERIALIZERS:
        raise ConfigurationError(
            f"unknown serializer {serializer!r}; choose one of {', '.join(SERIALIZERS)}"
        )
    return CODECS[serializer]


# ------------------------------------------------------------- explaining a failure
# Everything below runs only after an encoding failed, to say which value is at fault.

Check = Callable[[Any], Exception | None]
"""Returns why a value does not encode alone, or None if it does."""

MAX_DESCENT = 100
"""Levels the search for a culprit descends at most; deeper, the path found so far is named."""


def _pickle_error(value: Any) -> Exception | None:
    try:
        pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - any failure means "not picklable"
        return exc
    return None


def _explain(value: Any, name: str, check: Check, what: str, exc: Exception) -> str:
    """The culprit's path, type and value, and why it does not encode. Never raises."""
    try:
        path, culprit, error = _find_culprit(value, check, name, exc)
        return _describe(path, culprit, error, what)
    except Exception:  # noqa: BLE001 - an explanation must never become the error
        return f"{name}: {type(value).__name__} value cannot be encoded as {what}"


def _find_culprit(value: Any, check: Check, path: str, error: Exception) -> tuple[str, Any, Any]:
    """Descend into containers to the innermost value that does not encode, and its error.

    Iterative and bounded (``MAX_DESCENT``), so no input makes the search itself
    recurse too deeply. A value nested too deeply to encode is named where the
    nesting becomes a single chain (``[[[...]]]``, the argument itself, say):
    naming its thousandth level would help nobody. A container met again on the
    way down (a circular reference) is not entered twice.
    """
    above: set[int] = set()  # the containers on the path, to recognise a cycle
    for _ in range(MAX_DESCENT):
        if isinstance(error, RecursionError) and _size(value) < 2:
            break
        above.add(id(value))
        found = _failing_child(value, check, above)
        if found is None:
            break  # no part of it fails alone: the value itself is the culprit
        step, value, error, is_key = found
        path += step
        if is_key:
            break
    return path, value, error


def _size(value: Any) -> int:
    return len(value) if isinstance(value, (dict, list, tuple)) else 0


def _failing_child(
    value: Any, check: Check, above: set[int]
) -> tuple[str, Any, Exception, bool] | None:
    """The first part of a dict, list, tuple or set that fails alone: ``(path step,
    part, its error, whether it is a dict key)``; a non-str key is checked before its
    value."""
    if isinstance(value, dict):
        for key, item in list(value.items()):
            if not isinstance(key, str):
                key_error = check({key: None})
                if key_error is not None:
                    return f"[{short_repr(key)}] (key)", key, key_error, True
            if id(item) not in above:
                item_error = check(item)
                if item_error is not None:
                    return f"[{short_repr(key)}]", item, item_error, False
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if id(item) not in above:
                item_error = check(item)
                if item_error is not None:
                    return f"[{i}]", item, item_error, False
    elif isinstance(value, (set, frozenset)):
        for item in value:
            item_error = check(item)
            if item_error is not None:
                return " (a member)", item, item_error, False
    return None


def _describe(path: str, culprit: Any, error: Any, what: str) -> str:
    kind = type(culprit).__name__
    if isinstance(error, RecursionError):
        return (
            f"{path}: {kind} value is nested too deeply to be encoded as {what} (beyond "
            f"Python's recursion limit of {sys.getrecursionlimit()}); flatten it"
        )
    if isinstance(culprit, int) and not isinstance(culprit, bool):
        digits = _digit_count(culprit)
        limit = _int_digit_limit()
        if limit and digits > limit:
            return (
                f"{path}: int value with {digits} digits cannot be encoded as {what} (Python "
                f"converts ints of at most {limit} digits to text); pass it as a str"
            )
    text = (
        f"{path}: {kind} value {short_repr(culprit)} cannot be encoded as {what} ({_text(error)})"
    )
    advice = _advice(culprit) if what == "JSON" else ""
    return f"{text}; {advice}" if advice else text


def _advice(culprit: Any) -> str:
    """What to pass instead of a value the JSON serializer refuses."""
    if isinstance(culprit, float):
        return "JSON has no NaN or infinity: pass None, a str or a Decimal instead"
    if isinstance(culprit, (bytearray, memoryview)):
        return "pass bytes(value) instead"
    if isinstance(culprit, (str, int, list, dict, tuple, set, frozenset)):
        return ""  # refused for what it holds or its size, said above
    return (
        "pass str, int, float, bool, None, list, dict, tuple, set, frozenset, bytes, "
        "datetime, date, time, timedelta, UUID or Decimal, or call "
        f"arbiter.register_type({type(culprit).__name__}, name, encode, decode) on both "
        "sides (or use the pickle serializer, with signing)"
    )


def _digit_count(number: int) -> int:
    """Decimal digits of ``number``, without converting it to text (which may be refused)."""
    number = abs(number)
    if number < 10:
        return 1
    estimate = int(number.bit_length() * 0.30102999566398120)  # log10(2)
    return estimate + 1 if number >= 10**estimate else estimate


def _int_digit_limit() -> int:
    """sys.get_int_max_str_digits() (0: no limit); Python before 3.10.7 had no limit."""
    get_limit = getattr(sys, "get_int_max_str_digits", None)
    return int(get_limit()) if get_limit is not None else 0


class _ShortRepr(reprlib.Repr):
    """reprlib's bounded repr, safe for ints too long to write as text."""

    def __init__(self) -> None:
        super().__init__()
        self.maxstring = 50
        self.maxother = 60

    def repr_int(self, x: int, level: int) -> str:
        try:
            text = builtins.repr(x)
        except ValueError:
            return f"<int with {_digit_count(x)} digits>"
        return text if len(text) <= self.maxother else text[:20] + "..." + text[-20:]


_REPR = _ShortRepr()


def short_repr(value: Any) -> str:
    """A repr of at most 60 characters; never raises, whatever ``__repr__`` does."""
    try:
        text = _REPR.repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not break the message
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= 60 else text[:57] + "..."


def _text(error: Any) -> str:
    """``str(error)``, or its type name if even that fails."""
    try:
        return str(error)
    except Exception:  # noqa: BLE001
        return type(error).__name__
