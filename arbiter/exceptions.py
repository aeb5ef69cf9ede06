"""Every exception arbiter raises or reports, importable as ``arbiter.exceptions.X``."""

from arbiter_core.errors import (
    ArbiterError,
    DependencyError,
    DuplicateTaskError,
    FailedDependencyError,
    RemoteTaskError,
    RunInterrupted,
    SerializationError,
    TaskCancelledError,
    TaskDefinitionError,
    TaskTimeoutError,
    UnsatisfiedDependencyError,
    WorkerLostError,
)

__all__ = [
    "ArbiterError",
    "DependencyError",
    "DuplicateTaskError",
    "FailedDependencyError",
    "RemoteTaskError",
    "RunInterrupted",
    "SerializationError",
    "TaskCancelledError",
    "TaskDefinitionError",
    "TaskTimeoutError",
    "UnsatisfiedDependencyError",
    "WorkerLostError",
]
