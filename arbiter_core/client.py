"""The Arbiter: applies tasks, waits for them, reads their status, kills and composes them.

It is also the operator's API (what every ``arbiter`` command is a thin layer over):
queues and workers, purge, ping, and the dead letters — list, show, requeue, purge.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from queue import Empty, SimpleQueue
from typing import Any

from arbiter_core import composition, records, task_priority, timing, unique
from arbiter_core.composition import GroupPlan, PipePlan, TaskCall
from arbiter_core.endpoint import Endpoint, NodeLike
from arbiter_core.errors import (
    InsufficientCapacityError,
    MessageRejected,
    NodeClosedError,
    TaskCancelledError,
    WaitTimeoutError,
)
from arbiter_core.inspection import DeadLetterInfo, PingInfo, QueueInfo, WorkerInfo
from arbiter_core.liveness import QueueWatch, served_queues
from arbiter_core.node import BURIED_EVENT, Quick, Record
from arbiter_core.plan_status import PlanLike, plan_status, read_plan_status
from arbiter_core.plugins import PluginRegistry
from arbiter_core.replies import Arrival, ReplyRouter
from arbiter_core.result import Result
from arbiter_core.rpc import DEFAULT_TIMEOUT as RPC_TIMEOUT
from arbiter_core.rpc import RpcClient
from arbiter_core.seconds import Seconds
from arbiter_core.submission import read_status, settle_unrun, submit_many
from arbiter_core.task_handle import TaskHandle
from arbiter_core.timing import Moment
from arbiter_core.wire import Envelope

RESYNC_INTERVAL = 5.0
"""Seconds without a completion event after which a wait re-reads its pending records.

