"""Key presses for ``arbiter top``, read on a thread of their own so a refresh never waits.

On a POSIX terminal the reader puts the terminal in cbreak mode (each key arrives
at once, nothing is echoed, Ctrl-C still sends SIGINT) and restores it on exit,
whatever ended the view. The thread blocks in ``select`` on the terminal and on
a pipe of its own; closing the reader writes to the pipe, so it stops at once
without a timeout loop. Where there is no terminal (a pipe, Windows) it reads
nothing: Ctrl-C is then the way out.
"""

from __future__ import annotations

import os
import select
import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO


class KeyReader:
    """Calls ``on_key(character)`` for each key pressed while the ``with`` block runs."""

    def __init__(self, stream: TextIO, on_key: Callable[[str], None]) -> None:
        self.stream = stream
        self.on_key = on_key
        self._fd: int | None = None
        self._saved: list[Any] | None = None
        self._wake: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> KeyReader:
        if sys.platform == "win32" or not self.stream.isatty():
            return self
        import termios  # noqa: PLC0415 - POSIX only
        import tty  # noqa: PLC0415

        fd = self.stream.fileno()
        self._saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)
        self._fd = fd
        self._wake = os.pipe()
        self._thread = threading.Thread(
            target=self._read, args=(fd, self._wake[0]), name="arbiter-top-keys", daemon=True
        )
        self._thread.start()
        return self

    def _read(self, fd: int, wake: int) -> None:
        decoder_errors = "ignore"  # an odd byte (a partial escape sequence) is no key
        while True:
            ready, _, _ = select.select([fd, wake], [], [])
            if wake in ready:
                return
            data = os.read(fd, 64)
            if not data:  # the terminal went away
                return
            for character in data.decode(errors=decoder_errors):
                self.on_key(character)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._wake is not None:
            os.write(self._wake[1], b"x")
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        if self._fd is not None and self._saved is not None and sys.platform != "win32":
            import termios  # noqa: PLC0415

            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
        if self._wake is not None:
            for end in self._wake:
                os.close(end)
        self._fd = self._saved = self._wake = self._thread = None
