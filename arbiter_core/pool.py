"""The worker-pool contract: where a task's function actually runs.

``concurrent.futures.Executor`` cannot time out or kill *one* running call, and a
task runner needs both, so pools implement this small protocol instead. Futures
are ordinary :class:`concurrent.futures.Future` objects, so callers wait on them
(or attach callbacks) the usual way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future
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
