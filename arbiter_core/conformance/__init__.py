"""The EventNode conformance suite: every guarantee of the contract, as pytest tests.

Every backend — ours and third parties' — runs it against itself. Subclass
:class:`EventNodeContract` in a test module (its name must start with
``Test``) and provide one fixture, ``node_factory``: a callable that returns
a *new* node on the same broker and namespace each time it is called. The
suite closes every node it opens. Example::

    import pytest
    from arbiter_core.conformance import EventNodeContract

    class TestMyNode(EventNodeContract):
        @pytest.fixture
        def node_factory(self):
            return lambda: MyNode("my://", namespace="test", max_deliveries=self.max_deliveries)

Rules for the factory:

* Its nodes must use ``max_deliveries = self.max_deliveries`` (3 by default):
  the dead-letter tests count on it.
* Each call returns a separate node instance (its own connection), so the
  tests can play two workers, or a crashed worker and a survivor.
* Tests use unique queue, key and event names, so a shared real broker is
  fine; the namespace may be the same for every test.

Timing knobs are class attributes (``lease``, ``settle``, ``ttl``, ``prompt``,
``wait``, ``clock_tolerance``; see :class:`ContractBase`): raise them in the
subclass for a slow or remote broker. A backend that serves only some faces
(a broker with no state store) combines the parts it has:
:class:`BroadcastContract`, :class:`QueueContract`, :class:`StateContract`,
:class:`CombinedContract`, :class:`BurialContract`, :class:`OperationsContract` (the
operator's tools: queue stats, purge, dead-letter requeue), :class:`PriorityContract`
(message priorities; on a node without the ``PRIORITY`` capability the same tests
check its FIFO fallback), :class:`LifecycleContract`,
:class:`ArgumentsContract` (the last passes for any subclass of ``EventNode``: the base
class checks the arguments before a backend's protected methods see them).

Importing this package imports pytest; nothing else in ``arbiter_core``
imports it, so the core runs without pytest installed.
"""

from arbiter_core.conformance.arguments_contract import ArgumentsContract
from arbiter_core.conformance.broadcast_contract import BroadcastContract
from arbiter_core.conformance.burial_contract import BurialContract
from arbiter_core.conformance.combined_contract import CombinedContract
from arbiter_core.conformance.contract import EventNodeContract, LifecycleContract
from arbiter_core.conformance.operations_contract import OperationsContract
from arbiter_core.conformance.priority_contract import PriorityContract
from arbiter_core.conformance.queue_contract import QueueContract
from arbiter_core.conformance.state_contract import StateContract
from arbiter_core.conformance.support import ContractBase, Inbox, NodeFactory

__all__ = [
    "ArgumentsContract",
    "BroadcastContract",
    "BurialContract",
    "CombinedContract",
    "ContractBase",
    "EventNodeContract",
    "Inbox",
    "LifecycleContract",
    "NodeFactory",
    "OperationsContract",
    "PriorityContract",
    "QueueContract",
    "StateContract",
]
