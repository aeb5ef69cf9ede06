"""Follow-ups: after a task's final state is stored, its group or pipe moves on.

Guarantees: follow-ups run after the outcome is stored and before the message is
acked, so a crash in between loses nothing (the redelivered message finds the task
final and :meth:`FollowUps.redo` runs them again; every follow-up is idempotent,
see :mod:`arbiter_core.composition`). A broker error propagates, so the message is
not acked and comes back. Any other failure keeps the task's outcome: it is
written into the task's record as ``follow_up_error`` and logged, and never tried
again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from arbiter_core import composition, records
from arbiter_core.errors import BrokerError, MessageRejected
from arbiter_core.minion.describe import traceback_text
from arbiter_core.minion.run_context import RunContext
from arbiter_core.node import Record
from arbiter_core.wire import Envelope

log = logging.getLogger("arbiter.minion")


class Advance(Protocol):
    """Moves a task's group or pipe on: ``advance(envelope, final_state, result)``; with
    ``deferred``, the DAG tasks it releases are added to it rather than pushed."""

    def __call__(
        self,
        envelope: Envelope,
        state: str,
        result: Any,
        /,
        *,
        deferred: list[Envelope] | None = ...,
        read: Mapping[str, Record | None] | None = ...,
    ) -> None: ...


class FollowUps:
    """Runs a finished task's follow-ups through ``advance``; see the module docstring."""

    def __init__(self, context: RunContext, advance: Advance) -> None:
        self.node = context.node
        self.wire = context.wire
        self.settings = context.settings
        self.advance = advance

    def run(
        self,
        envelope: Envelope,
        final: Record,
        result: Any,
        deferred: list[Envelope] | None = None,
        read: Mapping[str, Record | None] | None = None,
    ) -> Record:
        """Advance the task's group or pipe, now that ``final`` is stored; the task's
        record as it now stands (``final``, or with ``follow_up_error`` written in).
        ``deferred``: see :data:`Advance`; the caller pushes what it holds before the ack.
        ``read``: the records of ``composition.reads_first``, if the caller read them."""
        try:
            self.advance(envelope, final.state, result, deferred=deferred, read=read)
        except BrokerError:
            raise
        except Exception as exc:  # the task's outcome stands
            log.exception("task %s (%s): its follow-ups failed", envelope.id, envelope.task)
            status = self.wire.unpack(final.data)
            status["follow_up_error"] = records.error_info(exc, traceback_text(exc))
            failed = Record(final.state, self.wire.pack(status, "record"))
            written, current = self.node.transition(
                records.task_key(envelope.id),
                failed,
                ttl=self.settings.result_ttl,
                expect=(final.state,),
            )
            return failed if written or current is None else current
        return final

    def redo(self, envelope: Envelope, current: Record) -> None:
        """A redelivered message whose task is final: a crash may have come between
        storing its outcome and advancing its group or pipe, so advance them again."""
        if not composition.has_follow_ups(envelope):
            return
        try:
            status = self.wire.unpack(current.data)
        except MessageRejected as exc:  # not ours to trust: nothing to advance with
            log.error("task %s: its stored record does not verify (%s)", envelope.id, exc)
            return
        if "follow_up_error" not in status:  # one that failed for good is not tried again
            self.run(envelope, current, status.get("result"))
