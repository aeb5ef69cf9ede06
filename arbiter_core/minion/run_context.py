"""What every part of one minion run reads, bundled once instead of passed piece by piece."""

from __future__ import annotations

from dataclasses import dataclass

from arbiter_core.node import EventNode
from arbiter_core.plugins import PluginRegistry
from arbiter_core.settings import Settings
from arbiter_core.wire import WireFormat


@dataclass(frozen=True)
class RunContext:
    """The node, wire format and settings of a run, the queue it serves, who serves it
    (``worker_id``, as ``Arbiter.workers()`` lists it) and the plugins it tells."""

    node: EventNode
    wire: WireFormat
    settings: Settings
    queue: str
    worker_id: str
    registry: PluginRegistry
