"""Putting tasks on a queue, and settling tasks that will never run: shared by both roles."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

from arbiter_core import records, task_priority, unique
from arbiter_core.errors import DeadLetteredError, MessageRejected
from arbiter_core.node import Record, TransitionPush
from arbiter_core.node.burial import parse_buried
from arbiter_core.wire import Envelope

if TYPE_CHECKING:
    from arbiter_core.endpoint import Endpoint
    from arbiter_core.plugins import PluginRegistry
    from arbiter_core.settings import Settings
    from arbiter_core.wire import WireFormat


class Sender(Protocol):
    """What building and announcing a push reads: an Endpoint, or a minion's RunContext."""

    @property
    def wire(self) -> WireFormat: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def registry(self) -> PluginRegistry: ...


def submit(
    endpoint: Endpoint,
    envelope: Envelope,
    *,
    not_before: float | None = None,
    expect: tuple[str | None, ...] = (records.ABSENT,),
) -> bool:
    """Encode (failing here, naming a bad argument), record as queued, then push.

    The record is written before the push so a fast worker always finds it; the
    push happens only if the record moved from a state in ``expect`` (absent for
    a new task, ``waiting`` for a follow-up), so running a follow-up twice never
    queues a task twice, and a task killed while it waited is never pushed.
    Returns whether it was pushed.
    """
    [written] = endpoint.node.transition_and_push_many(
        [_queued(endpoint, envelope, expect, not_before)]
    )
    if written:
        _announce(endpoint, envelope, not_before)
    return written


def submit_many(
    endpoint: Endpoint,
    envelopes: list[Envelope],
    *,
    not_before: float | None = None,
    expect: tuple[str | None, ...] = (records.ABSENT,),
) -> list[bool]:
    """:func:`submit` for several tasks (new ones unless ``expect`` says otherwise),
    in one batch, each deliverable from ``not_before`` (None: at once).

    Every envelope is encoded before anything is written, so a bad argument
    queues nothing. Returns whether each was pushed.
    """
    items = [_queued(endpoint, envelope, expect, not_before) for envelope in envelopes]
    written = endpoint.node.transition_and_push_many(items)
    for envelope, pushed in zip(envelopes, written, strict=True):
        if pushed:
            _announce(endpoint, envelope, not_before)
    return written


def queued_item(
    endpoint: Sender, envelope: Envelope, expect: tuple[str | None, ...]
) -> TransitionPush:
    """The write-and-push of :func:`submit` (no delay), for a caller that sends it
    within a batch of its own; tell :func:`announce` when it was pushed."""
    return _queued(endpoint, envelope, expect, None)


def announce(endpoint: Sender, envelope: Envelope) -> None:
    """Tell observers that ``envelope`` (pushed by the caller, without delay) was submitted."""
    _announce(endpoint, envelope, None)


def _queued(
    endpoint: Sender,
    envelope: Envelope,
    expect: tuple[str | None, ...],
    not_before: float | None,
) -> TransitionPush:
    """The queued record and the encoded message for one task, ready to write and push."""
    status = records.task_status(envelope, records.QUEUED)
    return TransitionPush(
        records.task_key(envelope.id),
        Record(records.QUEUED, endpoint.wire.pack(status, "record")),
        endpoint.settings.result_ttl,
        expect,
        envelope.queue,
        endpoint.wire.encode(envelope),
        not_before,
        task_priority.of(envelope.headers),
    )


def _announce(endpoint: Sender, envelope: Envelope, not_before: float | None) -> None:
    registry = endpoint.registry
    if registry.observed("arbiter_task_submitted"):
        registry.notify(
            "arbiter_task_submitted",
            task_id=envelope.id,
            name=envelope.task,
            queue=envelope.queue,
            eta=not_before,
        )


def settle_unrun(endpoint: Endpoint, envelope: Envelope, state: str, error: BaseException) -> bool:
    """Give a task that will never run (its pipe or group failed, it was killed while
    waiting or queued) its final state, wake its Arbiter, and free its unique key.
    False if it had moved on."""
    record = records.task_status(envelope, state, error=error, finished_at=time.time())
    final = Record(state, endpoint.wire.pack(record, "record"))
    written, _ = endpoint.node.transition(
        records.task_key(envelope.id),
        final,
        ttl=endpoint.settings.result_ttl,
        expect=(records.ABSENT, records.WAITING, records.QUEUED),
    )
    if written and envelope.reply_to:
        endpoint.node.emit(envelope.reply_to, records.reply_payload(envelope.id, final))
    if written:
        unique.release(endpoint.node, envelope)
    return written


def read_status(endpoint: Endpoint, record: Record | None, task_id: str) -> dict[str, Any]:
    """Decode a stored record; an absent or expired one reads as state ``unknown``."""
    if record is None:
        return {"id": task_id, "state": "unknown", "result": None, "error": None}
    buried = parse_buried(record.data) if record.state == records.DEAD else None
    if buried is None:
        status: dict[str, Any] = endpoint.wire.unpack(record.data)
    else:  # the backend buried its message: the reason in front of the data it had
        reason, data = buried
        try:
            status = endpoint.wire.unpack(data)
        except MessageRejected:  # what it held does not decode: the reason still stands
            status = {"id": task_id, "result": None}
        status["error"] = records.error_info(DeadLetteredError(reason))
    # A record claimed by a pull changed state and kept its data (see node.claim).
    status["state"] = record.state
    return status
