"""The exception hierarchy: catch :class:`ArbiterError` for everything, or a leaf for one case.

Errors that describe why a *task* did not succeed (a failed or unsatisfied
dependency, a timeout, a cancellation) are delivered as ``Result.value`` by
``run_tasks`` rather than raised, so they carry the task name and the culprits
as attributes as well as in the message.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from datetime import datetime, timezone
from typing import Any


def sorted_names(names: Iterable[Hashable]) -> tuple[Hashable, ...]:
    """Task names in order: their natural one, or by type and repr when they do not compare.

    The local runner takes any hashable as a task name (as the original arbiter did),
    so a run may mix, say, ints and strings; messages and attributes still list
    names in a stable order.
    """
    unique = set(names)
    try:
        return tuple(sorted(unique))  # type: ignore[type-var]  # tried, not assumed
    except TypeError:
        return tuple(sorted(unique, key=lambda n: (type(n).__qualname__, repr(n))))


def _rebuild(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """Unpickle an error without calling its ``__init__`` (see ``ArbiterError.__reduce__``)."""
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class ArbiterError(Exception):
    """Base class of every error arbiter raises or reports.

    Errors pickle with their attributes intact (a process task's error crosses back
    to the parent as itself), whatever their ``__init__`` takes.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, self.__dict__))


class TaskDefinitionError(ArbiterError, ValueError):
    """A task was declared with invalid settings (bad name, negative retries, …)."""


class _Described(ArbiterError):
    """An error whose ``args`` are data (as the original arbiter's were) and ``str()`` a sentence.

    ``message`` holds the sentence; ``args`` is set by the subclass.
    """

    message: str

    def __str__(self) -> str:
        return self.message


class DuplicateTaskError(_Described, TaskDefinitionError, TypeError):
    """Two tasks in one run share a name; names must be unique within a run.

    Also a ``TypeError``, which is what the original arbiter raised. ``names``
    lists every duplicated name; ``args`` is ``(name,)`` for the first name found
    repeated in the order the tasks were given, as the original's were.
    """

    def __init__(self, names: Iterable[Hashable], first: Hashable | None = None) -> None:
        given = list(names)
        self.names = sorted_names(given)
        listed = ", ".join(repr(n) for n in self.names)
        self.message = f"duplicate task name(s): {listed}; task names must be unique in a run"
        super().__init__(self.message)
        self.args = (first if first is not None or not given else given[0],)


class DependencyError(_Described):
    """A task was not run because of its dependencies.

    ``DependencyException``, the original arbiter's name for this class, is the same class.
    """

    def __init__(self, task: Hashable, message: str) -> None:
        self.task = task
        self.message = message
        super().__init__(message)


DependencyException = DependencyError
"""The original arbiter's name for :class:`DependencyError`: one class, two names."""


class UnsatisfiedDependencyError(DependencyError):
    """A task depends on a task that does not exist or lies in a dependency cycle.

    ``missing`` names the dependencies that were never declared, ``cycle`` the
    members of the cycle(s) involved, and ``via`` the direct dependency through
    which an indirectly affected task was reached (empty for the culprit itself).
    A tuple passed as ``missing`` or ``cycle`` is taken as already sorted and
    unique (the scheduler shares one per cycle); the message names at most
    ``NAMES_SHOWN`` of each.

    ``unsatisfied`` is the set of the task's *own* dependencies that cannot be
    satisfied (missing, in a cycle, or themselves unsatisfied), and ``args`` is
    ``(that set,)``, as in the original arbiter: ``({'alpha'},)`` for a task whose
    dependency ``alpha`` does not exist, ``({'bravo'},)`` for a task behind it that
    depends on ``bravo``. When not given it is ``missing`` plus ``via``.
    """

    NAMES_SHOWN = 5

    def __init__(
        self,
        task: Hashable,
        *,
        missing: Iterable[Hashable] = (),
        cycle: Iterable[Hashable] = (),
        via: Hashable = "",
        unsatisfied: Iterable[Hashable] | None = None,
    ) -> None:
        self.missing = missing if isinstance(missing, tuple) else sorted_names(missing)
        self.cycle = cycle if isinstance(cycle, tuple) else sorted_names(cycle)
        self.via = via
        if unsatisfied is None:
            unsatisfied = {*self.missing, via} if via != "" else self.missing
        self.unsatisfied = frozenset(unsatisfied)
        causes = []
        if self.missing:
            causes.append("missing dependency " + self._listed(self.missing))
        if self.cycle:
            causes.append("dependency cycle between " + self._listed(self.cycle))
        cause = " and ".join(causes)
        where = f" (through its dependency {via!r})" if via != "" else ""
        super().__init__(task, f"task {task!r} cannot run: {cause}{where}")
        self.args = (set(self.unsatisfied),)

    @classmethod
    def _listed(cls, names: tuple[Hashable, ...]) -> str:
        shown = ", ".join(repr(n) for n in names[: cls.NAMES_SHOWN])
        more = len(names) - cls.NAMES_SHOWN
        return f"{shown} and {more} more" if more > 0 else shown


