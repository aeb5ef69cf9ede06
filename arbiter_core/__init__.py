"""arbiter's backend-agnostic core: tasks, results, errors, the scheduler and contracts.

Nothing here imports a backend or a broker client; backends build on this
package's public API, exactly as a third-party plugin would.
"""

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
from arbiter_core.pool import WorkerPool
from arbiter_core.result import Result
from arbiter_core.retry import RetryPolicy
from arbiter_core.scheduler import Scheduler
from arbiter_core.task import ResultOf, Task, create_task, result_of
from arbiter_core.wire.tagged_json import register_type

__all__ = [
    "ArbiterError",
    "DependencyError",
    "DuplicateTaskError",
    "FailedDependencyError",
    "RemoteTaskError",
    "Result",
    "ResultOf",
    "RetryPolicy",
    "RunInterrupted",
    "Scheduler",
    "SerializationError",
    "Task",
    "TaskCancelledError",
    "TaskDefinitionError",
    "TaskTimeoutError",
    "UnsatisfiedDependencyError",
    "WorkerLostError",
    "WorkerPool",
    "create_task",
    "register_type",
    "result_of",
]
