"""How the minion puts an error into words: a dead letter's reason, a record's traceback."""

from __future__ import annotations

import traceback

REASON_LIMIT = 500
"""Characters of ``Type: message`` kept in a dead letter's reason."""


def describe(error: BaseException) -> str:
    """``Type: message`` of an error, short enough for a dead letter's reason."""
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= REASON_LIMIT else text[: REASON_LIMIT - 3] + "..."


def traceback_text(error: BaseException) -> str:
    """The traceback stored with a failed task; a remote one (from a process) as it came."""
    text = getattr(error, "traceback_text", None)
    if isinstance(text, str):
        return text
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))
