"""Every exception arbiter raises or reports, importable as ``arbiter.exceptions.X``.

The original arbiter's (invenia/Arbiter) names are here too: ``DependencyException``
(the same class as ``DependencyError``), ``FailedDependencyError`` and
``UnsatisfiedDependencyError``.
"""

from arbiter_core.errors import (
    ArbiterError,
    BrokerConnectionError,
    BrokerError,
    ConfigurationError,
    DeadLetteredError,
    DependencyError,
    DependencyException,
    DuplicateTaskError,
    FailedDependencyError,
    InsufficientCapacityError,
    MessageRejected,
    NodeClosedError,
    RemoteTaskError,
    RpcTimeoutError,
    RunInterrupted,
    SerializationError,
    TaskCancelledError,
    TaskDefinitionError,
    TaskFailedError,
    TaskTimeoutError,
    UnknownRpcError,
    UnknownTaskError,
    UnsatisfiedDependencyError,
    UnsupportedOperationError,
    WaitTimeoutError,
    WorkerLostError,
)

__all__ = [
    "ArbiterError",
    "BrokerConnectionError",
    "BrokerError",
    "ConfigurationError",
    "DeadLetteredError",
    "DependencyError",
    "DependencyException",
    "DuplicateTaskError",
    "FailedDependencyError",
    "InsufficientCapacityError",
    "MessageRejected",
    "NodeClosedError",
    "RemoteTaskError",
    "RpcTimeoutError",
    "RunInterrupted",
    "SerializationError",
    "TaskCancelledError",
    "TaskDefinitionError",
    "TaskFailedError",
    "TaskTimeoutError",
    "UnknownRpcError",
    "UnknownTaskError",
    "UnsatisfiedDependencyError",
    "UnsupportedOperationError",
    "WaitTimeoutError",
    "WorkerLostError",
]
