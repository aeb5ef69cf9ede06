"""The rate gate's edges (issue 16 item 5), on every backend: a kill while a task is held
back, and a failure between reserving a slot and putting the task back.

Both are made deterministic by wrapping the gate's collaborators in this process (the
slot reservation, the minion's node), never by timing: the kill is sent from inside the
reservation, and the send-back fails exactly once. Starts are counted by their side
effects (each run appends its start to a list).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from arbiter_core import records
from arbiter_core.client import Arbiter
from arbiter_core.composition import TaskCall
from arbiter_core.errors import BrokerError
from arbiter_core.minion import Minion
from arbiter_core.minion import inflight as inflight_module
from arbiter_core.minion.inflight import InFlightTasks
from arbiter_core.minion.rate_gate import RateGate
from arbiter_core.node import EventNode, TransitionPush
from arbiter_core.rate_limit import RATE_SLOT, RateLimit
from arbiter_core.rate_limit_slots import Reservation, Slots
from tests.distributed.conftest import LEASE, running
from tests.support import wait_until


class GateSpy:
    """Which task each lane's rate gate is deciding, and every slot reserved, by task id."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.deciding = threading.local()
        self.slots: list[tuple[str, float]] = []
        self.on_reserved: Callable[[str, Reservation], None] = lambda task_id, reservation: None
        holds_back, reserve = RateGate.holds_back, Slots.reserve
        spy = self

        def watched_holds_back(
            gate: RateGate, delivery: Any, envelope: Any, definition: Any
        ) -> bool:
            spy.deciding.task_id = envelope.id
            return holds_back(gate, delivery, envelope, definition)

        def watched_reserve(
            slots: Slots, name: str, rate: RateLimit, not_after: float | None = None
        ) -> Reservation | None:
            reservation = reserve(slots, name, rate, not_after)
            if reservation is not None:
                task_id = spy.deciding.task_id
                spy.slots.append((task_id, reservation.slot))
                spy.on_reserved(task_id, reservation)
            return reservation

        monkeypatch.setattr(RateGate, "holds_back", watched_holds_back)
        monkeypatch.setattr(Slots, "reserve", watched_reserve)

    def slots_of(self, task_id: str) -> list[float]:
        return [slot for reserved_for, slot in self.slots if reserved_for == task_id]


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[GateSpy]:
    yield GateSpy(monkeypatch)


class KillWatch:
    """Tells when a minion's control thread has taken in a kill; the minions of the test
    remember a kill for a task not running on them only ``MEMORY`` seconds, less than a
    slot is away, so a kill the gate misses is missed for good, as with a slot an hour
    away (the default memory is a minute, ``EARLY_KILL_TTL``)."""

    MEMORY = 0.3

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: set[str] = set()
        self.arrived = threading.Condition()
        for_kill = InFlightTasks.for_kill

        def watched_for_kill(inflight: InFlightTasks, task_id: str) -> Any:
            item = for_kill(inflight, task_id)
            with self.arrived:
                self.seen.add(task_id)
                self.arrived.notify_all()
            return item

        monkeypatch.setattr(InFlightTasks, "for_kill", watched_for_kill)
        monkeypatch.setattr(inflight_module, "EARLY_KILL_TTL", self.MEMORY)

    def kill_running(self, arbiter: Arbiter, task_id: str) -> None:
        """Kill a task whose record is running, and wait until the minion has the kill."""
        assert arbiter.status(task_id)["state"] == records.RUNNING
        assert arbiter.kill(task_id), "a running task's kill is broadcast"
        with self.arrived:
            assert self.arrived.wait_for(lambda: task_id in self.seen, timeout=5)


@pytest.fixture
def kills(monkeypatch: pytest.MonkeyPatch) -> KillWatch:
    return KillWatch(monkeypatch)


