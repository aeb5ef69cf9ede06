"""The CLI's log formats (text, JSON lines) and the minion's task log records."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from arbiter_core.cli.log_setup import JsonFormatter, TextFormatter, configure_logging
from arbiter_core.errors import RemoteTaskError
from arbiter_core.minion import task_log
from arbiter_core.wire import Envelope


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _record(message: str = "hello %s", *args: object, **extra: object) -> logging.LogRecord:
    logger = logging.getLogger("arbiter.test")
    return logger.makeRecord(
        "arbiter.test", logging.INFO, __file__, 1, message, args or ("world",), None, extra=extra
    )


def _raised() -> ValueError:
    try:
        raise ValueError("bad input")
    except ValueError as exc:
        return exc


def test_json_lines_carry_the_standard_keys_and_the_structured_fields() -> None:
    record = _record(task="add", task_id="abc", outcome="succeeded", duration=0.5, attempt=1)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert data["level"] == "INFO" and data["logger"] == "arbiter.test"
    assert data["message"] == "hello world"
    assert data["timestamp"].endswith("+00:00")
    assert {k: data[k] for k in ("task", "task_id", "outcome", "duration", "attempt")} == {
        "task": "add",
        "task_id": "abc",
        "outcome": "succeeded",
        "duration": 0.5,
        "attempt": 1,
    }
    assert "args" not in data and "msg" not in data and "traceback" not in data


def test_json_lines_carry_the_traceback_and_survive_odd_values() -> None:
    error = _raised()
    record = _record(weird=object())
    record.exc_info = (ValueError, error, error.__traceback__)
    data = json.loads(JsonFormatter().format(record))
    assert data["traceback"].startswith("Traceback") and "bad input" in data["traceback"]
    assert data["weird"].startswith("<object object")


def test_a_process_task_error_shows_the_childs_traceback() -> None:
    remote = RemoteTaskError(
        "KeyError", "'x'", "Traceback (child)\n  in the child\nKeyError: 'x'\n"
    )
    record = _record()
    record.exc_info = (RemoteTaskError, remote, None)
    assert json.loads(JsonFormatter().format(record))["traceback"].endswith("KeyError: 'x'")
    text = TextFormatter().format(record)
    assert text.endswith("Traceback (child)\n  in the child\nKeyError: 'x'")


def test_text_lines_are_time_level_logger_message() -> None:
    line = TextFormatter().format(_record())
    date, time_of_day, level, logger, *message = line.split()
    assert (level, logger, message) == ("INFO", "arbiter.test:", ["hello", "world"])
    assert len(date) == 10 and "," in time_of_day


def test_configure_logging_installs_one_handler_and_sets_the_level() -> None:
    first = io.StringIO()
    configure_logging("warning", "text", stream=first)
    stream = io.StringIO()
    handler = configure_logging("DEBUG", "json", stream=stream)
    root = logging.getLogger()
    assert handler in root.handlers and root.level == logging.DEBUG
    logging.getLogger("arbiter.minion").debug("x %d", 1, extra={"task": "t"})
    assert first.getvalue() == "", "the first handler was replaced"
    assert json.loads(stream.getvalue())["task"] == "t"
    with pytest.raises(ValueError, match="log format"):
        configure_logging("INFO", "xml")
    with pytest.raises(ValueError, match="log level"):
        configure_logging("LOUD", "text")


ENVELOPE = Envelope(id="id-1", task="add", queue="default", args=(1, 2), kwargs={}, attempt=2)


def test_task_end_lines_carry_their_fields(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="arbiter.minion"):
        task_log.log_end(ENVELOPE, "succeeded", None, 0.25, "w1")
        task_log.log_end(ENVELOPE, "failed", _raised(), 0.5, "w1")
        task_log.log_retry(ENVELOPE, _raised(), 4.0, 0.5, "w1")
        task_log.log_dead_letter("m1", ENVELOPE, "bad signature", "default", "w1")
        task_log.log_dead_letter("m2", None, "not an arbiter message", "default", "w1")
    ok, failed, retry, dead, undecoded = caplog.records
    assert ok.getMessage() == "task add[id-1] succeeded in 0.250s (attempt 2)"
    assert (ok.levelname, ok.outcome, ok.duration, ok.attempt, ok.worker) == (  # type: ignore[attr-defined]
        "INFO", "succeeded", 0.25, 2, "w1",
    )  # fmt: skip
    assert failed.levelname == "ERROR" and failed.exc_info is not None
    assert failed.getMessage().endswith("(attempt 2): ValueError: bad input")
    assert retry.levelname == "WARNING" and retry.delay == 4.0  # type: ignore[attr-defined]
    assert "retrying in 4.0s" in retry.getMessage()
    assert dead.reason == "bad signature" and dead.task_id == "id-1"  # type: ignore[attr-defined]
    assert undecoded.getMessage() == "dead-lettered message m2: not an arbiter message"


def test_a_task_end_costs_one_level_check_when_info_is_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No handler and the root at WARNING (the library's default): nothing is built."""
    logging.getLogger().setLevel(logging.WARNING)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a record was built for a level that is off")

    monkeypatch.setattr(task_log.log, "log", refuse)
    task_log.log_end(ENVELOPE, "succeeded", None, 0.25, "w1")
