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


def _keeper(snapshots: list[list[Delivery]], renewed: list[bool], beats: list[str]) -> Keeper:
    """A keeper over a node that renews as ``renewed`` says; ``leased`` answers from a script."""
    node = SimpleNamespace(
        renew=lambda deliveries, lease: renewed[: len(deliveries)],
        heartbeat=lambda worker_id, info, ttl: beats.append(info.decode()),
    )
    return Keeper(
        node,  # type: ignore[arg-type]
        "w1",
        3.0,
        leased=lambda: snapshots.pop(0) if snapshots else [],
        info=lambda: b"info",
        after_beat=lambda: beats.append("described"),
    )


@pytest.mark.parametrize(
    ("after", "warned"),
    [([], False), ([_delivery("a")], True)],
    ids=["finished-meanwhile", "still-running"],
)
def test_lost_lease_warning(after: list[Delivery], warned: bool, caplog: Any) -> None:
    beats: list[str] = []
    keeper = _keeper([[_delivery("a")], after], renewed=[False], beats=beats)
    with caplog.at_level(logging.WARNING, logger="arbiter.minion"):
        keeper.beat()
    assert beats == ["info", "described"], "heartbeat, then the claimed tasks are described"
    assert ("lost the lease" in caplog.text) is warned
