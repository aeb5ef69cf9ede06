"""Random bytes through the whole message path: no exception escapes, nothing bad runs.

Where ``test_bad_message_fuzz`` varies one envelope field at the JSON level, this
varies the bytes themselves, as a hostile or broken sender would write them: random
bytes, frames with a random payload, truncated and bit-flipped copies of a good
frame, payloads with invalid UTF-8, lone surrogates, huge numbers, deep nesting and
malformed or unknown ``json+tags`` type tags, content types the minion does not
accept, and frames signed with another key, each pushed straight onto the queue of a
running minion (signing on or off). For every message:

* if it decodes and checks as the minion decodes it (:func:`strictly_valid`), it
  runs exactly as a task would and ends in a final state;
* otherwise it is dead-lettered with a reason and never runs (the task counts its
  calls by tag), and its reason came from a clean refusal: the minion's catch-all
  (``could not start message``, logged with a traceback) is never reached, since
  reaching it would mean a check let an input through to code that then raised;
* the minion keeps serving: a good task queued behind each batch runs once.

The size of the run is ``ARBITER_FUZZ_EXAMPLES`` (default 60 per broker and signing
setting); the long campaign of issue 17 ran it with 100,000 on memory:// (8 min 38 s,
no fault found; see docs/security.md)::

    ARBITER_FUZZ_EXAMPLES=100000 \
        pytest tests/distributed/test_frame_fuzz.py -k "memory and unsigned"
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbiter_core import composition, records
from arbiter_core.client import Arbiter
from arbiter_core.errors import MessageRejected
from arbiter_core.minion import Minion
from arbiter_core.wire import Envelope, WireFormat
from arbiter_core.wire.frame import MAGIC
from arbiter_core.wire.tagged_json import TYPES, register_type
from tests.distributed.conftest import running

EXAMPLES = int(os.environ.get("ARBITER_FUZZ_EXAMPLES", "60"))
SECRET = "fuzz-secret"
OTHER_SECRET = "someone-else"


Maker = Callable[[str, str], bytes]
"""Builds one message body from a fresh task id and tag (drawn by the test, not by
hypothesis, so no two messages of a run share an id and a run shows whose call it was)."""


def envelope_of(task_id: str, tag: str) -> Envelope:
    return Envelope("work", args=(3,), kwargs={"tag": tag}, id=task_id)


def cut(body: bytes, fraction: float) -> bytes:
    return body[: int(fraction * len(body))]


def frame_text(wire: WireFormat, text: bytes, ctype: bytes = b"json") -> bytes:
    """``text`` as the payload of a frame of content type ``ctype``, signed as ``wire`` signs
    for the content types it writes."""
    if ctype in (b"json", b"json+tags"):
        return wire.frame(text, ctype.decode())
    return MAGIC + bytes((1, 0, len(ctype))) + ctype + text


TAGS = st.sampled_from(
    ["tuple", "set", "frozenset", "dict", "datetime", "date", "time", "timedelta", "uuid",
     "decimal", "bytes", "@point", "@", "@nobody", "", "~", "object", "os.system"]
)  # fmt: skip
"""The built-in tags of ``json+tags`` (serialization.md), a registered type's and others."""
TAG_TEXT = st.sampled_from(
    ["2026-03-29T02:30:00+01:00[Europe/Paris]", "12:00[../../etc/passwd]", "1[\x00]",
     "2026-13-45", "1e999999999", "NaN", "-Infinity", "sNaN123", "AAAA", "A===", "not base64!",
     "12345678-1234-5678-1234-567812345678", "0" * 40, "[[1, 2]]", ""]
)  # fmt: skip
TAG_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats(allow_nan=False)
    | TAG_TEXT | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3)
    | st.builds(lambda tag, value: {"~": tag, "v": value}, TAGS, inner)
    | st.dictionaries(st.sampled_from(["~", "v", "x"]), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip
"""What a ``json+tags`` value may hold: tagged objects (nested, malformed, unknown) too."""


NASTY_TEXT = st.sampled_from(["\ud800", "\udfff\ud800", "\x00", "\u202e", "é" * 3, "", " "])
"""Lone surrogates (written as JSON escapes), NUL, a direction override, empty and blank."""

WRONG = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
    | st.lists(st.integers(), max_size=3) | st.dictionaries(st.text(max_size=3), st.none())
)  # fmt: skip


