"""Tagged JSON: rich values round-trip exactly, plain ones byte for byte, nothing else decodes."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum, IntEnum
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import arbiter
import arbiter_core
from arbiter_core.errors import MessageRejected, SerializationError
from arbiter_core.wire import Envelope, WireFormat
from arbiter_core.wire.codecs import JsonCodec
from arbiter_core.wire.tagged_json import TYPES, register_type

WIRE = WireFormat()
PARIS = ZoneInfo("Europe/Paris")


def content_type(frame: bytes) -> str:
    return frame[6 : 6 + frame[5]].decode()


def round_trip(value: Any) -> Any:
    envelope = Envelope("t", args=(value,), kwargs={"k": value}, id="x", created_at=1.0)
    back = WIRE.decode(WIRE.encode(envelope))
    assert repr(back.kwargs["k"]) == repr(back.args[0])
    return back.args[0]


RICH = [
    (1, "two", None),
    (),
    ((1, (2, 3)), [4, (5,)]),
    {1: "a", 2.5: "b", None: "c", False: "d", "1": "e"},
    {(1, 2): "tuple key", frozenset({3}): "frozenset key", dt.date(2024, 1, 2): "date key"},
    {"~": "looks like a tag", "v": [1]},
    {"~": "tuple", "v": [1, 2]},  # a user's dict that is exactly a tag stays a dict
    [{"~": "datetime", "v": "2024-01-01"}, (1,)],
    {1, 2, 3},
    frozenset({"a", (1, 2)}),
    set(),
    dt.datetime(2024, 5, 1, 12, 30, 15, 123456),
    dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone.utc),
    dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=-3, minutes=-30))),
    dt.datetime(2024, 7, 1, 9, 0, tzinfo=PARIS),
    dt.datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=PARIS),  # the second 02:30 that night
    dt.datetime(2024, 3, 31, 2, 30, tzinfo=PARIS),  # a wall time the clocks skipped
    dt.date(1999, 12, 31),
    dt.time(23, 59, 59, 999999),
    dt.time(8, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=45))),
    dt.time(8, 0, tzinfo=PARIS),
    dt.timedelta(days=-3, seconds=5, microseconds=7),
    dt.timedelta(0),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    Decimal("12.50"),
    Decimal("-0"),
    Decimal("1E+999999"),
    Decimal("NaN"),
    b"\x00\xffbytes",
    b"",
    {"nested": [{"when": dt.date(2024, 1, 1), "ids": (uuid.UUID(int=1),)}]},
]


@pytest.mark.parametrize("value", RICH, ids=repr)
def test_rich_values_round_trip_exactly(value: Any) -> None:
    back = round_trip(value)
    if isinstance(value, Decimal) and value.is_nan():
        assert back.is_nan()
    else:
        assert back == value
    assert type(back) is type(value)
    if isinstance(value, (dt.datetime, dt.time)):
        assert back.tzinfo == value.tzinfo and back.fold == value.fold
        assert back.isoformat() == value.isoformat()
    if isinstance(value, Decimal):
        assert str(back) == str(value)  # the exponent too: 12.50 stays 12.50


def test_a_zoneinfo_zone_comes_back_as_the_same_zone() -> None:
    back = round_trip(dt.datetime(2024, 7, 1, 9, 0, tzinfo=PARIS))
    assert back.tzinfo is PARIS and back.utcoffset() == dt.timedelta(hours=2)


def test_nested_types_keep_their_types_all_the_way_down() -> None:
    value = {"k": [(1, [2, (3, {4})])]}
    back = round_trip(value)
    inner = back["k"][0]
    assert type(inner) is tuple and type(inner[1]) is list and type(inner[1][1]) is tuple
    assert type(inner[1][1][1]) is set


plain_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(plain_json)
@settings(max_examples=300, deadline=None)
def test_plain_values_encode_byte_for_byte_as_before(value: object) -> None:
    before = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode(value).encode()
    assert JsonCodec().encode(value) == ("json", before)


def test_plain_values_nested_deeper_than_the_quick_check_are_still_plain_json() -> None:
    deep: Any = 1
    for _ in range(300):
        deep = [deep, {"a": 2}]
    ctype, payload = JsonCodec().encode(deep)
    assert ctype == "json" and json.loads(payload) == deep
    tagged_deep: Any = (1,)
    for _ in range(150):
        tagged_deep = [tagged_deep]
    assert JsonCodec().encode(tagged_deep)[0] == "json+tags"


class Colour(IntEnum):
    RED = 1


class Shade(str, Enum):
    DARK = "dark"


def test_subclasses_of_plain_types_are_plain_as_they_always_were() -> None:
    codec = JsonCodec()
    assert codec.encode([Colour.RED, OrderedDict(a=1)]) == ("json", b'[1,{"a":1}]')
    assert codec.encode({Shade.DARK: Shade.DARK}) == ("json", b'{"dark":"dark"}')
    assert codec.encode({Shade.DARK: (1,)})[0] == "json+tags"
    assert round_trip({Shade.DARK: (1,)}) == {"dark": (1,)}


def test_only_values_that_need_tags_are_sent_as_json_plus_tags() -> None:
    assert content_type(WIRE.encode(Envelope("t", args=(1, "x", [2], {"a": None})))) == "json"
    assert content_type(WIRE.encode(Envelope("t", args=((1, 2),)))) == "json+tags"
    assert content_type(WIRE.pack({"result": dt.date(2024, 1, 1)})) == "json+tags"
    assert content_type(WIRE.pack({"~": 1})) == "json"  # nothing to escape in plain json


rich_values: st.SearchStrategy[object] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(st.characters() | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF))
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.datetimes(timezones=st.none() | st.timezones())
    | st.dates()
    | st.times()
    | st.timedeltas()
    | st.uuids()
    | st.decimals(allow_nan=False)
    | st.binary(max_size=8)
    | st.sampled_from(["~", "v", "@x", "tuple"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.frozensets(st.integers() | st.text(max_size=3), max_size=3)
        | st.sets(st.integers() | st.text(max_size=3) | st.dates(), max_size=3)
        | st.dictionaries(
            st.text(max_size=3) | st.integers() | st.sampled_from(["~", "v"]) | st.dates(),
            inner,
            max_size=3,
        )
    ),
    max_leaves=10,
)


@given(rich_values)
@settings(max_examples=400, deadline=None)
def test_any_mix_of_supported_values_round_trips_exactly(value: object) -> None:
    back = round_trip(value)
    assert back == value
    assert _shape(back) == _shape(value)


def _shape(value: Any) -> Any:
    """Types all the way down (with datetimes' zones), to tell (1,) from [1] and 1 from True."""
    if isinstance(value, dict):
        return ("dict", sorted((repr(_shape(k)), repr(_shape(v))) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_shape(item) for item in value])
    if isinstance(value, (set, frozenset)):
        return (type(value).__name__, sorted(repr(_shape(item)) for item in value))
    if isinstance(value, (dt.datetime, dt.time)):
        return (type(value).__name__, value.isoformat(), repr(value.tzinfo), _fold(value))
    return type(value).__name__


def _fold(value: dt.datetime | dt.time) -> int | None:
    """``fold`` where it changes the time (an ambiguous or skipped wall time in a zone)."""
    if isinstance(value, dt.time):
        return None
    if value.replace(fold=0).utcoffset() == value.replace(fold=1).utcoffset():
        return None
    return value.fold


# ------------------------------------------------------------------- refusals at apply
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1j, "args[0]: complex value 1j cannot be encoded as JSON"),
        ([1, {"x": object()}], "args[0][1]['x']: object value"),
        (bytearray(b"x"), "pass bytes(value) instead"),
        (float("nan"), "JSON has no NaN or infinity: pass None, a str or a Decimal"),
        ({(1, 2j): 1}, "args[0][(1, 2j)] (key): tuple value"),
        ({1, 2j}, "args[0] (a member): complex value 2j cannot be encoded as JSON"),
    ],
)
def test_a_refusal_names_the_value_and_says_what_to_do_instead(value: Any, message: str) -> None:
    with pytest.raises(SerializationError) as info:
        WIRE.encode(Envelope("t", args=(value,)))
    assert message in str(info.value)