class FailedDependencyError(DependencyError):
    """A task was not run because a task it depends on (directly or not) failed.

    ``dependency`` is the upstream task that failed; ``via`` is the direct
    dependency through which it was reached (equal to ``dependency`` when direct).
    ``args`` is ``(via,)``, the failed direct dependency, as in the original arbiter
    (where a task behind a failure saw its direct dependency's failed result).
    """

    def __init__(self, task: Hashable, dependency: Hashable, via: Hashable | None = None) -> None:
        self.dependency = dependency
        self.via = dependency if via is None else via
        where = "" if self.via == dependency else f" (through {self.via!r})"
        super().__init__(
            task, f"task {task!r} was not run: dependency {dependency!r} failed{where}"
        )
        self.args = (self.via,)


class TaskTimeoutError(ArbiterError, TimeoutError):
    """A task (or the whole run) ran past its time limit.

    A thread cannot be killed: a timed-out thread task is *reported* as timed out
    and abandoned, but its code keeps running in the background until it returns.
    A process task is terminated.
    """

    def __init__(self, task: Hashable, seconds: float, *, whole_run: bool = False) -> None:
        self.task = task
        self.seconds = seconds
        self.whole_run = whole_run
        scope = "the run's time limit" if whole_run else "its time limit"
        super().__init__(f"task {task!r} did not finish within {scope} of {seconds:g}s")


class WaitTimeoutError(ArbiterError, TimeoutError):
    """``Arbiter.wait_for_tasks`` gave up: ``pending`` are the ids still unfinished.

    The tasks themselves go on (a wait never cancels them); wait again, ``status``
    or ``kill`` them by these ids. The message names them (the first
    ``SHOWN_IDS``, then how many more).
    """

    SHOWN_IDS = 10

    def __init__(self, pending: Iterable[str], seconds: float) -> None:
        self.pending = tuple(pending)
        self.seconds = seconds
        shown = ", ".join(self.pending[: self.SHOWN_IDS])
        more = len(self.pending) - self.SHOWN_IDS
        if more > 0:
            shown += f" and {more} more"
        super().__init__(
            f"{len(self.pending)} task(s) still unfinished after {seconds:g}s: {shown}"
        )


class TaskCancelledError(ArbiterError):
    """A task was cancelled (killed, or the run was interrupted) before it finished."""

    def __init__(self, task: Hashable, reason: str = "cancelled") -> None:
        self.task = task
        self.reason = reason
        super().__init__(f"task {task!r} was cancelled: {reason}")


class TaskExpiredError(ArbiterError):
    """A task's expiry (``apply(..., expires=...)``) passed before a worker started it.

    It never ran and ends in state ``expired``; ``expires`` is that time (``time.time()``).
    """

    def __init__(self, task: Hashable, expires: float) -> None:
        self.task = task
        self.expires = expires
        at = datetime.fromtimestamp(expires, timezone.utc).isoformat(timespec="milliseconds")
        super().__init__(f"task {task!r} expired at {at} before it started")


class SerializationError(ArbiterError, TypeError):
    """A value could not be serialized to cross a process or broker boundary.

    The message names the value (the function, which argument, or the result),
    so the mistake can be fixed where it was made.
    """


class LimitExceededError(SerializationError):
    """A message or result encodes, but is over a configured limit (size, nesting depth,
    task-name length; see :mod:`arbiter_core.wire.limits`).

    The message names the value, its size and the limit, and the setting that raises it.
    """


class WorkerLostError(ArbiterError):
    """The process running a task died before reporting a result (crash, OOM kill, kill -9)."""