Completion events wake waiters at once; they are broadcast, so at most once, and
one can be lost while the broker restarts. The re-read is the safety net for that
case, not the way results are found. It is also when a wait checks that the queues
of its tasks have a live minion (see :mod:`arbiter_core.liveness`).
"""

DEAD_LETTER_SCAN = 10_000
"""Dead letters per queue read to find one by id (the most a backend keeps, about)."""
QUEUE_SAMPLE = 100
"""Pending tasks a wait reads to learn which queues it waits on."""
PING_QUEUE = "arbiter.ping"
"""The queue a ping reads the size of: a cheap read every backend answers."""
PING_TRIES = 3

CallLike = TaskCall | str


class Arbiter(Endpoint):
    """The client side: ``apply`` tasks by name and follow them to their result.

    Each Arbiter has its own reply channel: two arbiters waiting at once never
    receive each other's completions. ``status`` works from any process, for
    any task id, as long as its record has not expired (``result_ttl``).
    """

    def __init__(
        self,
        event_node: NodeLike = None,
        *,
        registry: PluginRegistry | None = None,
        **settings: Any,
    ) -> None:
        super().__init__(event_node, registry=registry, **settings)
        self.id = uuid.uuid4().hex
        self.reply_to = records.reply_event(self.id)
        self._router = ReplyRouter()
        self._on_reply = Quick(self._router.deliver)  # it only routes: no thread hop
        self._on_buried = Quick(self._router.buried)
        self._closed = False
        self._watch = QueueWatch(self.node)
        self._listening = False  # subscribed to its replies: on first use, not when built
        self._listen_lock = threading.Lock()
        self._rpc: RpcClient | None = None  # made by the first rpc call

    def _listen(self) -> None:
        """Subscribe to this Arbiter's replies before the first call that needs them.

        Not in ``__init__``: building an Arbiter (at import time, in a module that
        also defines tasks) never touches the broker, so a broker that is down fails
        the first apply or wait, within the node's bounded connection retries,
        instead of the import.
        """
        if self._listening:
            return
        with self._listen_lock:
            if self._listening:
                return
            if self._closed:
                raise NodeClosedError("this Arbiter was closed")
            try:
                self.node.subscribe(self.reply_to, self._on_reply)
                self.node.subscribe(BURIED_EVENT, self._on_buried)
            except BaseException:  # e.g. the broker is down: leave no callback behind
                for event, callback in (
                    (self.reply_to, self._on_reply),
                    (BURIED_EVENT, self._on_buried),
                ):
                    with contextlib.suppress(Exception):
                        self.node.unsubscribe(event, callback)
                raise
            self._listening = True

    def close(self) -> None:
        """Stop listening for replies; close the node if this Arbiter opened it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            with self._listen_lock:
                listening, self._listening = self._listening, False
            if listening:
                with contextlib.suppress(NodeClosedError):  # a borrowed node its owner closed
                    self.node.unsubscribe(self.reply_to, self._on_reply)
                    self.node.unsubscribe(BURIED_EVENT, self._on_buried)
            if self._rpc is not None:
                self._rpc.close()
        finally:
            super().close()

    # ------------------------------------------------------------------ applying
    def apply(
        self,
        name: str,
        tasks_count: int = 1,
        task_args: Sequence[Any] | None = None,
        task_kwargs: Mapping[str, Any] | None = None,
        queue: str = "default",
        *,
        eta: datetime | None = None,
        countdown: Seconds | None = None,
        expires: Moment | None = None,
        unique_key: str | None = None,
        unique_ttl: Seconds | None = None,
        priority: int = 0,
    ) -> list[str]:
        """Queue ``tasks_count`` runs of task ``name``; return their ids.

        ``eta`` (a timezone-aware datetime) or ``countdown`` (seconds from now) delays
        the start: the task waits on the broker as a delayed message, holding no worker
        slot, and its status says ``queued`` with its ``eta``. ``expires`` (an aware
        datetime, or seconds from now) is when it stops being worth starting: a task no
        minion started by then ends ``expired``, never runs, and its waiters wake (see
        :mod:`arbiter_core.timing`). ``unique_key`` (one task only) queues it only if no
        task applied with that key is still queued or running: if one is, its id is
        returned and nothing is queued. The key is freed when its task ends, and
        expires ``unique_ttl`` seconds after it was taken (default: ``result_ttl``
        after the start); see :mod:`arbiter_core.unique`. ``priority`` (0 to 9, default
        0) puts the tasks ahead of every ready task of a lower level on their queue, FIFO
        within a level; retries keep it (docs/priorities.md). Bad options raise
        ``ValueError``/``TypeError``.

        Arguments that cannot be serialized raise
        :class:`~arbiter_core.errors.SerializationError` here, naming the argument,
        before anything is queued. A queue no live minion serves gets a warning
        (once per queue, see :mod:`arbiter_core.liveness`): the tasks wait there.
        """
        if not isinstance(tasks_count, int) or isinstance(tasks_count, bool) or tasks_count < 1:
            raise ValueError(f"tasks_count must be an int >= 1, got {tasks_count!r}")
        when = timing.resolve(eta, countdown, expires)
        level = task_priority.headers(priority)
        uniqueness = unique.resolve(
            unique_key,
            unique_ttl,
            tasks_count,
            result_ttl=self.settings.result_ttl,
            not_before=when.not_before,
        )
        call = TaskCall(name, _args(task_args), dict(task_kwargs or {}), queue)
        self._listen()
        headers = when.headers()
        if level:
            headers.update(level)
        if uniqueness is not None:
            return [self._apply_unique(call.envelope(self.reply_to, **headers), uniqueness, when)]
        envelopes = [call.envelope(self.reply_to, **headers) for _ in range(tasks_count)]
        ids = [envelope.id for envelope in envelopes]
        self._router.expect(ids)  # before the push: a fast minion's event is not missed
        submit_many(self, envelopes, not_before=when.not_before)
        self._watch.applied(name, queue)
        return ids

    def _apply_unique(
        self, envelope: Envelope, uniqueness: unique.Uniqueness, when: timing.Timing
    ) -> str:
        """Queue ``envelope`` under its unique key, or return the id of the task holding it."""
        expected: list[str] = []

        def before_push(task_id: str) -> None:
            expected.append(task_id)
            self._router.expect([task_id])  # before the push: a fast minion's event is not missed

        task_id = unique.submit(
            self, envelope, uniqueness, not_before=when.not_before, before_push=before_push
        )
        self._router.forget([other for other in expected if other != task_id])
        if task_id in expected:
            self._watch.applied(envelope.task, envelope.queue)
        return task_id

    def delay(self, task: CallLike, /, *args: Any, **kwargs: Any) -> TaskHandle:
        """Queue one run of ``task`` (a name or a :class:`TaskCall`) with ``args`` and
        ``kwargs`` (added to the TaskCall's own); return a :class:`TaskHandle` on it.

        ``arbiter.delay("add", 1, 2).get(timeout=10)``. To queue on another queue than
        ``default``, pass ``TaskCall(name, queue=...)``; at a level, ``TaskCall(name,
        priority=...)``.
        """
        call = _as_call(task)
        [task_id] = self.apply(
            call.name,
            1,
            (*call.args, *args),
            {**call.kwargs, **kwargs},
            queue=call.queue,
            priority=call.priority,
        )
        return TaskHandle(self, task_id)

    def call(
        self, task: CallLike, /, *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> Any:
        """Run ``task`` once on a minion and return its result: :meth:`delay`, then wait.

        A task that does not succeed raises
        :class:`~arbiter_core.errors.TaskFailedError` (a ``RemoteTaskError``) carrying
        the remote error's type name, message and traceback text; ``timeout`` seconds
        without an outcome raise :class:`~arbiter_core.errors.WaitTimeoutError` naming
        the id (the task itself goes on: kill it by that id if it must stop). The
        keyword ``timeout`` is the call's own: a task argument of that name goes in a
        ``TaskCall``'s ``kwargs``.
        """
        return self.delay(task, *args, **kwargs).get(timeout)

    def group(
        self,
        tasks: Iterable[CallLike],
        callback: CallLike | None = None,
        finalizer: CallLike | None = None,
        finalizer_timeout: float | None = None,
    ) -> GroupPlan:
        """Apply tasks together; ``callback`` runs with their results (a list, in order)
        once all succeeded; ``finalizer`` runs after everything, even after failures,
        or after ``finalizer_timeout`` seconds if the group has not finished by then."""
        return self._plan_group(
            [_as_call(t) for t in tasks], callback, finalizer, finalizer_timeout, composition.GROUP
        )

    def _plan_group(
        self,
        calls: list[TaskCall],
        callback: CallLike | None,
        finalizer: CallLike | None,
        finalizer_timeout: float | None,
        kind: str,
    ) -> GroupPlan:
        self._listen()
        return composition.plan_group(
            self,
            calls,
            self.reply_to,
            callback=_as_call(callback) if callback is not None else None,
            finalizer=_as_call(finalizer) if finalizer is not None else None,
            finalizer_timeout=finalizer_timeout,
            kind=kind,
        )

    def squad(
        self,
        tasks: Iterable[CallLike],
        callback: CallLike | None = None,
        finalizer: CallLike | None = None,
    ) -> GroupPlan:
        """A group that must start at once: refused unless live workers have enough free slots."""
        calls = [_as_call(t) for t in tasks]
        needed = Counter(call.queue for call in calls)
        available = self.workers()
        for queue, count in needed.items():
            free = available.get(queue, {}).get("available", 0)
            if free < count:
                raise InsufficientCapacityError(
                    f"the squad needs {count} free slot(s) on queue {queue!r}, but the live "
                    f"workers there have {free}; start more minions or use group()"
                )
        return self._plan_group(calls, callback, finalizer, None, composition.SQUAD)

    def pipe(
        self,
        tasks: Iterable[CallLike],
        persistent_args: Sequence[Any] | None = None,
        persistent_kwargs: Mapping[str, Any] | None = None,
    ) -> PipePlan:
        """Run tasks one after another; each receives the previous result as its first
        argument, and every task also receives ``persistent_args``/``persistent_kwargs``.
        If one fails, the rest are marked failed without running. Returns every step's
        id, in order, as a list that also has the pipe's own ``id`` (for :meth:`status`
        and :meth:`kill_group`)."""
        self._listen()
        return composition.plan_pipe(
            self,
            [_as_call(t) for t in tasks],
            self.reply_to,
            persistent_args=_args(persistent_args),
            persistent_kwargs=persistent_kwargs,
        )

    def run_tasks(
        self,
        tasks: Iterable[Any],
        *,
        queue: str = "default",
        timeout: Seconds | None = None,
        progress: bool | None = None,
        dag_id: str | None = None,
    ) -> dict[str, Result]:
        """Run a ``create_task(...)`` graph on the minions of ``queue``; ``{name: Result}``.

        As the local ``run_tasks``, with tasks registered on the minions: each task's
        ``function`` is a registered name or the ``@app.task`` function, and names
        are strings. The minions advance the graph, so it finishes without this
        Arbiter; ``status(dag_id)`` and ``resume(dag_id)`` follow it from any process.
        ``dag_id`` names the run (a new id if None; one in use raises ``ValueError``);
        every task's status also carries it, in ``headers["dag"]["id"]``.
        """
        from arbiter_core.dag import run as dag_run  # noqa: PLC0415 - tqdm only when used

        return dag_run.run_tasks(
            self, tasks, queue=queue, timeout=timeout, progress=progress, dag_id=dag_id
        )

    def resume(
        self, dag_id: str, *, timeout: Seconds | None = None, progress: bool | None = None
    ) -> dict[str, Result]:
        """Wait for the DAG ``dag_id``, started by any process, and return ``{name: Result}``;
        no task that succeeded runs again (see :func:`arbiter_core.dag.run.resume`)."""
        from arbiter_core.dag import run as dag_run  # noqa: PLC0415 - tqdm only when used

        return dag_run.resume(self, dag_id, timeout=timeout, progress=progress)

    @contextlib.contextmanager
    def _replies_on(self, event: str) -> Iterator[None]:
        """Route the completions announced on ``event`` (a DAG's) to this Arbiter's waits."""
        self._listen()
        self.node.subscribe(event, self._on_reply)
        try:
            yield
        finally:
            with contextlib.suppress(NodeClosedError):
                self.node.unsubscribe(event, self._on_reply)

    # ------------------------------------------------------------------ following
    def status(self, task_id: str | PlanLike) -> dict[str, Any]:
        """The task's record as a JSON-able dict: ``state``, ``result``, ``error`` (type,
        message, traceback), timestamps and ``worker``; state ``unknown`` if absent/expired.

        For a group, squad or pipe (its id, or the plan ``group``/``squad``/``pipe``
        returned), the aggregate instead: ``kind``, ``state``, the counts (``total``,
        ``pending``, ``running``, ``done``, ``succeeded``, ``failed``) and ``tasks``,
        every task's status with its ``role`` (see :mod:`arbiter_core.plan_status`).
        From the state store, so from any process. A task id costs one read, as before;
        an id that is no task's costs one more, to look for a plan.
        """
        if not isinstance(task_id, str):  # a plan whose record expired still has its ids
            group = self.node.get(records.group_key(task_id.id))
            return plan_status(self, task_id.id, group, task_id)
        record = self.node.get(records.task_key(task_id))
        if record is None:
            found = read_plan_status(self, task_id)
            if found is not None:
                return found
        return read_status(self, record, task_id)

    def wait_for_tasks(
        self, task_ids: Iterable[str], timeout: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield each task's final status as it finishes, in completion order.

        Tasks that finished before the wait began are yielded first. Raises
        :class:`~arbiter_core.errors.WaitTimeoutError` (a ``TimeoutError``) naming the
        unfinished ids if ``timeout`` seconds pass with tasks still unfinished. A wait
        that makes no progress for ``RESYNC_INTERVAL`` seconds on a queue no live
        minion serves logs a warning (once per wait) on the ``arbiter.client`` logger.
        """
        self._listen()
        pending = dict.fromkeys(task_ids)
        deadline = None if timeout is None else time.monotonic() + timeout
        inbox: SimpleQueue[Arrival] = SimpleQueue()
        registered = list(pending)
        unknown = self._router.register(registered, inbox)
        warned = False
        try:
            if unknown:  # not applied here (or long ago): it may have finished unseen
                yield from self._collect_final(dict.fromkeys(unknown), pending)
            while pending:
                wait = RESYNC_INTERVAL
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                    if wait <= 0:
                        raise WaitTimeoutError(list(pending), timeout or 0.0)
                try:
                    first = inbox.get(timeout=wait)
                except Empty:
                    yield from self._collect_final(pending)
                    if pending and not warned:
                        warned = self._watch.waiting(len(pending), self._queues_of(pending))
                    continue
                unread: dict[str, None] = {}
                for task_id, record in _drain(inbox, first):
                    if task_id not in pending:
                        continue
                    status = self._carried(record, task_id)
                    if status is None:
                        unread[task_id] = None
                    else:
                        del pending[task_id]  # the event carried the record: no read
                        yield status
                if unread:  # everything else already in the inbox: one read
                    yield from self._collect_final(unread, pending)
        finally:  # every id it registered, finished or not: a long-lived Arbiter stays flat
            self._router.unregister(registered, inbox)

    def _carried(self, record: Record | None, task_id: str) -> dict[str, Any] | None:
        """The final status an event carried; None if it carried none, or one that does
        not decode or verify (a forged event is not believed: the store is read)."""
        if record is None or record.state not in records.FINAL:
            return None
        try:
            return read_status(self, record, task_id)
        except MessageRejected:
            return None

    def _collect_final(
        self, candidates: dict[str, None], pending: dict[str, None] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield the final statuses among ``candidates`` (one round trip) and drop them."""
        pending = candidates if pending is None else pending
        keys = {records.task_key(i): i for i in candidates}
        stored = self.node.get_many(list(keys))
        for key, task_id in keys.items():
            record = stored.get(key)
            if record is not None and record.state in records.FINAL:
                pending.pop(task_id, None)
                yield read_status(self, record, task_id)

    def _queues_of(self, pending: dict[str, None]) -> set[str]:
        """The queues of (a sample of) the unfinished tasks, from their records."""
        keys = {records.task_key(task_id): task_id for task_id in list(pending)[:QUEUE_SAMPLE]}
        queues = set()
        for key, record in self.node.get_many(list(keys)).items():
            try:
                queue = read_status(self, record, keys[key]).get("queue")
            except MessageRejected:
                continue
            if isinstance(queue, str) and record.state not in records.FINAL:
                queues.add(queue)
        return queues

    # ------------------------------------------------------------------ control
    def kill(self, task_id: str, *, wait: bool = False, timeout: float | None = None) -> bool:
        """Stop a task: a queued one never starts; a running one is killed by its minion.

        Returns False if the task is unknown or already final. With ``wait``, returns
        only once the task is final (cancelled, or finished before the kill reached it),
        as upstream's ``kill(sync=True)``; ``timeout`` seconds without that raise
        :class:`~arbiter_core.errors.WaitTimeoutError` naming the id. The id of a
        group, squad or pipe kills all of it (:meth:`kill_group`): True if any task was.
        """
        killed = self._kill_task(task_id)
        if killed is None:
            if self.node.get(records.group_key(task_id)) is None:
                return False
            return self.kill_group(task_id, wait=wait, timeout=timeout) > 0
        if killed and wait:
            self._wait_final([task_id], timeout)
        return killed

    def _kill_task(self, task_id: str) -> bool | None:
        """Kill one task without waiting; None if it has no record, False if it is final."""
        record = self.node.get(records.task_key(task_id))
        if record is None:
            return None
        status = read_status(self, record, task_id)
        if status["state"] in records.FINAL:
            return False
        envelope = Envelope(
            task=status["name"],
            id=task_id,
            queue=status["queue"],
            reply_to=status.get("reply_to"),
            headers=status.get("headers") or {},
            created_at=status.get("submitted_at") or time.time(),
        )
        error = TaskCancelledError(envelope.task, "killed before it started")
        if settle_unrun(self, envelope, records.CANCELLED, error):
            composition.advance(self, envelope, records.CANCELLED)
            return True
        payload = self.wire.pack({"kill": [task_id]})
        self.node.emit(records.control_event(envelope.queue), payload)
        return True

    def kill_group(
        self, group_id: str | PlanLike, *, wait: bool = False, timeout: float | None = None
    ) -> int:
        """Kill every task of a group or squad (callback, finalizer, members) or of a
        pipe (its steps); returns how many were killed.

        With ``wait``, returns only once every task of it is final, as upstream's
        ``kill_group`` did; ``timeout`` seconds without that raise
        :class:`~arbiter_core.errors.WaitTimeoutError` naming the unfinished ids.
        """
        gid = group_id if isinstance(group_id, str) else group_id.id
        killed, known = 0, []
        for task_id in composition.group_members(self, gid):
            outcome = self._kill_task(task_id)
            killed += bool(outcome)
            if outcome is not None:  # a task with no record (expired) is never waited for
                known.append(task_id)
        if wait:
            self._wait_final(known, timeout)
        return killed

    def _wait_final(self, task_ids: list[str], timeout: float | None) -> None:
        """Block until every task is final (WaitTimeoutError naming the rest)."""
        for _ in self.wait_for_tasks(task_ids, timeout=timeout):
            pass

    def workers(self) -> dict[str, dict[str, int]]:
        """Live workers per queue: ``workers``, ``total`` slots, ``active`` and ``available``,
        and ``signing``, how many of those workers refuse unsigned messages
        (:meth:`worker_list` says how many keys each one verifies)."""
        summary: dict[str, dict[str, int]] = {}
        for info_bytes in self.node.live_workers().values():
            info = json.loads(info_bytes)
            row = summary.setdefault(
                info["queue"],
                {"workers": 0, "total": 0, "active": 0, "available": 0, "signing": 0},
            )
            row["workers"] += 1
            row["total"] += int(info["slots"])
            row["active"] += int(info["busy"])
            row["available"] += max(0, int(info["slots"]) - int(info["busy"]))
            signing = info.get("signing")
            row["signing"] += isinstance(signing, dict) and bool(signing.get("on"))
        return summary

    # ------------------------------------------------------------------ inspection
    def worker_list(self) -> list[WorkerInfo]:
        """Every live worker from its latest heartbeat (id, queue, host, pid, busy and
        slots, start and beat times...), by queue then id. :meth:`workers` sums them up."""
        found = [
            WorkerInfo.from_heartbeat(worker_id, info)
            for worker_id, info in self.node.live_workers().items()
        ]
        return sorted(found, key=lambda worker: (worker.queue, worker.id))

    def known_queues(self) -> set[str]:
        """The queues live workers serve, and those holding messages or dead letters."""
        return self.node.known_queues() | served_queues(self.node.live_workers())

    def queues(self) -> dict[str, QueueInfo]:
        """Per queue (see :meth:`known_queues`), by name: ready, in flight, delayed, dead
        letters, and how many live workers consume it."""
        live = self.node.live_workers()
        consumers = Counter(WorkerInfo.from_heartbeat(w, info).queue for w, info in live.items())
        names = self.node.known_queues() | served_queues(live)
        return {name: self._queue_info(name, consumers[name]) for name in sorted(names)}

    def queue_info(self, queue: str) -> QueueInfo:
        """One queue's ready, in flight, delayed and dead counts, and its live consumers."""
        live = self.node.live_workers().items()
        consumers = sum(WorkerInfo.from_heartbeat(w, info).queue == queue for w, info in live)
        return self._queue_info(queue, consumers)

    def _queue_info(self, queue: str, consumers: int) -> QueueInfo:
        stats = self.node.queue_stats(queue)
        return QueueInfo(queue, stats.ready, stats.leased, stats.delayed, stats.dead, consumers)

    def purge(self, queue: str) -> int:
        """Drop the queue's waiting (ready and delayed) tasks; return how many.

        Tasks being run are left to their workers, dead letters stay. Each dropped
        task ends in state ``dead`` (reason: purged), so nobody waits for it.
        """
        return self.node.purge(queue)

    def ping(self) -> PingInfo:
        """Reach the broker: its server version and the best of a few round trips."""
        server = self.node.server_info()
        best = float("inf")
        for _ in range(PING_TRIES):
            started = time.perf_counter()
            self.node.queue_size(PING_QUEUE)
            best = min(best, time.perf_counter() - started)
        return PingInfo(self.node.url, server, best)

    # ------------------------------------------------------------------ dead letters
    def dead_letters(self, queue: str | None = None, *, limit: int = 100) -> list[DeadLetterInfo]:
        """The dead letters of ``queue`` (or of every known queue), oldest first per
        queue, up to ``limit`` per queue, each decoded where its message decodes."""
        return [
            DeadLetterInfo.of(letter, self.wire)
            for name in self._dead_letter_queues(queue)
            for letter in self.node.dead_letters(name, limit=limit)
        ]

    def dead_letter(self, letter_id: str, queue: str | None = None) -> DeadLetterInfo | None:
        """The dead letter whose message id or task id is ``letter_id``; None if none is."""
        for letter in self.dead_letters(queue, limit=DEAD_LETTER_SCAN):
            if letter.matches(letter_id):
                return letter
        return None

    def requeue_dead_letters(
        self, queue: str | None = None, ids: Iterable[str] | None = None
    ) -> list[DeadLetterInfo]:
        """Put dead letters back on their queues to run again; return those requeued.

        ``ids`` are message ids or task ids; None requeues every dead letter of
        ``queue`` (or of every queue). A requeued task keeps its id, runs afresh
        (its delivery count starts again) and, if its burial had ended it ``dead``,
        reads as ``queued`` again; a task that reached an outcome otherwise is never
        reopened. Atomic per letter: of two concurrent requeues, one requeues it.
        """
        wanted = None if ids is None else set(ids)
        by_queue: dict[str, list[DeadLetterInfo]] = {}
        for letter in self.dead_letters(queue, limit=DEAD_LETTER_SCAN):
            if wanted is None or wanted & {letter.message_id, letter.task_id}:
                by_queue.setdefault(letter.queue, []).append(letter)
        requeued: list[DeadLetterInfo] = []
        for name, letters in by_queue.items():
            chosen = {letter.message_id: letter for letter in letters}
            for message_id in self.node.requeue_dead_letters(name, list(chosen)):
                requeued.append(chosen[message_id])
        return requeued

    def purge_dead_letters(self, queue: str | None = None) -> int:
        """Drop the dead letters of ``queue`` (or of every queue) for good; how many."""
        return sum(self.node.purge_dead_letters(name) for name in self._dead_letter_queues(queue))

    def _dead_letter_queues(self, queue: str | None) -> list[str]:
        return [queue] if queue is not None else sorted(self.node.known_queues())

    # ------------------------------------------------------------------ rpc
    def rpc(
        self,
        name: str,
        /,
        *args: Any,
        queue: str = "default",
        timeout: float = RPC_TIMEOUT,
        **kwargs: Any,
    ) -> Any:
        """Call the function a minion serving ``queue`` registered as ``name`` with
        ``@app.rpc``, and return its result (see :mod:`arbiter_core.rpc`).

        At most once: the call is broadcast, not queued; exactly one minion serving the
        queue runs it, and no one retries it. Raises
        :class:`~arbiter_core.errors.RpcTimeoutError` (naming the function and queue)
        if no answer comes within ``timeout`` seconds,
        :class:`~arbiter_core.errors.RemoteTaskError` (the remote type, message and
        traceback) if the function raised, and
        :class:`~arbiter_core.errors.UnknownRpcError` if the minion has no such
        function. Arguments over this Arbiter's size or nesting limits raise
        :class:`~arbiter_core.errors.LimitExceededError` before anything is sent; a
        request over the minion's limits, or a result over them, comes back as a
        ``RemoteTaskError`` whose ``type_name`` is ``LimitExceededError`` (see
        docs/security.md). For keyword arguments named ``queue`` or ``timeout``, use
        :meth:`rpc_call`.
        """
        return self.rpc_call(queue, name, args, kwargs, timeout=timeout)

    def rpc_call(
        self,
        queue: str,
        name: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        timeout: float = RPC_TIMEOUT,
    ) -> Any:
        """:meth:`rpc` with the arguments as a sequence and a mapping, in the order of
        the upstream ``RPCClient.call(queue, name, args, kwargs)``."""
        if self._closed:
            raise NodeClosedError("this Arbiter was closed")
        with self._listen_lock:
            if self._rpc is None:
                self._rpc = RpcClient(self.node, self.wire, self.id)
            client = self._rpc
        return client.call(queue, name, args, kwargs, timeout=timeout)


def _drain(inbox: SimpleQueue[Arrival], first: Arrival) -> list[Arrival]:
    """``first``, then every arrival already waiting in ``inbox``, without blocking."""
    arrivals = [first]
    while True:
        try:
            arrivals.append(inbox.get_nowait())
        except Empty:
            return arrivals


def _as_call(task: CallLike) -> TaskCall:
    if isinstance(task, TaskCall):
        return task
    if isinstance(task, str) and task:
        return TaskCall(task)
    raise TypeError(f"expected a TaskCall or a task name, got {task!r}")


def _args(args: Sequence[Any] | None) -> tuple[Any, ...]:
    if args is None:
        return ()
    if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
        raise TypeError(
            f"task_args must be a list or tuple of arguments, got {type(args).__name__} {args!r}"
        )
    return tuple(args)