def assert_cancelled_unrun(
    arbiter: Arbiter, ids: list[str], victim: str, ran: list[int], slot_wait: float
) -> None:
    """The victim ended cancelled and never ran, even once its slot had come and gone;
    the other task ran; nothing of the victim's is left on the queue."""
    done = {s["id"]: s for s in arbiter.wait_for_tasks(ids, timeout=10)}
    [survivor] = [i for i in ids if i != victim]
    time.sleep(slot_wait + 0.5)
    assert done[survivor]["state"] == records.SUCCEEDED
    assert done[victim]["state"] == records.CANCELLED, done[victim]
    assert "killed before it started" in str(done[victim]["error"])
    assert arbiter.status(victim)["state"] == records.CANCELLED
    assert ran == [1], "the killed task never ran, not even at its slot"
    assert wait_until(lambda: arbiter.queues()["default"].delayed == 0, 5)
    queue = arbiter.queues()["default"]
    assert (queue.ready, queue.in_flight) == (0, 0)


def test_a_kill_that_comes_while_the_gate_holds_a_task_back_cancels_it_unrun(
    arbiter: Arbiter, make_minion: Callable[..., Minion], spy: GateSpy, kills: KillWatch
) -> None:
    """The kill reaches the minion after the task's record went ``running`` and before it
    is put back: the gate's ``take_early_kill`` ends it cancelled, and it never runs."""
    app = make_minion()
    ran: list[int] = []

    @app.task(name="paced", rate_limit="1/s")
    def paced(i: int) -> int:
        ran.append(i)
        return i

    killed: list[str] = []

    def kill_the_first_held_back(task_id: str, reservation: Reservation) -> None:
        if reservation.wait > 0 and not killed:
            killed.append(task_id)
            kills.kill_running(arbiter, task_id)

    spy.on_reserved = kill_the_first_held_back
    with running(app, workers=2):
        ids = arbiter.apply("paced", tasks_count=2, task_args=[1])
        assert wait_until(lambda: bool(killed), 5)
        assert_cancelled_unrun(arbiter, ids, killed[0], ran, slot_wait=1.0)
        assert RATE_SLOT not in arbiter.status(killed[0])["headers"], "it was never put back"


@pytest.mark.parametrize("in_a_group", [False, True], ids=["task", "group-member"])
def test_a_kill_that_comes_while_the_gate_puts_a_task_back_cancels_it_unrun(
    arbiter: Arbiter,
    node_factory: Callable[..., EventNode],
    kills: KillWatch,
    monkeypatch: pytest.MonkeyPatch,
    in_a_group: bool,
) -> None:
    """The kill reaches the minion while the send-back is on the wire (the Arbiter read the
    record running just before): the record is queued again by then, and the copy put
    back will start on whichever minion pulls it at its slot. The gate ends it cancelled,
    and a group it belongs to moves on as after any kill."""
    node = node_factory()
    app = Minion(node, queue="default", lease=LEASE)
    ran: list[int] = []

    @app.task(name="paced", rate_limit="30/m")  # the victim's slot is 2 s away
    def paced(i: int) -> int:
        ran.append(i)
        return i

    @app.task(name="collect")
    def collect(results: list[int]) -> int:
        return sum(results)

    @app.task(name="final")
    def final() -> str:
        return "done"

    killed: list[str] = []
    push_many = node.transition_and_push_many

    def kill_during_the_send_back(items: list[TransitionPush]) -> list[bool]:
        if not killed and any(_is_send_back(item) for item in items):
            [item] = items
            task_id = item.key.rpartition(":")[2]
            killed.append(task_id)
            kills.kill_running(arbiter, task_id)
        return push_many(items)

    monkeypatch.setattr(node, "transition_and_push_many", kill_during_the_send_back)
    with running(app, workers=2):
        if in_a_group:
            plan = arbiter.group(
                [TaskCall("paced", (1,))] * 2, callback="collect", finalizer="final"
            )
            ids = plan.members
        else:
            ids = arbiter.apply("paced", tasks_count=2, task_args=[1])
        assert wait_until(lambda: bool(killed), 5)
        assert killed[0] in ids
        if in_a_group:  # at once, not when the copy put back comes up at its slot
            assert plan.callback is not None and plan.finalizer is not None
            follow_ups = [plan.callback, plan.finalizer]
            list(arbiter.wait_for_tasks(follow_ups, timeout=1.0))
        assert_cancelled_unrun(arbiter, ids, killed[0], ran, slot_wait=2.0)
        if in_a_group:
            statuses = {s["id"]: s for s in arbiter.wait_for_tasks(plan.all_ids, timeout=10)}
            callback, finalizer = statuses[plan.callback], statuses[plan.finalizer]
            assert callback["state"] == records.FAILED, callback
            assert "paced" in str(callback["error"]), "it names the member that did not succeed"
            assert (finalizer["state"], finalizer["result"]) == (records.SUCCEEDED, "done")


