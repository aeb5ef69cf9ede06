"""The CLI's logging: one stderr handler on the root logger, as text or as JSON lines.

The library only logs (``arbiter.minion``, ``arbiter.config``, ...) and adds no
handler; a command that runs for a while (``arbiter minion``) installs this one,
so the tasks' own ``logging`` calls show up too. JSON lines carry ``timestamp``
(ISO 8601, UTC), ``level``, ``logger``, ``message``, every structured field the
record was given with ``extra=`` (a task's ``task``, ``task_id``, ``outcome``,
``duration``, ``attempt``, ``queue``, ``worker``...), and ``traceback`` when
there is one. A process task's error brings its traceback from the child,
which both formats show instead of the parent's.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Any

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

_STANDARD = frozenset(
    {*vars(logging.LogRecord("", 0, "", 0, "", None, None)), "message", "asctime", "taskName"}
)
"""Attributes every LogRecord has; anything else on a record came from ``extra=``."""


def format_traceback(formatter: logging.Formatter, ei: Any) -> str:
    """A record's traceback; a process task's error carries its child's as ``traceback_text``."""
    remote = getattr(ei[1], "traceback_text", None)
    if isinstance(remote, str) and remote:
        return remote.rstrip("\n")
    return logging.Formatter.formatException(formatter, ei)


class TextFormatter(logging.Formatter):
    """``2024-05-01 12:00:00,123 INFO    arbiter.minion: task add[…] succeeded in …``."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatException(self, ei: Any) -> str:
        return format_traceback(self, ei)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in data:
                data[key] = value
        if record.exc_info and record.exc_info[1] is not None:
            data["traceback"] = format_traceback(self, record.exc_info)
        elif record.exc_text:
            data["traceback"] = record.exc_text
        if record.stack_info:
            data["stack"] = record.stack_info
        return json.dumps(data, default=str, ensure_ascii=False)


def configure_logging(
    level: str = "INFO", log_format: str = "text", stream: IO[str] | None = None
) -> logging.Handler:
    """Send every log record at ``level`` and above to ``stream`` (stderr), as ``log_format``.

    Replaces a handler this function installed before, so calling it twice does
    not print each line twice; handlers someone else installed are left alone.
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
    if level.upper() not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    handler = _CliHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _CliHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


if TYPE_CHECKING:
    _StreamHandler = logging.StreamHandler[IO[str]]
else:  # subscriptable at run time only from Python 3.11
    _StreamHandler = logging.StreamHandler


class _CliHandler(_StreamHandler):
    """The handler :func:`configure_logging` installs (so it can find it again)."""