def with_marker(data: dict[str, Any], field: str, raw: str) -> bytes:
    """``data`` as JSON with ``field``'s value replaced by the raw JSON text ``raw``."""
    return json.dumps({**data, field: "@@"}).replace('"@@"', raw).encode()


@st.composite
def payloads(draw: st.DrawFn) -> Callable[[dict[str, Any]], bytes]:
    """The text of an envelope (given as a dict), well or badly formed, nasty values in it."""
    kind = draw(st.sampled_from(["field", "tags", "deep", "huge", "utf8", "surrogate", "text"]))
    if kind == "tags":  # tagged values (json+tags) in the arguments, the kwargs or headers
        field = draw(st.sampled_from(["args", "kwargs", "headers"]))
        value = draw(TAG_VALUE)
        wrapped: Any = [value] if field == "args" else {"x": value}
        return lambda data: json.dumps({**data, field: wrapped}).encode()
    if kind == "field":  # a wrong type in any field
        field = draw(st.sampled_from(sorted(envelope_of("i", "t").to_dict())))
        value = draw(WRONG)
        return lambda data: json.dumps({**data, field: value}, allow_nan=True).encode()
    if kind == "deep":  # nesting, in an argument or as the whole message
        depth = draw(st.sampled_from([50, 900, 5_000, 200_000]))
        nested = "[" * depth + "]" * draw(st.sampled_from([depth, depth - 1, 0]))
        if draw(st.booleans()):
            return lambda data: nested.encode()
        return lambda data: with_marker(data, "args", f"[{nested}]")
    if kind == "huge":  # numbers too long to convert, or out of a float's range
        number = draw(
            st.sampled_from(["9" * 5000, "1e999", "-1e999", "1" * 4300, "0." + "1" * 5000])
        )
        field = draw(st.sampled_from(["args", "attempt", "created_at", "deadline"]))
        raw = f"[{number}]" if field == "args" else number
        return lambda data: with_marker(data, field, raw)
    if kind == "utf8":  # bytes that are not UTF-8, anywhere in the text
        fraction = draw(st.floats(0, 1))
        junk = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]))

        def spliced(data: dict[str, Any]) -> bytes:
            text = json.dumps(data).encode()
            at = int(fraction * len(text))
            return text[:at] + junk + text[at:]

        return spliced
    if kind == "surrogate":  # lone surrogates as JSON escapes, in any string field
        field = draw(st.sampled_from(["task", "id", "queue", "reply_to", "kwargs", "headers"]))
        value = draw(NASTY_TEXT)
        nasty: Any = {value: value} if field in ("kwargs", "headers") else value
        return lambda data: json.dumps({**data, field: nasty}).encode()  # ensure_ascii: \\ud800
    text = draw(st.text(max_size=40)).encode("utf-8", "surrogatepass")
    return lambda data: text


@st.composite
def bodies(draw: st.DrawFn, wire: WireFormat) -> Maker:
    """One message as it might reach a minion's queue, as a :data:`Maker`."""
    kind = draw(st.sampled_from(["bytes", "header", "payload", "ctype", "cut", "flip", "forged"]))
    if kind == "bytes":
        raw = draw(st.binary(max_size=120))
        return lambda task_id, tag: raw
    if kind == "header":  # the magic bytes, a random rest of a header, then anything
        raw = MAGIC + draw(st.binary(max_size=3)) + draw(st.binary(max_size=60))
        return lambda task_id, tag: raw
    if kind in ("payload", "ctype"):
        text = draw(payloads())
        # a content type this minion may not accept, pickle among them
        ctype = draw(st.sampled_from([b"json", b"json+tags"])) if kind == "payload" else draw(
            st.sampled_from([b"pickle", b"yaml", b"", b"\xff\xfe", b"json\x00", b"json+tag"])
        )  # fmt: skip
        return lambda task_id, tag: frame_text(
            wire, text(envelope_of(task_id, tag).to_dict()), ctype
        )
    fraction = draw(st.floats(0, 1, exclude_max=True))  # where, as a share of its length
    if kind == "cut":  # truncated anywhere, the header included
        return lambda task_id, tag: cut(wire.encode(envelope_of(task_id, tag)), fraction)
    if kind == "flip":  # one byte changed anywhere
        delta = draw(st.integers(1, 255))

        def flipped(task_id: str, tag: str) -> bytes:
            good = wire.encode(envelope_of(task_id, tag))
            at = int(fraction * len(good))
            return good[:at] + bytes(((good[at] + delta) % 256,)) + good[at + 1 :]

        return flipped
    forger = WireFormat(signing_secret=OTHER_SECRET)  # signed, with the wrong key
    return lambda task_id, tag: forger.encode(envelope_of(task_id, tag))