def test_an_unknown_type_is_told_about_register_type() -> None:
    with pytest.raises(SerializationError, match=r"arbiter\.register_type"):
        WIRE.encode(Envelope("t", args=(Money(1, "EUR"),)))


def test_a_circular_value_is_refused_even_with_tags() -> None:
    loop: list[Any] = [(1,)]
    loop.append(loop)
    with pytest.raises(SerializationError, match="Circular reference"):
        WIRE.encode(Envelope("t", args=(loop,)))


# ----------------------------------------------------------------- a strict decoder
def tagged_frame(payload: dict[str, Any]) -> bytes:
    return WIRE.frame(json.dumps(payload).encode(), "json+tags")


GOOD = Envelope("t", id="abc", created_at=1.0).to_dict()


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ([{"~": "os.system", "v": "echo pwned"}], "unknown tag 'os.system'"),
        ([{"~": "builtins.eval", "v": "1"}], "unknown tag"),
        ([{"~": "@nobody", "v": 1}], "type 'nobody' is not registered in this process"),
        ([{"~": 5, "v": 1}], "a tag is a str, not int"),
        ([{"~": "tuple"}], "exactly the members '~' and 'v'"),
        ([{"~": "tuple", "v": [], "x": 1}], "exactly the members"),
        ([{"~": "tuple", "v": "ab"}], "tuple value 'ab' does not decode: expected a list"),
        ([{"~": "set", "v": [[1]]}], "unhashable type: 'list'"),
        ([{"~": "dict", "v": ["ab"]}], "expected a list of [key, value] pairs"),
        ([{"~": "dict", "v": [[[1], 2]]}], "unhashable"),
        ([{"~": "datetime", "v": "yesterday"}], "Invalid isoformat"),
        ([{"~": "datetime", "v": "2024-01-01T00:00:00+01:00[No/Where]"}], "No/Where"),
        ([{"~": "datetime", "v": "2024-01-01T00:00:00[../../etc/passwd]"}], "datetime value"),
        ([{"~": "datetime", "v": 5}], "expected a str, got int"),
        ([{"~": "timedelta", "v": [1, 2]}], "[days, seconds, microseconds]"),
        ([{"~": "timedelta", "v": [10**10, 0, 0]}], "timedelta value"),
        ([{"~": "timedelta", "v": [1.5, 0, 0]}], "as ints"),
        ([{"~": "uuid", "v": "not-a-uuid"}], "uuid value"),
        ([{"~": "decimal", "v": "12,5"}], "decimal value"),
        ([{"~": "decimal", "v": 12.5}], "expected a str, got float"),
        ([{"~": "bytes", "v": "!!!"}], "bytes value"),
        ([{"~": "bytes", "v": "é"}], "bytes value"),
    ],
)
def test_a_bad_tag_is_a_clean_rejection_naming_it(args: list[Any], reason: str) -> None:
    with pytest.raises(MessageRejected) as info:
        WIRE.decode(tagged_frame({**GOOD, "args": args}))
    assert "payload does not decode as json+tags" in info.value.reason
    assert reason in info.value.reason


