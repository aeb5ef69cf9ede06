"""The broadcast face: fan-out events to every subscriber, at most once."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from arbiter_core.node.arguments import require_bytes, require_name

EventCallback = Callable[[str, bytes], None]
"""Called as ``callback(event, payload)`` on the node's delivery thread."""


class Quick:
    """A callback that returns at once and never blocks or calls the node.

    A backend may run it on the thread that reads events instead of handing it to
    its delivery thread, which spares every event one thread wake-up (about a tenth
    of a millisecond on a busy machine). The Arbiter's routing of completion events
    is one. Backends that do not look for it run it like any other callback.
    """

    __slots__ = ("callback",)

    def __init__(self, callback: EventCallback) -> None:
        self.callback = callback

    def __call__(self, event: str, payload: bytes) -> None:
        self.callback(event, payload)


class Broadcaster(ABC):
    """Publish/subscribe for control and notifications.

    Guarantees an implementation makes:

    * ``emit`` reaches every callback subscribed to that event *at the time*, on
      every node instance connected to the same broker and namespace, in any
      process, including subscribers of the emitting node itself.
    * Delivery is at most once: a subscriber that is disconnected (or not yet
      subscribed) misses the event. Nothing that matters may rely on broadcast
      alone; it is for control (kill, stats requests) and for waking waiters who
      then read the state store.
    * Events emitted by one node to one event arrive at each subscriber in the
      order they were emitted.
    * Callbacks run on a thread owned by the node, one event at a time per node;
      they must return quickly. An exception in a callback is logged and does
      not stop delivery to the others. A callback wrapped in :class:`Quick` may
      instead run on the thread that reads events, beside the others.
    * After a reconnect, existing subscriptions are restored by the node.

    The public methods check their arguments (event names, see
    :func:`~arbiter_core.node.arguments.require_name`; bytes payloads; a callable
    callback) and then call the protected method of the same name, which is what a
    backend writes: ``_emit``, ``_subscribe``, ``_unsubscribe``.
    """

    def emit(self, event: str, payload: bytes) -> None:
        """Send ``payload`` to every current subscriber of ``event``."""
        self._emit(require_name(event, "event"), require_bytes(payload, "payload"))

    def subscribe(self, event: str, callback: EventCallback) -> None:
        """Call ``callback(event, payload)`` for each later ``emit`` of ``event``.

        When this returns, the subscription is active: an ``emit`` that starts
        afterwards, from any node, reaches it.
        """
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        self._subscribe(require_name(event, "event"), callback)

    def unsubscribe(self, event: str, callback: EventCallback) -> None:
        """Stop calling ``callback`` for ``event``; unknown pairs are ignored."""
        self._unsubscribe(require_name(event, "event"), callback)

    # -- what a backend writes; the arguments are checked (see the class docstring)
    @abstractmethod
    def _emit(self, event: str, payload: bytes) -> None: ...

    @abstractmethod
    def _subscribe(self, event: str, callback: EventCallback) -> None: ...

    @abstractmethod
    def _unsubscribe(self, event: str, callback: EventCallback) -> None: ...
