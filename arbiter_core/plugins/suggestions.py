"""What to tell someone who asked for a name nobody provides: the closest one, and all of them."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, known: Iterable[str], suffix: str = "") -> str:
    """``" (did you mean memory://?)"`` for the closest known name, or ``""``."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]}{suffix}?)" if close else ""


def listing(known: Iterable[str], suffix: str = "") -> str:
    """The known names, sorted and comma-separated, or ``"(none)"``."""
    return ", ".join(f"{name}{suffix}" for name in sorted(known)) or "(none)"
