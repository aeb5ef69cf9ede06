"""The worker-pool contract: where a task's function actually runs.

``concurrent.futures.Executor`` cannot time out or kill *one* running call, and a
task runner needs both, so pools implement this small protocol instead. Futures
are ordinary :class:`concurrent.futures.Future` objects, so callers wait on them
(or attach callbacks) the usual way.

A pool may also offer to run a call on the thread that asks for it
(:class:`InlinePool`): a Minion's lane then runs a task itself, saving the hand-off
to a pool thread and back, while the pool still owns its timeout and its kill. The
Minion asks the pool whether it can (``isinstance(pool, InlinePool)``), never
what it is called, so a plugin's pool can offer it too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class WorkerPool(Protocol):
    """Runs callables on a fixed number of slots.

    Guarantees an implementation makes:

    * ``submit`` never blocks and never raises for a failure of the call itself:
      every outcome arrives through the returned future, including
      :class:`~arbiter_core.errors.SerializationError` when the call cannot be
      handed to the slot, :class:`~arbiter_core.errors.WorkerLostError` when the
      slot died, and :class:`~arbiter_core.errors.TaskTimeoutError` when the call
      ran past ``timeout`` seconds.
    * A timed-out or killed call frees its slot at once (a process is terminated;
      a thread is abandoned and replaced), so a hung task never starves the pool.
    * ``kill`` cancels a call that has not started, or ends a running one with
      :class:`~arbiter_core.errors.TaskCancelledError`.
    * ``shutdown(cancel=True)`` cancels everything not started, kills everything
      running and leaves no process behind.
    """

    slots: int

    def submit(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        label: str = "",
    ) -> Future[Any]:
        """Queue ``fn(*args, **kwargs)``; ``label`` names the call in error messages."""
        ...

    def kill(self, future: Future[Any]) -> bool:
        """Cancel or end the call behind ``future``; False if it had already finished."""
        ...

    def shutdown(self, *, cancel: bool = False) -> None:
        """Stop the pool: finish queued work (``cancel=False``) or drop and kill it."""
        ...


@dataclass(frozen=True)
class Call:
    """A call for :meth:`InlinePool.prepare_here`: what :meth:`WorkerPool.submit` takes."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] | None = None
    timeout: float | None = None
    label: str = ""


@runtime_checkable
class InlinePool(WorkerPool, Protocol):
    """A :class:`WorkerPool` that can also run a call on the calling thread.

    Guarantees, on top of the pool's: a call run with :meth:`run_here` runs in this
    process (so cooperative cancellation applies); ``timeout`` and :meth:`kill`
    settle its future at once, exactly as for a submitted call, and then *abandon*
    the calling thread, which Python cannot stop: the pool calls ``on_abandon`` so
    the caller can hand the slot to a new thread, and the abandoned thread's result
    is discarded when its function returns.
    """

    def prepare_here(self, call: Call) -> Future[Any]:
        """Register ``call`` for :meth:`run_here`; :meth:`kill` works on its future from now."""
        ...

    def run_here(self, future: Future[Any], on_abandon: Callable[[], None]) -> bool:
        """Run the prepared call on this thread, settling ``future`` with its outcome.

        False if the call was abandoned meanwhile (timed out or killed): ``on_abandon``
        was called, and this thread no longer owns its slot. True otherwise, also when
        the call was killed before it started (then it did not run).
        """
        ...
