"""The wire format: round trips, clear encoding errors, and rejection of bad frames."""

from __future__ import annotations

import contextlib
import datetime
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbiter_core.errors import ConfigurationError, MessageRejected, SerializationError
from arbiter_core.wire import Envelope, WireFormat

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
        (Envelope("t", args=(1, {"when": datetime.date(2020, 1, 1)})), "args[1]['when']: date"),
        (Envelope("t", kwargs={"fn": print}), "kwargs['fn']: builtin_function_or_method"),
        (Envelope("t", args=(float("nan"),)), "args[0]: float"),
        (Envelope("t", args=({(1, 2): "tuple key"},)), "args[0][(1, 2)] (key)"),
    ],
)
def test_unencodable_argument_is_named(envelope: Envelope, where: str) -> None:
    with pytest.raises(SerializationError) as info:
        WireFormat().encode(envelope)
    assert str(info.value).startswith(f"task 't': {where}")


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
        (_frame(json.dumps({**GOOD, "attempt": 0}).encode()), "attempt must be >= 1"),
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
