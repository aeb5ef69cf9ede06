"""The EventNode contract: the broker abstraction every backend implements.

Three faces, each an abstract class whose docstrings state the guarantees:
:class:`Broadcaster` (fan-out, at most once), :class:`WorkQueue` (durable,
competing consumers, leases, dead letters) and :class:`StateStore` (records
with TTL, atomic transitions, worker registry). :class:`EventNode` unites them
with a lifecycle; :class:`ComposedNode` takes the state face from another node.
A message pushed with its record is bound to it: a pull may claim the record
(:mod:`~arbiter_core.node.claim`), and burying the message ends it
(:mod:`~arbiter_core.node.burial`); requeuing it revives the record.
The public methods check their arguments once, for every backend
(:mod:`~arbiter_core.node.arguments`), then call the protected method a backend writes.
The conformance suite in :mod:`arbiter_core.conformance` checks every guarantee.
"""

from arbiter_core.node.arguments import (
    require_bytes,
    require_claim,
    require_count,
    require_delay,
    require_expect,
    require_message_ids,
    require_name,
    require_positive,
    require_timeout,
)
from arbiter_core.node.broadcast import Broadcaster, EventCallback, Quick
from arbiter_core.node.burial import (
    BURIED_EVENT,
    DEAD,
    FINAL_STATES,
    PURGED,
    REQUEUED,
    buried_data,
    parse_buried,
    revived_data,
)
from arbiter_core.node.claim import Claim, Claimed
from arbiter_core.node.composed import ComposedNode, NoStateStore
from arbiter_core.node.event_node import (
    BROADCAST,
    CROSS_PROCESS,
    DEFAULT_NAMESPACE,
    PERSISTENT,
    QUEUE,
    STATE,
    EventNode,
    Outcome,
    TransitionPush,
)
from arbiter_core.node.priority import MAX_PRIORITY, PRIORITY, require_priority
from arbiter_core.node.state_store import (
    ABSENT,
    Expect,
    Record,
    StateStore,
    TransitionItem,
    require_record,
)
from arbiter_core.node.work_queue import DeadLetter, Delivery, QueueStats, WorkQueue

__all__ = [
    "ABSENT",
    "BROADCAST",
    "BURIED_EVENT",
    "CROSS_PROCESS",
    "DEAD",
    "DEFAULT_NAMESPACE",
    "FINAL_STATES",
    "MAX_PRIORITY",
    "PERSISTENT",
    "PRIORITY",
    "PURGED",
    "QUEUE",
    "REQUEUED",
    "STATE",
    "Broadcaster",
    "Claim",
    "Claimed",
    "ComposedNode",
    "DeadLetter",
    "Delivery",
    "EventCallback",
    "EventNode",
    "Expect",
    "NoStateStore",
    "Outcome",
    "QueueStats",
    "Quick",
    "Record",
    "StateStore",
    "TransitionItem",
    "TransitionPush",
    "WorkQueue",
    "buried_data",
    "parse_buried",
    "require_bytes",
    "require_claim",
    "require_count",
    "require_delay",
    "require_expect",
    "require_message_ids",
    "require_name",
    "require_positive",
    "require_priority",
    "require_record",
    "require_timeout",
    "revived_data",
]