class Point(NamedTuple):
    x: int
    y: int


@pytest.fixture(autouse=True)
def point_type() -> Iterator[None]:
    """A registered type, so ``@point`` tags reach a user's decode function with junk."""
    register_type(Point, "point", lambda p: [p.x, p.y], lambda v: Point(*v))
    yield
    TYPES.unregister("point")


def strictly_valid(wire: WireFormat, body: bytes) -> Envelope | None:
    """The envelope the minion will run, or None if it must refuse the message."""
    try:
        envelope = wire.decode(body)
        composition.check_headers(envelope.headers)
    except MessageRejected:
        return None
    return envelope


def wait_until(condition: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


@pytest.mark.timeout(36_000 if EXAMPLES > 1000 else 600)
@pytest.mark.parametrize("secret", [None, SECRET], ids=["unsigned", "signed"])
def test_random_frames_are_refused_cleanly_and_the_minion_serves_on(
    arbiter: Arbiter,
    make_minion: Callable[..., Minion],
    node_factory: Callable[..., Any],
    secret: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    options = {"signing_secret": secret} if secret else {}
    app = make_minion(**options)
    client = Arbiter(node_factory(**options), **options) if secret else arbiter
    wire = WireFormat(signing_secret=secret)
    runs: Counter[str] = Counter()  # calls of ``work`` by the repr of their tag
    seen: Counter[str] = Counter()

    @app.task(name="work")
    def work(x: Any = 1, tag: Any = "") -> Any:
        runs[repr(tag)] += 1
        return x * 2

    caplog.set_level(logging.ERROR, logger="arbiter")
    with running(app, workers=2) as thread:
        assert wait_until(lambda: app._run is not None), "the minion did not start"
        worker = app._run
        assert worker is not None

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(st.lists(bodies(wire), min_size=1, max_size=6))
        def check(makers: list[Maker]) -> None:
            runs.clear()  # this batch's calls only (a long campaign must not slow down)
            caplog.clear()
            batch = [make(uuid.uuid4().hex, uuid.uuid4().hex) for make in makers]
            expected = [strictly_valid(wire, body) for body in batch]
            pushed = [client.node.push("default", body) for body in batch]  # message ids
            sentinel = uuid.uuid4().hex  # queued behind the batch: the minion serves on
            [good_id] = client.apply("work", task_args=[3], task_kwargs={"tag": sentinel})
            [status] = client.wait_for_tasks([good_id], timeout=30)
            assert status["state"] == records.SUCCEEDED and status["result"] == 6, status
            assert wait_until(lambda: client.node.queue_size("default") == 0), "not drained"
            # The broker keeps the latest letters (so this batch's): found by message id.
            letters = {
                letter.message_id: letter
                for letter in client.node.dead_letters("default", limit=1_000_000)
            }
            for body, envelope, message_id in zip(batch, expected, pushed, strict=True):
                if envelope is None:
                    letter = letters.get(message_id)
                    assert letter is not None, f"not dead-lettered: {body[:200]!r}"
                    assert letter.body == body and letter.reason, letter
                    seen["dead-lettered"] += 1
                else:
                    [status] = client.wait_for_tasks([envelope.id], timeout=30)
                    assert status["state"] in records.FINAL, status
                    seen[f"ran, {status['state']}"] += 1
            # Only valid messages ran, each at most once (a refused one would show its tag;
            # valid ones whose kwargs lost the tag share the tag "").
            allowed = Counter(
                [repr(sentinel)]
                + [repr(e.kwargs.get("tag", "")) for e in expected if e is not None]
            )
            extra = runs - allowed
            assert not extra, f"a refused message ran, or one ran twice: {extra}"
            escaped = [r for r in caplog.records if "could not start message" in r.getMessage()]
            assert not escaped, f"an exception reached the catch-all: {escaped[0].exc_text}"
            assert thread.is_alive() and worker.crashed is None, "the minion never dies"
            seen["batches"] += 1

        check()
    if client is not arbiter:
        client.close()
    assert seen["dead-lettered"] > seen["batches"] // 2, f"the examples missed a case: {seen}"
