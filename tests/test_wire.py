"""The wire format: round trips, clear encoding errors, and rejection of bad frames."""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbiter_core.errors import ConfigurationError, MessageRejected, SerializationError
from arbiter_core.wire import Envelope, JsonCodec, PickleCodec, WireFormat
from arbiter_core.wire.codecs import short_repr

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(
    args=st.lists(json_values, max_size=4),
    kwargs=st.dictionaries(st.text(), json_values, max_size=4),
)
@settings(max_examples=100, deadline=None)
def test_json_round_trip(args: list[object], kwargs: dict[str, object]) -> None:
    wire = WireFormat()
    envelope = Envelope("task", args=tuple(args), kwargs=kwargs, reply_to="r", deadline=5.0)
    assert wire.decode(wire.encode(envelope)) == envelope


def test_signed_round_trip_and_headers() -> None:
    wire = WireFormat(signing_secret="s3cret")
    envelope = Envelope("t", args=(1,), headers={"group": "g1"}, attempt=2)
    assert wire.decode(wire.encode(envelope)) == envelope


@pytest.mark.parametrize(
    ("envelope", "where"),
    [
        (Envelope("t", args=(1, {"when": 1j})), "args[1]['when']: complex"),
        (Envelope("t", kwargs={"fn": print}), "kwargs['fn']: builtin_function_or_method"),
        (Envelope("t", args=(float("nan"),)), "args[0]: float"),
        (Envelope("t", args=({(1, 2j): "complex in a key"},)), "args[0][(1, 2j)] (key)"),
    ],
)
def test_unencodable_argument_is_named(envelope: Envelope, where: str) -> None:
    with pytest.raises(SerializationError) as info:
        WireFormat().encode(envelope)
    assert str(info.value).startswith(f"task 't': {where}")


def _nested(depth: int, inner: object = None) -> object:
    value = inner
    for _ in range(depth):
        value = [value]
    return value


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


def _circular() -> list[object]:
    loop: list[object] = [1]
    loop.append(loop)
    return loop


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (_nested(10_000), "args[0]: list value is nested too deeply to be encoded as JSON"),
        ({"deep": _nested(10_000)}, "args[0]: dict value is nested too deeply"),
        (10**5000, "args[0]: int value with 5001 digits cannot be encoded as JSON"),
        ([1, {"n": -(10**4300)}], "args[0][1]['n']: int value with 4301 digits"),
        ({"x": [math.inf]}, "args[0]['x'][0]: float value inf cannot be encoded as JSON"),
        (-math.inf, "args[0]: float value -inf"),
        (BrokenRepr(), "args[0]: BrokenRepr value <BrokenRepr instance at 0x"),
        (_circular(), "args[0]: list value [1, [1, [1, [1, [1, [1, [...]]]]]]] cannot be encoded"),
        ({10**5000: 1}, "args[0][<int with 5001 digits>] (key): int value with 5001 digits"),
        ({math.nan: 1}, "args[0][nan] (key): float value nan"),
    ],
    ids=[
        *("deep", "deep-dict", "huge-int", "huge-int-inside", "inf", "-inf", "broken-repr"),
        *("circular", "huge-int-key", "nan-key"),
    ],
)
def test_any_unencodable_value_is_a_serialization_error_naming_it(
    value: object, message: str
) -> None:
    with pytest.raises(SerializationError) as info:
        WireFormat().encode(Envelope("t", args=(value,)))
    assert str(info.value).startswith(f"task 't': {message}")


def test_codecs_name_the_path_and_never_raise_anything_else() -> None:
    deep = _nested(10_000)
    for codec in (JsonCodec(), PickleCodec()):
        with pytest.raises(SerializationError, match=r"^result\[2\]: list value is nested too"):
            codec.dumps([1, 2, deep], "result")
    wire = WireFormat("pickle", signing_secret="k")
    with pytest.raises(SerializationError, match=r"kwargs\['d'\]: list value is nested too"):
        wire.encode(Envelope("t", kwargs={"d": deep}))
    with pytest.raises(SerializationError, match=r"^record: list value is nested too deeply"):
        WireFormat().pack(deep, "record")
    with pytest.raises(SerializationError, match=r"^record\[0\]: function value <function"):
        wire.pack([lambda: 1], "record")
    # A value nested deeper than the search descends is named as far as it went.
    with pytest.raises(SerializationError, match=r"^value(\[0\]){100}: list .*type complex is"):
        JsonCodec().dumps(_nested(150, 1j))


