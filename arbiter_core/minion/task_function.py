"""What ``@app.task`` returns: the function, still callable as itself, that can also be queued.

``add(1, 2)`` calls the function here, as before it was decorated; ``add.delay(1, 2)``
and ``add.apply(args=(1, 2), queue=...)`` queue it on a broker and return a
:class:`~arbiter_core.task_handle.TaskHandle`, as Celery's ``delay`` does.

Which Arbiter queues it: the one of the task's Minion, ``app.arbiter()``, built on
first use on the minion's own node (borrowed: no connection of its own) and closed
by ``app.close()``. Inside a task that minion runs, that is the running minion's node;
in a process-pool worker, the worker's own import of the app (whose node connects
from the worker; so not on memory://, whose broker lives in one process). Pass
``arbiter=`` to ``apply`` to use another. There is no other, global, connection.

Pickling: a task function pickles by reference, as a plain function does (the
process pool sends calls by reference: the worker imports the module and finds the
function by name), whether the module holds the decorated object or the plain
function it wraps.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from arbiter_core.seconds import Seconds
from arbiter_core.task_handle import TaskHandle
from arbiter_core.timing import Moment

if TYPE_CHECKING:
    from arbiter_core.client import Arbiter
    from arbiter_core.minion.minion import Minion

P = ParamSpec("P")
R = TypeVar("R")


class TaskFunction(Generic[P, R]):
    """A registered task: callable exactly as the function it wraps (``__wrapped__``),
    with its ``__name__``, ``__doc__``, ``__module__`` and ``__qualname__``, plus
    ``name`` (the registered name), ``minion``, and :meth:`delay` / :meth:`apply`."""

    __wrapped__: Callable[P, R]
    __qualname__: str

    def __init__(
        self, function: Callable[P, R], name: str, minion: Minion, priority: int = 0
    ) -> None:
        functools.update_wrapper(self, function)
        self.name = name
        self.minion = minion
        self.priority = priority
        """The level :meth:`apply` and :meth:`delay` queue it at unless told otherwise."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.__wrapped__(*args, **kwargs)

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> TaskHandle:
        """Queue one run with these arguments on the minion's queue; return its handle."""
        return self.apply(args, kwargs)

    def apply(
        self,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        queue: str | None = None,
        arbiter: Arbiter | None = None,
        eta: datetime | None = None,
        countdown: Seconds | None = None,
        expires: Moment | None = None,
        unique_key: str | None = None,
        unique_ttl: Seconds | None = None,
        priority: int | None = None,
    ) -> TaskHandle:
        """Queue one run: ``args`` and ``kwargs`` as given, on ``queue`` (default: the
        minion's), through ``arbiter`` (default: ``minion.arbiter()``); return its handle.

        ``eta``/``countdown`` delay the start and ``expires`` bounds it, as for
        ``Arbiter.apply`` (see :mod:`arbiter_core.timing`); with ``unique_key``, the
        handle is on the task already holding that key if one is unfinished (see
        :mod:`arbiter_core.unique`). ``priority`` (0 to 9) defaults to the task's own,
        ``@app.task(priority=...)``.
        """
        client = arbiter if arbiter is not None else self.minion.arbiter()
        [task_id] = client.apply(
            self.name,
            1,
            tuple(args),
            dict(kwargs or {}),
            queue or self.minion.queue,
            eta=eta,
            countdown=countdown,
            expires=expires,
            unique_key=unique_key,
            unique_ttl=unique_ttl,
            priority=self.priority if priority is None else priority,
        )
        return TaskHandle(client, task_id)

    def __reduce__(self) -> str | tuple[Any, ...]:
        """By reference, as a function: its name if the module holds this object, else
        the plain function it wraps (``app.task(name=...)(f)`` left ``f`` in the module)."""
        qualname = str(self.__qualname__)
        if _lookup(self.__module__, qualname) is self:
            return qualname
        return (_plain, (self.__wrapped__,))

    def __repr__(self) -> str:
        return f"<task {self.name!r} of queue {self.minion.queue!r}: {self.__wrapped__!r}>"


def _lookup(module_name: str, qualname: str) -> Any:
    found: Any = sys.modules.get(module_name)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found


def _plain(function: Callable[..., Any]) -> Callable[..., Any]:
    """Unpickled in a worker process: the plain function, which runs the task as well."""
    return function


def plain_function(function: Callable[..., Any]) -> Callable[..., Any]:
    """The function a task runs: what a :class:`TaskFunction` wraps, else ``function``."""
    while isinstance(function, TaskFunction):  # one registered on two minions wraps twice
        function = function.__wrapped__
    return function
