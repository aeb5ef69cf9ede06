"""The progress bar of a run (local or on minions): on stderr, shown on a terminal only.

``progress=None`` shows it when stderr is a terminal, and only for a run that lasts
more than :data:`PROGRESS_DELAY` seconds, so a quick run prints nothing; ``True``
shows it at once, ``False`` never. tqdm is imported when a run starts, not before.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tqdm import tqdm

PROGRESS_DELAY = 1.0
"""Seconds a run must last before its bar appears, when ``progress`` is None."""


def progress_bar(total: int, progress: bool | None) -> tqdm[Any]:
    """A ``tqdm`` bar of ``total`` tasks; see the module docstring for ``progress``."""
    from tqdm import tqdm  # noqa: PLC0415 - a run's dependency, not an import's

    show = sys.stderr.isatty() if progress is None else progress
    return tqdm(
        total=total,
        unit="task",
        desc="tasks",
        file=sys.stderr,
        disable=not show,
        delay=PROGRESS_DELAY if progress is None else 0,
        leave=False,
    )