def test_short_repr_is_bounded_and_never_raises() -> None:
    assert short_repr(10**5000) == "<int with 5001 digits>"
    assert short_repr(BrokenRepr()).startswith("<BrokenRepr instance at 0x")
    assert len(short_repr("x" * 10_000)) <= 60
    assert len(short_repr(list(range(10_000)))) <= 60
    assert short_repr(_nested(10_000)).startswith("[[[[")


def test_a_key_of_the_wrong_type_for_kwargs_is_refused_at_encode() -> None:
    for wire in (WireFormat(), WireFormat("pickle", signing_secret="k")):
        with pytest.raises(SerializationError, match=r"kwargs\[1\] \(key\): keyword argument"):
            wire.encode(Envelope("t", kwargs={1: "x"}))  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("envelope", "error", "what"),
    [
        (Envelope("t\ud800"), ValueError, "task name 't\\ud800' is not valid text"),
        (Envelope("t", queue="q\udfff"), ValueError, "queue name 'q\\udfff' is not valid text"),
        (Envelope("t", queue=""), ValueError, "queue name must not be empty"),
        (Envelope("t", queue=5), TypeError, "queue name must be a str, got int"),  # type: ignore[arg-type]
        (Envelope(""), ValueError, "task name must not be empty"),
        (Envelope("t", id="\ud800"), ValueError, "task id"),
        (Envelope("t", reply_to="r\ud800"), ValueError, "reply_to"),
    ],
)
def test_names_a_broker_cannot_store_are_refused_at_encode(
    envelope: Envelope, error: type[Exception], what: str
) -> None:
    with pytest.raises(error) as info:
        WireFormat().encode(envelope)
    assert str(info.value).startswith(what)


def test_pickle_needs_a_signing_secret() -> None:
    with pytest.raises(ConfigurationError, match="signing secret"):
        WireFormat("pickle")


def test_pickle_carries_python_objects_when_signed() -> None:
    wire = WireFormat("pickle", signing_secret="k")
    envelope = Envelope("t", args=(datetime.date(2020, 1, 1),))
    assert wire.decode(wire.encode(envelope)).args == (datetime.date(2020, 1, 1),)


def _frame(payload: bytes, ctype: bytes = b"json", flags: int = 0) -> bytes:
    return b"ARB" + bytes((1, flags, len(ctype))) + ctype + payload


GOOD = Envelope("t", id="abc", created_at=1.0).to_dict()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "bad magic"),
        (b"\x00\xffgarbage bytes", "bad magic"),
        (b"ARB\x07\x00\x04json{}", "frame version 7"),
        (_frame(b"{not json"), "does not decode as json"),
        (_frame(b"[1, 2]"), "not an object"),
        (_frame(json.dumps({**GOOD, "v": 9}).encode()), "envelope version 9"),
        (
            _frame(json.dumps({k: v for k, v in GOOD.items() if k != "task"}).encode()),
            "'task' is missing",
        ),
        (_frame(json.dumps({**GOOD, "args": "oops"}).encode()), "'args' has type str"),
        (_frame(json.dumps({**GOOD, "attempt": 0}).encode()), "'attempt' must be from 1"),
        (_frame(b"\x80\x04K\x01.", b"pickle"), "not accepted"),
        (_frame(b"payload", b"yaml"), "not accepted"),
        (_frame(b"short", flags=1), "truncated signature"),
    ],
)
def test_bad_frames_are_rejected_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(MessageRejected, match=reason):
        WireFormat().decode(data)


def test_signatures_are_enforced() -> None:
    signer = WireFormat(signing_secret="right")
    envelope = Envelope("t")
    assert signer.decode(signer.encode(envelope)) == envelope
    with pytest.raises(MessageRejected, match="unsigned"):
        signer.decode(WireFormat().encode(envelope))
    with pytest.raises(MessageRejected, match="bad signature"):
        signer.decode(WireFormat(signing_secret="wrong").encode(envelope))
    tampered = bytearray(signer.encode(envelope))
    tampered[-5] ^= 0x01
    with pytest.raises(MessageRejected, match="bad signature"):
        signer.decode(bytes(tampered))


def test_unsigned_pickle_is_never_loaded_even_if_accepted() -> None:
    # A forged pickle frame without a signature must not reach pickle.loads.
    wire = WireFormat(accept={"json", "pickle"})
    with pytest.raises(MessageRejected, match="only accepted on signed"):
        wire.decode(_frame(b"cos\nsystem\n(S'echo pwned'\ntR.", b"pickle"))


