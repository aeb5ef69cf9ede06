"""The ``memory://`` backend: a full EventNode on an in-process broker.

For tests and for one-process setups (an Arbiter and a Minion in the same
program): ``MemoryEventNode("memory://")``, or ``memory://NAME`` for a separate
broker. It keeps every guarantee of the contract except crossing processes
and surviving a restart.
"""

from arbiter_local.memory.broker import MemoryBroker
from arbiter_local.memory.node import MemoryEventNode, create_node

__all__ = ["MemoryBroker", "MemoryEventNode", "create_node"]