def test_tags_mean_nothing_in_plain_json() -> None:
    """A ``json`` message is read as it always was: a tag-shaped dict stays a dict."""
    envelope = WIRE.decode(
        WIRE.frame(json.dumps({**GOOD, "args": [{"~": "tuple", "v": [1]}]}).encode())
    )
    assert envelope.args == ({"~": "tuple", "v": [1]},)


def test_an_old_node_that_accepts_only_json_rejects_a_tagged_message() -> None:
    """What an older minion does: the content type is not one it knows, so it refuses."""
    old = WireFormat()
    old.accept = frozenset({"json"})
    with pytest.raises(MessageRejected, match="content type 'json\\+tags' is not accepted"):
        old.decode(WIRE.encode(Envelope("t", args=((1, 2),))))


def test_accepting_json_accepts_the_tagged_form_too() -> None:
    assert "json+tags" in WireFormat(accept={"json"}).accept
    assert "json+tags" not in WireFormat("pickle", signing_secret="k", accept={"pickle"}).accept


@given(st.binary(max_size=120))
@settings(max_examples=300, deadline=None)
def test_arbitrary_tagged_payloads_only_ever_raise_message_rejected(data: bytes) -> None:
    with contextlib.suppress(MessageRejected):
        WIRE.decode(WIRE.frame(data, "json+tags"))