@given(st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_only_ever_raise_message_rejected(data: bytes) -> None:
    for wire in (WireFormat(), WireFormat(signing_secret="k")):
        with contextlib.suppress(MessageRejected):
            wire.decode(data)
        with pytest.raises(MessageRejected):
            wire.decode(b"ARB\x01\x00\x04json" + data[:1] + b"\xff")


# ------------------------------------------------------------ a strict decode
def _good_with(field: bytes) -> bytes:
    """GOOD's JSON with one field's text replaced (for payloads json.dumps cannot write)."""
    rest = json.dumps({k: v for k, v in GOOD.items() if k != "args"}).encode()
    return b"{" + field + b"," + rest[1:]


def _framed(data: object, **dumps: Any) -> bytes:
    return _frame(json.dumps(data, allow_nan=True, **dumps).encode())


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"v":1,"args":[NaN]}', "payload does not decode as json: NaN is not allowed"),
        (b'{"v":1,"args":[[{"a":Infinity}]]}', "json: Infinity is not allowed"),
        (b'{"v":1,"kwargs":{"x":-Infinity}}', "json: -Infinity is not allowed"),
        (b'{"v":1,"headers":{"h":[1e999]}}', "json: number 1e999 is out of range"),
        (b'{"v":1,"args":[-' + b"9" * 400 + b".0]}", "is out of range for a float"),
        (b"[" * 100_000, "payload does not decode as json: maximum recursion depth"),
        (_good_with(b'"args":[' + b"[" * 100_000 + b"]" * 100_000 + b"]"), "maximum recursion"),
        (_good_with(b'"args":[' + b"1" * 5000 + b"]"), "Exceeds the limit (4300"),
    ],
)
def test_payloads_that_do_not_decode_strictly_are_rejected(payload: bytes, reason: str) -> None:
    with pytest.raises(MessageRejected) as info:
        WireFormat().decode(_frame(payload))
    assert reason in info.value.reason


@pytest.mark.parametrize("field", ["created_at", "deadline", "args", "kwargs", "headers"])
@pytest.mark.parametrize("constant", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_rejected_in_every_field(field: str, constant: float) -> None:
    value = {"created_at": constant, "deadline": constant, "args": [1, [constant]]}.get(
        field, {"k": {"deep": [constant]}}
    )
    with pytest.raises(MessageRejected, match="is not allowed"):
        WireFormat().decode(_framed({**GOOD, field: value}))


LONE = "\ud800"
BIG = 10**400  # decodes as JSON, but no float holds it


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("v", True, "unsupported envelope version True"),
        ("v", 1.0, "unsupported envelope version 1.0"),
        ("v", "1", "unsupported envelope version '1'"),
        ("id", 5, "'id' must be a str, got int"),
        ("id", "", "'id' must not be empty"),
        ("id", None, "'id' must be a str, got NoneType"),
        ("id", "a" + LONE, "'id' 'a\\ud800' is not valid text"),
        ("task", ["t"], "'task' must be a str, got list"),
        ("task", "", "'task' must not be empty"),
        ("task", "t" + LONE, "'task' 't\\ud800' is not valid text"),
        ("queue", 1, "'queue' must be a str, got int"),
        ("queue", "", "'queue' must not be empty"),
        ("queue", "q\udc00", "'queue' 'q\\udc00' is not valid text"),
        ("reply_to", 7, "'reply_to' has type int, not a str"),
        ("reply_to", ["r"], "'reply_to' has type list"),
        ("reply_to", LONE, "'reply_to' '\\ud800' is not valid text"),
        ("args", "oops", "'args' has type str, not a list"),
        ("args", {"a": 1}, "'args' has type dict"),
        ("args", None, "'args' has type NoneType"),
        ("kwargs", [], "'kwargs' has type list, not an object"),
        ("kwargs", None, "'kwargs' has type NoneType"),
        ("headers", [1], "'headers' has type list, not an object"),
        ("headers", "h", "'headers' has type str"),
        ("attempt", True, "'attempt' has type bool, not an int"),
        ("attempt", 1.0, "'attempt' has type float"),
        ("attempt", "1", "'attempt' has type str"),
        ("attempt", None, "'attempt' has type NoneType"),
        ("attempt", -1, "'attempt' must be from 1 to 2**63 - 1, got -1"),
        ("attempt", 2**63, "'attempt' must be from 1 to 2**63 - 1, got 9223372036854775808"),
        ("created_at", "now", "'created_at' has type str, not a number"),
        ("created_at", None, "'created_at' has type NoneType"),
        ("created_at", False, "'created_at' has type bool"),
        ("created_at", BIG, "'created_at' must be a finite number, got 1000"),
        ("deadline", "soon", "'deadline' has type str, not a number"),
        ("deadline", True, "'deadline' has type bool"),
        ("deadline", [1.0], "'deadline' has type list"),
        ("deadline", -BIG, "'deadline' must be a finite number, got -1000"),
    ],
)
def test_each_field_of_the_wrong_type_or_value_is_rejected_naming_it(
    field: str, value: object, reason: str
) -> None:
    with pytest.raises(MessageRejected) as info:
        WireFormat().decode(_framed({**GOOD, field: value}))
    assert reason in info.value.reason


