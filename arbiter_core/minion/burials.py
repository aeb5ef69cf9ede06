"""Tasks the backend buried: logged once across the minions of their queue, and observed.

A message whose deliveries ran out (each minion that took it died or lost its lease,
``max_deliveries`` times) is dead-lettered by the backend during some pull, not by a
minion, so no minion holds it to log it. The backend announces the burial
(``BURIED_EVENT``, see :mod:`~arbiter_core.node.burial`) and every minion hears it.
Each one serving the task's queue reads the record; the one that creates the
record's log mark (a compare-and-set on an absent key, with an expiry) logs one
WARNING line and notifies ``arbiter_task_dead_lettered``. Purged messages are not
logged here: a purge is the operator's own act.

Events are handled off the node's delivery thread and in batches (one read of every
record in a batch), so a burst of burials costs a round trip per batch; at most
:data:`MAX_PENDING` wait, and the ones over it are counted in a log line instead.
"""

from __future__ import annotations

import logging
import queue
import threading

from arbiter_core import records
from arbiter_core.errors import BrokerError, MessageRejected
from arbiter_core.minion.counts import TaskCounts
from arbiter_core.minion.run_context import RunContext
from arbiter_core.minion.task_log import log_burial
from arbiter_core.node import BURIED_EVENT, Record
from arbiter_core.node.burial import PURGED, parse_buried

log = logging.getLogger("arbiter.minion")

MAX_PENDING = 10_000
"""Burial events waiting to be read at most; more are dropped, and the drop logged."""
BATCH = 500
"""Records read in one round trip."""
MARK_TTL = 3600.0
"""Seconds a log mark lives: far longer than the minions of a queue take to hear one event."""

_STOP = ""


class BurialWatch:
    """Listens for burials while a run lasts; see the module docstring."""

    def __init__(self, context: RunContext, counts: TaskCounts) -> None:
        self.context = context
        self.counts = counts
        self._events: queue.Queue[str] = queue.Queue(MAX_PENDING)
        self._dropped = 0
        self._thread = threading.Thread(target=self._serve, name="arbiter-burials", daemon=True)
        self._listening = False

    def listen(self) -> None:
        """Subscribe and start the reader (once; a retry after a failed start may call it
        again)."""
        if self._listening:
            return
        self.context.node.subscribe(BURIED_EVENT, self._on_buried)  # events queue till then
        self._listening = True
        self._thread.start()

    def close(self) -> None:
        if not self._listening:
            return
        self._listening = False
        try:
            self.context.node.unsubscribe(BURIED_EVENT, self._on_buried)
        finally:
            if self._thread.is_alive():
                self._events.put(_STOP)  # blocks only while full, which the reader empties
                self._thread.join()

    def _on_buried(self, event: str, payload: bytes) -> None:
        key = payload.decode("utf-8", "replace")
        if records.task_id_of_key(key) is None:
            return
        try:
            self._events.put_nowait(key)
        except queue.Full:
            self._dropped += 1

    def _serve(self) -> None:
        while True:
            keys = [self._events.get()]
            while len(keys) < BATCH:
                try:
                    keys.append(self._events.get_nowait())
                except queue.Empty:
                    break
            stop = _STOP in keys
            if self._dropped:
                dropped, self._dropped = self._dropped, 0
                log.warning("%d burial events came faster than they could be read", dropped)
            try:
                self._read([key for key in keys if key != _STOP])
            except BrokerError as exc:
                log.warning("could not read %d buried tasks: %s", len(keys), exc)
            except Exception:  # a bug here must not stop the run, only this batch
                log.exception("could not read %d buried tasks", len(keys))
            if stop:
                return

    def _read(self, keys: list[str]) -> None:
        if not keys:
            return
        node = self.context.node
        for key, record in node.get_many(keys).items():
            found = self._mine(record)
            if found is None:
                continue
            status, reason = found
            written, _ = node.transition(
                records.burial_mark_key(key), Record("logged", b""), ttl=MARK_TTL,
                expect=(records.ABSENT,),
            )  # fmt: skip
            if written:
                self._tell(key, status, reason)

    def _mine(self, record: Record) -> tuple[dict[str, object], str] | None:
        """The status and reason of a record buried on this queue, unless purged."""
        parsed = parse_buried(record.data) if record.state == records.DEAD else None
        if parsed is None or parsed[0] == PURGED:
            return None
        reason, data = parsed
        try:
            status = self.context.wire.unpack(data)
        except MessageRejected:  # its queue cannot be told: some minion of it may know
            return None
        if not isinstance(status, dict) or status.get("queue") != self.context.queue:
            return None
        return status, reason

    def _tell(self, key: str, status: dict[str, object], reason: str) -> None:
        context = self.context
        task_id = str(status.get("id") or records.task_id_of_key(key))
        name = str(status.get("name", "?"))
        attempt = status.get("attempt")
        self.counts.add("dead")
        log_burial(task_id, name, attempt if isinstance(attempt, int) else 0, reason,
                   context.queue, context.worker_id)  # fmt: skip
        if context.registry.observed("arbiter_task_dead_lettered"):
            context.registry.notify(
                "arbiter_task_dead_lettered",
                task_id=task_id, name=name, queue=context.queue, reason=reason,
            )  # fmt: skip
