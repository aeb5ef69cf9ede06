"""Running ``async def`` tasks on any pool: each call gets its own event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any


def run_coroutine(
    function: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> Any:
    """Call an ``async def`` function to completion with ``asyncio.run``.

    Module-level (picklable by reference), so it works on the process pool too;
    a timeout or kill of the call cancels the loop with the thread or process.
    """
    return asyncio.run(function(*args, **kwargs))
