"""The metrics the lifecycle hooks update: counters and a histogram, labelled by queue and task.

Every update is a label lookup and an increment, because the hooks run on the task's
own thread (see ``arbiter_core/plugins/hookspecs.py``): no I/O, nothing that waits.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

DURATION_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
    600.0, 1800.0, 3600.0, float("inf"),
)  # fmt: skip
"""Seconds: from a few milliseconds (a fast task) to an hour (a batch job)."""

OUTCOMES = ("succeeded", "failed", "cancelled", "expired", "dead")
"""Values of the ``outcome`` label of ``arbiter_tasks_total``."""


class TaskMetrics:
    """The task metrics of one exporter, registered on its own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("queue", "task")
        self.submitted = Counter(
            "arbiter_tasks_submitted",
            "Tasks accepted by the broker from this process.",
            labels,
            registry=registry,
        )
        self.started = Counter(
            "arbiter_tasks_started",
            "Attempts this process's minions began running.",
            labels,
            registry=registry,
        )
        self.finished = Counter(
            "arbiter_tasks",
            "Tasks this process's minions ended, by outcome (succeeded, failed, cancelled, "
            "expired, dead).",
            (*labels, "outcome"),
            registry=registry,
        )
        self.retries = Counter(
            "arbiter_task_retries",
            "Failed attempts that will run again.",
            labels,
            registry=registry,
        )
        self.duration = Histogram(
            "arbiter_task_duration_seconds",
            "Seconds the last attempt of a task took (succeeded or failed).",
            labels,
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