def test_from_dict_does_not_rely_on_the_codec() -> None:
    """What pickle can deliver and JSON cannot is refused by the envelope itself."""
    wire = WireFormat("pickle", signing_secret="k")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"created_at": math.nan}, "'created_at' must be a finite number, got nan"),
        ({"created_at": math.inf}, "'created_at' must be a finite number, got inf"),
        ({"deadline": -math.inf}, "'deadline' must be a finite number, got -inf"),
        ({"kwargs": {1: "x"}}, "'kwargs' has a key of type int; its keys must be str"),
        ({"headers": {("g",): "x"}}, "'headers' has a key of type tuple"),
        ({"args": {1, 2}}, "'args' has type set"),
        ({"attempt": 10**5000}, "'attempt' must be from 1 to 2**63 - 1, got <int with 5001"),
        ({"v": 10**5000}, "unsupported envelope version <int with 5001 digits>"),
        ({"task": b"t"}, "'task' must be a str, got bytes"),
    ]
    for change, reason in cases:
        data = {**GOOD, **change}
        with pytest.raises(MessageRejected) as info:
            Envelope.from_dict(data)
        assert reason in info.value.reason
        with pytest.raises(MessageRejected) as info:
            wire.decode(wire.frame(pickle.dumps(data)))
        assert reason in info.value.reason
    # A tuple of args and finite ints as timestamps are fine.
    envelope = Envelope.from_dict({**GOOD, "args": (1, 2), "created_at": 5, "deadline": 10**300})
    assert (envelope.args, envelope.created_at, envelope.deadline) == ((1, 2), 5, 10**300)


def test_unknown_fields_are_ignored() -> None:
    envelope = WireFormat().decode(_framed({**GOOD, "priority": 3, "trace": [NAN_TEXT]}))
    assert envelope == Envelope("t", id="abc", created_at=1.0)


NAN_TEXT = "NaN"  # in a string, NaN is only text


any_text = st.text(st.characters() | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF))
junk_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**4000), max_value=10**4000)
    | st.sampled_from([0, 1, -1, 2**63 - 1, 2**63, 10**308, 10**309, -0.0, 1e308])
    | st.floats(allow_nan=True, allow_infinity=True)
    | any_text
    | st.sampled_from(["", LONE, "q\udfff", "default", "t", "NaN", "Infinity"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)
FIELDS = ["v", "id", "task", "args", "kwargs", "queue", "attempt", "deadline", "reply_to"]
FIELDS += ["headers", "created_at", "unknown"]


@given(field=st.sampled_from(FIELDS), value=junk_json)
@settings(max_examples=500, deadline=None)
def test_an_envelope_that_decodes_encodes_again(field: str, value: object) -> None:
    """Any JSON value in any one field: decode refuses it, or what it returns re-encodes."""
    wire = WireFormat()
    data = _framed({**GOOD, field: value})
    try:
        envelope = wire.decode(data)
    except MessageRejected:
        return
    JsonCodec().dumps(envelope.to_dict())
    assert wire.decode(wire.encode(envelope)) == envelope


junk_python: st.SearchStrategy[object] = st.recursive(
    junk_json | st.tuples() | st.builds(set, st.lists(st.integers(), max_size=3)),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner)
        | st.dictionaries(st.integers() | any_text | st.tuples(), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(field=st.sampled_from(FIELDS), value=junk_python)
@settings(max_examples=300, deadline=None)
def test_a_pickled_envelope_that_decodes_encodes_again(field: str, value: object) -> None:
    wire = WireFormat("pickle", signing_secret="k")
    try:
        envelope = wire.decode(wire.frame(pickle.dumps({**GOOD, field: value})))
    except MessageRejected:
        return
    wire.decode(wire.encode(envelope))
