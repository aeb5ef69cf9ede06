"""Rate limits (issue 16 item 5), unit layer: the option, the header, the slot maths, the banner."""

from __future__ import annotations

import logging
import threading

import pytest

from arbiter_core import composition
from arbiter_core.errors import MessageRejected, TaskDefinitionError
from arbiter_core.minion import Minion
from arbiter_core.minion.banner import log_banner
from arbiter_core.node import Record
from arbiter_core.rate_limit import RATE_SLOT, RateLimit, held_slot, parse_rate_limit
from arbiter_core.rate_limit_slots import MICROS, Slots, SlotsContended, slots_key
from arbiter_core.settings import Settings
from arbiter_local.memory import MemoryEventNode


@pytest.mark.parametrize(
    ("text", "count", "period", "interval"),
    [
        ("20/s", 20, 1, 0.05),
        ("100/m", 100, 60, 0.6),
        ("3/h", 3, 3600, 1200),
        (" 10 / m ", 10, 60, 6),
        ("2.5/s", 2.5, 1, 0.4),
        ("5", 5, 1, 0.2),
        (4, 4, 1, 0.25),
        (0.5, 0.5, 1, 2),
    ],
)
def test_rates_parse(text: object, count: float, period: float, interval: float) -> None:
    rate = parse_rate_limit(text, "task 't'")
    assert rate == RateLimit(count, period, str(text))
    assert rate.interval == pytest.approx(interval)


def test_no_rate_limit_is_none() -> None:
    assert parse_rate_limit(None, "task 't'") is None


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("100/d", "'N/s', 'N/m' or 'N/h'"),
        ("fast", "is not a rate"),
        ("/s", "is not a rate"),
        ("-1/s", "is not a rate"),
        ("0/m", "more than 0"),
        (0, "more than 0"),
        (float("nan"), "more than 0"),
        (float("inf"), "more than 0"),
        ("2000000/s", "million"),
        (True, "got bool"),
        ([20, "s"], "got list"),
    ],
)
def test_bad_rates_are_value_errors_naming_the_task_and_value(value: object, words: str) -> None:
    with pytest.raises(TaskDefinitionError) as caught:
        parse_rate_limit(value, "task 'send'")
    assert isinstance(caught.value, ValueError)
    assert "task 'send'" in str(caught.value) and words in str(caught.value)


def test_a_bad_rate_fails_at_decoration_time() -> None:
    app = Minion("memory://rate-decoration")
    with pytest.raises(ValueError, match=r"task 'send'.*'20/x' is not a rate"):

        @app.task(name="send", rate_limit="20/x")
        def send() -> None: ...

    with pytest.raises(ValueError, match="'fast' is not a rate"):

        @app.periodic(every=60, name="tick", rate_limit="fast")
        def tick() -> None: ...

    @app.task(name="ok", rate_limit="20/s")
    def ok() -> None: ...

    assert app.tasks.get("ok").rate_limit == RateLimit(20, 1, "20/s")
    assert app.tasks.get("ok").rate_limit is not None
    assert app.tasks.rate_limits() == {"ok": "20/s"}
    app.close()


def test_the_slot_header_is_checked_like_any_header() -> None:
    composition.check_headers({RATE_SLOT: [1700000000.5, 2]})
    for bad in ([1.0], [1.0, 0], [-1.0, 1], [float("nan"), 1], ["1", 1], [1.0, True], 5, {}):
        with pytest.raises(MessageRejected, match=RATE_SLOT):
            composition.check_headers({RATE_SLOT: bad})


def test_a_held_slot_belongs_to_one_attempt() -> None:
    headers = {RATE_SLOT: [123.25, 2]}
    assert held_slot(headers, 2) == 123.25
    assert held_slot(headers, 3) is None, "a retry reserves a slot of its own"
    assert held_slot({}, 1) is None


class SteppedClock(MemoryEventNode):
    """A memory node whose store clock the test sets."""

    at = 1_000.0

    def _now(self) -> float:
        return self.at


def test_slots_are_spaced_by_the_interval_and_free_time_is_not_saved_up() -> None:
    node = SteppedClock()
    slots, rate = Slots(node), RateLimit(4, 1, "4/s")
    assert [slots.reserve("t", rate).slot for _ in range(3)] == [1000.0, 1000.25, 1000.5]
    node.at = 1010.0  # idle for a while: the next slot is now, and only one of them
    first, second = slots.reserve("t", rate), slots.reserve("t", rate)
    assert (first.slot, first.wait) == (1010.0, 0.0)
    assert (second.slot, second.wait) == (1010.25, 0.25)
    assert node.get(slots_key("t")) is not None
    assert slots.reserve("other", rate).slot == 1010.0, "each task name has its own slots"
    node.close()


def test_a_slot_at_or_after_not_after_is_not_reserved() -> None:
    node = SteppedClock()
    slots, rate = Slots(node), RateLimit(1, 1, "1/s")
    assert slots.reserve("t", rate, not_after=1002.0).slot == 1000.0
    assert slots.reserve("t", rate, not_after=1002.0).slot == 1001.0
    assert slots.reserve("t", rate, not_after=1002.0) is None
    assert slots.reserve("t", rate).slot == 1002.0, "the refused one took no slot"
    node.close()


def test_another_minions_reservation_is_read_from_the_refusal() -> None:
    node = SteppedClock()
    mine, theirs, rate = Slots(node), Slots(node), RateLimit(10, 1, "10/s")
    assert mine.reserve("t", rate).slot == 1000.0
    assert theirs.reserve("t", rate).slot == 1000.1
    assert mine.reserve("t", rate).slot == pytest.approx(1000.2), "its cached guess was stale"
    node.close()


def test_a_record_that_is_not_a_time_counts_as_free() -> None:
    node = SteppedClock()
    node.transition(slots_key("t"), Record("garbage", b""), ttl=60)
    assert Slots(node).reserve("t", RateLimit(1, 1, "1/s")).slot == 1000.0
    assert node.get(slots_key("t")) == Record(str(1001 * MICROS), b"")
    node.close()


def test_racing_reservations_never_share_a_slot() -> None:
    node = SteppedClock()
    rate = RateLimit(1000, 1, "1000/s")
    found: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        slots = Slots(node)  # one per "minion"
        for _ in range(25):
            slot = slots.reserve("t", rate).slot
            with lock:
                found.append(slot)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(found) == pytest.approx([1000 + i / 1000 for i in range(200)])
    node.close()


def test_reservations_that_keep_losing_give_up() -> None:
    class AlwaysMoved(SteppedClock):
        def _transition(self, key, record, ttl, expect):  # type: ignore[no-untyped-def]
            super()._transition(key, Record(str(int(self.at * MICROS)), b""), ttl, None)
            return False, Record("moved-on", b"")

    node = AlwaysMoved()
    with pytest.raises(SlotsContended, match="lost to other minions"):
        Slots(node).reserve("t", RateLimit(1, 1, "1/s"))
    node.close()


def test_the_banner_lists_rate_limited_tasks(caplog: pytest.LogCaptureFixture) -> None:
    node = MemoryEventNode()
    with caplog.at_level(logging.INFO, logger="arbiter.minion"):
        log_banner(
            "w1", node, Settings(), queue="default", pool="thread", slots=2,
            tasks=["a", "b"], rate_limits={"b": "20/s", "a": "100/m"},
        )  # fmt: skip
    [record] = caplog.records
    assert "  rate limits: a (100/m), b (20/s)" in record.getMessage()
    assert record.rate_limits == {"a": "100/m", "b": "20/s"}
    node.close()