tag_names = st.sampled_from(["tuple", "set", "frozenset", "dict", "datetime", "date", "time"])
tag_names |= st.sampled_from(["timedelta", "uuid", "decimal", "bytes", "@money", "@x", "?"])
junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30) | st.floats(allow_nan=False),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3)
        | st.builds(lambda tag, value: {"~": tag, "v": value}, tag_names, inner)
    ),
    max_leaves=10,
)


@given(junk)
@settings(max_examples=500, deadline=None)
def test_any_tag_with_any_value_decodes_or_is_rejected_cleanly(value: object) -> None:
    try:
        envelope = WIRE.decode(tagged_frame({**GOOD, "args": [value]}))
    except MessageRejected:
        return
    assert WIRE.decode(WIRE.encode(envelope)) == envelope


# ----------------------------------------------------------------------- user types
@dataclass(frozen=True)
class Money:
    cents: int
    currency: str


@pytest.fixture
def money() -> Iterator[None]:
    register_type(Money, "test.money", lambda m: (m.cents, m.currency), lambda value: Money(*value))
    yield
    TYPES.unregister("test.money")


def test_register_type_is_public() -> None:
    assert arbiter.register_type is register_type is arbiter_core.register_type
    assert "register_type" in arbiter.__all__


def test_a_registered_type_round_trips_and_is_named_on_the_wire(money: None) -> None:
    value = {"price": Money(1250, "EUR"), "list": [Money(1, "USD")]}
    frame = WIRE.encode(Envelope("t", args=(value,)))
    assert b'{"~":"@test.money","v":{"~":"tuple","v":[1250,"EUR"]}}' in frame
    assert b"tests.test_serialization" not in frame  # a name, never a class path
    assert WIRE.decode(frame).args == (value,)


def test_a_type_registered_only_by_the_sender_is_rejected_by_the_receiver(money: None) -> None:
    frame = WIRE.encode(Envelope("t", args=(Money(1, "EUR"),)))
    TYPES.unregister("test.money")
    with pytest.raises(
        MessageRejected, match=r"type 'test\.money' is not registered in this process"
    ):
        WIRE.decode(frame)


def test_a_failing_user_decode_is_a_rejection_naming_the_type(money: None) -> None:
    frame = tagged_frame({**GOOD, "args": [{"~": "@test.money", "v": "not a tuple"}]})
    with pytest.raises(
        MessageRejected, match=r"decode function registered as 'test\.money' raised"
    ):
        WIRE.decode(frame)


def test_a_failing_user_encode_is_a_serialization_error_naming_the_argument() -> None:
    def broken(value: Money) -> Any:
        raise RuntimeError("no")

    register_type(Money, "test.money", broken, lambda value: value)
    try:
        with pytest.raises(
            SerializationError, match=r"args\[0\]: Money value .*'test.money' raised"
        ):
            WIRE.encode(Envelope("t", args=(Money(1, "EUR"),)))
        register_type(Money, "test.money", lambda value: value, lambda value: value)
        with pytest.raises(SerializationError, match="returned a Money again"):
            WIRE.encode(Envelope("t", args=(Money(1, "EUR"),)))
    finally:
        TYPES.unregister("test.money")


def test_register_type_refuses_mistakes(money: None) -> None:
    with pytest.raises(ValueError, match=r"'test\.money' is registered for"):
        register_type(Colour, "test.money", repr, repr)  # another class under a taken name
    with pytest.raises(ValueError, match="carried by arbiter already"):
        register_type(dt.datetime, "mydate", repr, repr)
    with pytest.raises(ValueError, match=r"registered as 'test\.money' already"):
        register_type(Money, "cash", repr, repr)
    with pytest.raises(ValueError, match="must be 1 to 100 letters"):
        register_type(Colour, "my app:colour", repr, repr)
    with pytest.raises(TypeError, match="needs a class"):
        register_type(Money(1, "EUR"), "m", repr, repr)  # type: ignore[arg-type]


def test_a_subclass_of_a_registered_type_is_not_sent_as_its_parent(money: None) -> None:
    class Tip(Money):
        pass

    with pytest.raises(SerializationError, match="Tip value"):
        WIRE.encode(Envelope("t", args=(Tip(1, "EUR"),)))