class FailingSendBack:
    """The minion's node, failing the first rate-limit send-back with a BrokerError, as a
    broker connection lost (or a minion killed) between the reservation and the push would."""

    def __init__(self, node: EventNode, monkeypatch: pytest.MonkeyPatch) -> None:
        self.failed_at: float | None = None
        push_many = node.transition_and_push_many

        def transition_and_push_many(items: list[TransitionPush]) -> list[bool]:
            if self.failed_at is None and any(_is_send_back(item) for item in items):
                self.failed_at = time.monotonic()
                raise BrokerError("injected: the connection dropped before the send-back")
            return push_many(items)

        monkeypatch.setattr(node, "transition_and_push_many", transition_and_push_many)


def _is_send_back(item: TransitionPush) -> bool:
    """A rate gate's push back: bound to a running record, delayed, holding a slot."""
    return (
        item.expect == (records.RUNNING,)
        and item.not_before is not None
        and RATE_SLOT.encode() in item.body
    )


def test_a_failed_send_back_loses_its_slot_and_the_task_runs_once_after_its_lease(
    arbiter: Arbiter,
    node_factory: Callable[..., EventNode],
    spy: GateSpy,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    node = node_factory()
    failing = FailingSendBack(node, monkeypatch)
    app = Minion(node, queue="default", lease=LEASE)
    interval = 0.2
    starts: dict[int, list[tuple[float, float]]] = {}  # i -> [(store clock, monotonic)]

    @app.task(name="metered", rate_limit="5/s")
    def metered(i: int) -> int:
        starts.setdefault(i, []).append((node.now(), time.monotonic()))
        return i

    with caplog.at_level("WARNING", logger="arbiter"), running(app, workers=2):
        ids = [arbiter.apply("metered", task_args=[i])[0] for i in range(4)]
        done = {s["id"]: s for s in arbiter.wait_for_tasks(ids, timeout=15)}
    assert failing.failed_at is not None, "a send-back was attempted and failed"
    assert {s["state"] for s in done.values()} == {records.SUCCEEDED}
    assert {i: len(runs) for i, runs in starts.items()} == {0: 1, 1: 1, 2: 1, 3: 1}, (
        "each task ran exactly once"
    )
    assert all(s["attempt"] == 1 for s in done.values()), "the lost send-back is not a retry"
    assert any("could not start message" in r.getMessage() for r in caplog.records)
    [unlucky] = [task_id for task_id in ids if len(spy.slots_of(task_id)) == 2]
    lost_slot, retaken_slot = spy.slots_of(unlucky)
    unlucky_start_clock, unlucky_start = starts[ids.index(unlucky)][0]
    assert unlucky_start - failing.failed_at >= LEASE * 0.9, "redelivered after its lease"
    assert unlucky_start_clock >= retaken_slot - 0.005, "it ran at the slot it reserved again"
    assert len(spy.slots) == len(ids) + 1, "one slot lost to the failure, none added"
    run_clocks = sorted(clock for runs in starts.values() for clock, _ in runs)
    assert all(abs(clock - lost_slot) >= interval / 2 for clock in run_clocks), (
        "nothing started in the lost slot"
    )
    slots = sorted(slot for _, slot in spy.slots)
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) >= interval - 1e-6, "no two slots closer than the interval"
