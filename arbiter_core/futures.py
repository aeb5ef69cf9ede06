"""Settling a future that a timeout, a kill or a shutdown may have settled first."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import InvalidStateError
from typing import Any


def settle(setter: Callable[[Any], None], value: Any) -> bool:
    """Call ``future.set_result`` / ``set_exception`` unless already settled; say who won.

    A future's state changes atomically, so whoever settles it first decides the
    outcome, and the loser learns it lost (a worker thread then knows it was abandoned).
    """
    try:
        setter(value)
    except InvalidStateError:
        return False
    return True
