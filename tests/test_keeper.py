"""The keeper warns about a lost lease only for a task that is still running."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest

from arbiter_core.minion.keeper import Keeper
from arbiter_core.node import Delivery


def _delivery(receipt: str) -> Delivery:
    return Delivery("q", f"m-{receipt}", b"", 1, receipt, 0.0)


class FakeWorker:
    """What the keeper reads from a worker; ``leased`` answers from a script."""

    def __init__(self, snapshots: list[list[Delivery]], renewed: list[bool]) -> None:
        self._snapshots = snapshots
        self.settings = SimpleNamespace(lease=3.0)
        self.queue = "q"
        self.slots = 1
        self.minion = SimpleNamespace(worker_id="w1", tasks=["t"])
        self.described = False
        self.node = SimpleNamespace(
            renew=lambda deliveries, lease: renewed[: len(deliveries)],
            heartbeat=lambda *args, **kwargs: None,
        )

    def leased(self) -> list[Delivery]:
        return self._snapshots.pop(0) if self._snapshots else []

    def busy(self) -> int:
        return 0

    def describe_running(self) -> None:
        self.described = True


@pytest.mark.parametrize(
    ("after", "warned"),
    [([], False), ([_delivery("a")], True)],
    ids=["finished-meanwhile", "still-running"],
)
def test_lost_lease_warning(after: list[Delivery], warned: bool, caplog: Any) -> None:
    worker = FakeWorker([[_delivery("a")], after], renewed=[False])
    with caplog.at_level(logging.WARNING, logger="arbiter.minion"):
        Keeper(worker).beat()  # type: ignore[arg-type]
    assert worker.described, "each beat describes the tasks whose record a pull claimed"
    assert ("lost the lease" in caplog.text) is warned