class RemoteTaskError(ArbiterError):
    """A task raised an exception that could not be carried back as itself.

    Keeps the original type name, message and formatted traceback as text.
    """

    def __init__(self, type_name: str, message: str, traceback_text: str) -> None:
        self.type_name = type_name
        self.message = message
        self.traceback_text = traceback_text
        super().__init__(f"{type_name}: {message}")


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run; ``results`` holds every task's Result as far as it got.

    A ``KeyboardInterrupt``, so code that does not care still stops as usual;
    tasks that had not finished carry a :class:`TaskCancelledError`.
    """

    def __init__(self, results: dict[Any, Any]) -> None:
        self.results = results
        done = sum(1 for r in results.values() if getattr(r, "success", False))
        super().__init__(f"run interrupted; {done} of {len(results)} task(s) had succeeded")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, self.__dict__))


class BrokerError(ArbiterError):
    """Something went wrong talking to a broker or state store."""


class BrokerConnectionError(BrokerError, ConnectionError):
    """The broker could not be reached (after the backend's own reconnect attempts)."""


class NodeClosedError(BrokerError):
    """An operation was attempted on an EventNode after ``close()``."""


class UnsupportedOperationError(BrokerError):
    """The node cannot serve this face or feature (see ``EventNode.capabilities``).

    For example a broker with no key-value store asked to be the state store:
    the message says which setting (``state_url``) supplies one instead.
    """


class ConfigurationError(ArbiterError, ValueError):
    """A setting or broker URL is invalid, or names a backend that is not installed."""


class MessageRejected(ArbiterError):
    """A message failed to decode or verify; it is dead-lettered, never executed.

    ``reason`` is a short sentence for the dead-letter record (garbage bytes, a
    missing field, a bad signature, a content type this node does not accept).
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class DeadLetteredError(ArbiterError):
    """A task's message went to the dead letters: it will not run (again).

    The ``error`` of a task in state ``dead``: ``reason`` says why (it did not decode
    or verify, it was delivered too many times without an ack, it could not be handled).
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"its message was dead-lettered: {reason}")


class UnknownTaskError(ArbiterError):
    """A message named a task its queue's minion has not registered."""

    def __init__(self, name: str, queue: str, registered: Iterable[str]) -> None:
        self.name = name
        self.queue = queue
        self.registered = tuple(sorted(registered))
        known = ", ".join(repr(n) for n in self.registered) or "none"
        super().__init__(
            f"no task named {name!r} is registered on queue {queue!r} (registered: {known})"
        )


class InsufficientCapacityError(ArbiterError):
    """A squad needs more free worker slots than the live workers on its queue have."""


class RpcTimeoutError(ArbiterError, TimeoutError):
    """No minion answered an RPC call within its timeout (``Arbiter.rpc``).

    RPC is at most once: the function may have run (its minion died, or its reply was
    lost or late) or not (no live minion serves ``queue``, or none took the call in
    time); ``detail`` says which of those the worker registry suggests.
    """

    def __init__(self, name: str, queue: str, seconds: float, detail: str = "") -> None:
        self.name = name
        self.queue = queue
        self.seconds = seconds
        self.detail = detail
        why = f": {detail}" if detail else ""
        super().__init__(f"rpc {name!r} on queue {queue!r} got no answer within {seconds:g}s{why}")


class UnknownRpcError(ArbiterError, LookupError):
    """The minion that took an RPC call has no function registered under that name."""

    def __init__(self, name: str, queue: str, registered: Iterable[str]) -> None:
        self.name = name
        self.queue = queue
        self.registered = tuple(sorted(registered))
        known = ", ".join(repr(n) for n in self.registered) or "none"
        super().__init__(
            f"no rpc function named {name!r} is registered on queue {queue!r} "
            f"(registered: {known}); register it with @app.rpc(name={name!r})"
        )


class TaskFailedError(RemoteTaskError):
    """A task awaited by ``Arbiter.call`` or a handle's ``get()`` ended without a result.

    ``state`` is how it ended (``failed``, ``cancelled`` or ``dead``); ``type_name``,
    ``message`` and ``traceback_text`` are its error's, as the worker recorded them
    (the exception itself stays on the worker: results travel as data, not pickles);
    ``task_id`` and ``name`` say which task. Catch :class:`RemoteTaskError` to catch
    these and a process task's unpicklable error alike.
    """

    def __init__(
        self,
        task_id: str,
        name: str,
        state: str,
        type_name: str,
        message: str,
        traceback_text: str = "",
    ) -> None:
        self.task_id = task_id
        self.name = name
        self.state = state
        super().__init__(type_name, message, traceback_text)
        self.args = (f"task {name!r} [{task_id}] {state}: {type_name}: {message}",)
