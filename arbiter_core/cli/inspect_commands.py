"""Inspection and control: ``apply``, ``status``, ``wait``, ``kill``, ``workers``, ``queues``,
``purge`` and ``ping``.

Each is a thin layer over one or two methods of :class:`~arbiter_core.client.Arbiter`
(the Python API has everything these print); each takes ``--broker`` and prints a
table or lines for a person, or with ``--json`` one JSON document for a program. A
command whose tasks did not all succeed exits with status 1.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
import time
from typing import Any

import click

from arbiter_core.cli.group import (
    answered_early,
    arbiter_for,
    broker_option,
    cli,
    echo_json,
    json_option,
    table,
)
from arbiter_core.errors import SerializationError, WaitTimeoutError
from arbiter_core.plan_status import is_plan_status
from arbiter_core.records import SUCCEEDED

SHOWN_RESULT = 80
"""Characters of a result a status line shows (``--json`` shows it whole; errors are whole)."""


# -- what the commands share (the dead-letter commands use these too)
def show_warnings() -> None:
    """Print the library's warnings (``arbiter.*`` loggers) on stderr, unless logging is
    configured already: the library adds no handler, the command line does."""
    logger = logging.getLogger("arbiter")
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = _ToStderr()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


class _ToStderr(logging.Handler):
    """Writes to whatever ``sys.stderr`` is when a record comes (click's test runner
    swaps it), through click, so the stream is never held past a command."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(self.format(record), err=True)
        except (OSError, ValueError):  # stderr closed: nowhere left to say it
            self.handleError(record)


def when(timestamp: float | None) -> str:
    """A ``time.time()`` as local ISO time to the second; ``-`` for none."""
    if timestamp is None:
        return "-"
    return datetime.datetime.fromtimestamp(timestamp).isoformat(sep=" ", timespec="seconds")


def duration(seconds: float | None) -> str:
    """``4s``, ``3m12s``, ``2h05m``, ``1d03h``; ``-`` for none."""
    if seconds is None:
        return "-"
    whole = int(seconds)
    if whole < 60:
        return f"{seconds:.0f}s" if seconds >= 1 else f"{seconds:.1f}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def ago(timestamp: float | None) -> str:
    """How long ago ``timestamp`` was: ``3s ago``; ``-`` for none."""
    if timestamp is None:
        return "-"
    return f"{duration(max(0.0, time.time() - timestamp))} ago"


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def status_line(status: dict[str, Any]) -> str:
    """``ID  STATE  result or error``, for a person."""
    state = status.get("state", "?")
    error = status.get("error")
    if error:  # whole: the reason is what the reader needs
        detail = f"{error.get('type')}: {error.get('message')}"
    elif state == SUCCEEDED:
        detail = shorten(json.dumps(status.get("result"), default=repr), SHOWN_RESULT)
    else:
        detail = ""
    return f"{status.get('id')}  {state}  {detail}".rstrip()


def parse_argument(text: str) -> Any:
    """A command-line task argument: JSON if it parses (``2`` is a number, ``"2"`` and
    ``[1, 2]`` are what they say), else the text itself (``hello`` is a string)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _wait(arbiter: Any, ids: list[str], timeout: float | None) -> list[dict[str, Any]]:
    """Every task's final status, in the order given; a progress bar (on stderr) when
    stdout is a terminal."""
    bar: Any = None
    if sys.stdout.isatty():
        from tqdm import tqdm  # noqa: PLC0415 - only on a terminal

        bar = tqdm(total=len(ids), unit="task", file=sys.stderr, leave=False)
    finished: list[dict[str, Any]] = []
    try:
        for found in arbiter.wait_for_tasks(ids, timeout=timeout):
            finished.append(found)
            if bar is not None:
                bar.update(1)
    except WaitTimeoutError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        if bar is not None:
            bar.close()
    order = {task_id: index for index, task_id in enumerate(ids)}
    return sorted(finished, key=lambda found: order.get(found.get("id", ""), 0))


def _exit_unless_succeeded(statuses: list[dict[str, Any]]) -> None:
    if any(status.get("state") != SUCCEEDED for status in statuses):
        sys.exit(1)


timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="Give up after this long (exit 1, naming the unfinished ids); default: no limit.",
)


def _datetime(text: str, option: str) -> datetime.datetime:
    """An ISO 8601 time; one without a UTC offset is refused by ``apply`` (ambiguous)."""
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 time, e.g. 2026-12-01T09:00:00+00:00",
            param_hint=option,
        ) from None


def _moment(text: str) -> float | datetime.datetime:
    """``--expires``: seconds from now, or an ISO 8601 time."""
    try:
        return float(text)
    except ValueError:
        return _datetime(text, "--expires")


# -- the commands
@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--kwargs", "kwargs_json", metavar="JSON", help='Keyword arguments: {"k": 1}.')
@click.option("--count", type=click.IntRange(min=1), default=1, help="Runs to queue.")
@click.option("--queue", default="default", show_default=True, help="The queue to put them on.")
@click.option("--wait", "wait_", is_flag=True, help="Wait for the results and print them.")
@click.option(
    "--countdown",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Start no sooner than this many seconds from now.",
)
@click.option(
    "--eta",
    metavar="DATETIME",
    help="Start no sooner than this ISO 8601 time with a UTC offset (2026-12-01T09:00+01:00).",
)
@click.option(
    "--expires",
    metavar="SECONDS|DATETIME",
    help="Never start after this: seconds from now, or an ISO 8601 time with a UTC offset.",
)
@click.option(
    "--unique-key",
    metavar="KEY",
    help="Queue it only if no task applied with KEY is queued or running (else print its id).",
)
@timeout_option
@broker_option
@json_option
@click.pass_context
def apply(
    ctx: click.Context,
    name: str,
    args: tuple[str, ...],
    kwargs_json: str | None,
    count: int,
    queue: str,
    wait_: bool,
    countdown: float | None,
    eta: str | None,
    expires: str | None,
    unique_key: str | None,
    timeout: float | None,
    broker: str | None,
    as_json: bool,
) -> None:
    """Queue task NAME with ARGS (each read as JSON, else as a string): `arbiter apply add 2 3`.

    Prints the task ids; with --wait, each result as it finishes (exit 1 unless all
    succeeded). Warns when no live minion serves the queue. --countdown/--eta delay
    the start, --expires ends it ``expired`` if no minion started it by then, and
    --unique-key prints the id of the task holding the key instead of queuing another
    (see ``Arbiter.apply``).
    """
    show_warnings()
    kwargs: dict[str, Any] = {}
    if kwargs_json is not None:
        try:
            kwargs = json.loads(kwargs_json)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--kwargs") from exc
        if not isinstance(kwargs, dict):
            raise click.BadParameter("must be a JSON object", param_hint="--kwargs")
    task_args = [parse_argument(arg) for arg in args]
    with arbiter_for(ctx, broker) as arbiter:
        try:
            ids = arbiter.apply(
                name,
                count,
                task_args,
                kwargs,
                queue=queue,
                countdown=countdown,
                eta=None if eta is None else _datetime(eta, "--eta"),
                expires=None if expires is None else _moment(expires),
                unique_key=unique_key,
            )
        except (SerializationError, ValueError, TypeError) as exc:
            raise click.ClickException(str(exc)) from exc
        if not wait_:
            if as_json:
                echo_json({"ids": ids, "name": name, "queue": queue})
            else:
                for task_id in ids:
                    click.echo(task_id)
            return
        statuses = _wait(arbiter, ids, timeout)
    if as_json:
        echo_json({"ids": ids, "name": name, "queue": queue, "results": statuses})
    else:
        for status in statuses:
            click.echo(status_line(status))
    _exit_unless_succeeded(statuses)


@cli.command()
@click.argument("task_id", metavar="ID")
@broker_option
@json_option
@click.pass_context
def status(ctx: click.Context, task_id: str, broker: str | None, as_json: bool) -> None:
    """Show a task's state, result or error, times and worker (exit 1 if unknown).

    For the id of a group, squad or pipe: its state, counts and every task with its role.
    """
    with arbiter_for(ctx, broker) as arbiter:
        found = arbiter.status(task_id)
    if as_json:
        echo_json(found)
    elif is_plan_status(found):
        _show_plan(found)
    else:
        error = found.get("error")
        rows = [
            ("id", found.get("id")),
            ("name", found.get("name", "-")),
            ("queue", found.get("queue", "-")),
            ("state", found.get("state")),
            ("attempt", found.get("attempt", "-")),
            ("result", json.dumps(found.get("result"), default=repr)),
            ("error", f"{error.get('type')}: {error.get('message')}" if error else "-"),
            ("submitted", when(found.get("submitted_at"))),
            ("started", when(found.get("started_at"))),
            ("finished", when(found.get("finished_at"))),
            ("worker", found.get("worker") or "-"),
        ]
        for key, value in rows:
            click.echo(f"{key + ':':<11}{value}")
        if error and error.get("traceback"):
            click.echo(error["traceback"].rstrip())
    if found.get("state") == "unknown":
        sys.exit(1)


def _show_plan(found: dict[str, Any]) -> None:
    """A group's, squad's or pipe's aggregate status, for a person."""
    counts = (
        f"{found['done']} done ({found['succeeded']} succeeded, {found['failed']} failed), "
        f"{found['running']} running, {found['pending']} pending, of {found['total']}"
    )
    error = found.get("error")
    for key, value in (
        ("id", found["id"]),
        ("kind", found["kind"]),
        ("state", found["state"]),
        ("tasks", counts),
        ("error", f"{error.get('type')}: {error.get('message')}" if error else "-"),
    ):
        click.echo(f"{key + ':':<11}{value}")
    rows = [
        [
            task.get("role", "-"),
            str(task.get("id")),
            str(task.get("name", "-")),
            str(task.get("state")),
            _outcome(task),
        ]
        for task in found["tasks"]
    ]
    click.echo(table(["ROLE", "ID", "NAME", "STATE", "RESULT OR ERROR"], rows, indent=""))


def _outcome(status: dict[str, Any]) -> str:
    error = status.get("error")
    if error:
        return f"{error.get('type')}: {error.get('message')}"
    if status.get("state") == SUCCEEDED:
        return shorten(json.dumps(status.get("result"), default=repr), SHOWN_RESULT)
    return "-"


@cli.command()
@click.argument("task_ids", metavar="ID...", nargs=-1, required=True)
@timeout_option
@broker_option
@json_option
@click.pass_context
def wait(
    ctx: click.Context,
    task_ids: tuple[str, ...],
    timeout: float | None,
    broker: str | None,
    as_json: bool,
) -> None:
    """Wait for tasks to finish and print each result (exit 1 unless all succeeded).

    Shows a progress bar on a terminal; warns when a queue they wait on has no live minion.
    """
    show_warnings()
    ids = list(dict.fromkeys(task_ids))
    with arbiter_for(ctx, broker) as arbiter:
        statuses = _wait(arbiter, ids, timeout)
    if as_json:
        echo_json(statuses)
    else:
        for found in statuses:
            click.echo(status_line(found))
    _exit_unless_succeeded(statuses)


@cli.command()
@click.argument("task_ids", metavar="ID...", nargs=-1, required=True)
@click.option("--wait", "wait_", is_flag=True, help="Return only once every killed task is final.")
@timeout_option
@broker_option
@json_option
@click.pass_context
def kill(
    ctx: click.Context,
    task_ids: tuple[str, ...],
    wait_: bool,
    timeout: float | None,
    broker: str | None,
    as_json: bool,
) -> None:
    """Stop tasks: a queued one never starts, a running one is killed by its minion. The
    id of a group, squad or pipe stops every task of it.

    With --wait, return once they are final (--timeout: exit 1, naming the unfinished
    ids). Exit 1 if some task was unknown or had finished already.
    """
    with arbiter_for(ctx, broker) as arbiter:
        killed = {task_id: arbiter.kill(task_id) for task_id in dict.fromkeys(task_ids)}
        if wait_:  # every kill is sent first, then one wait for them all
            _wait(arbiter, _tasks_of(arbiter, [t for t, ok in killed.items() if ok]), timeout)
    if as_json:
        echo_json(
            {
                "killed": [t for t, ok in killed.items() if ok],
                "not_killed": [t for t, ok in killed.items() if not ok],
            }
        )
    else:
        for task_id, ok in killed.items():
            click.echo(f"{task_id}  {'killed' if ok else 'not killed: unknown or finished'}")
    if not all(killed.values()):
        sys.exit(1)


def _tasks_of(arbiter: Any, ids: list[str]) -> list[str]:
    """The task ids behind ``ids``: a task's own; every recorded task of a group, squad
    or pipe (``Arbiter.status`` lists them)."""
    found: list[str] = []
    for task_id in ids:
        status = arbiter.status(task_id)
        if is_plan_status(status):
            found += [t["id"] for t in status["tasks"] if t["state"] != "unknown"]
        else:
            found.append(task_id)
    return list(dict.fromkeys(found))


@cli.command()
@broker_option
@json_option
@click.pass_context
def workers(ctx: click.Context, broker: str | None, as_json: bool) -> None:
    """List the live workers: queue, host, pid, busy/slots, last beat, uptime, signing."""
    with arbiter_for(ctx, broker) as arbiter:
        found = arbiter.worker_list()
    if answered_early(as_json, [worker.as_dict() for worker in found], found, "no live workers"):
        return
    with_pool = any(worker.pool for worker in found)
    with_counts = any(worker.counts for worker in found)
    with_signing = any(worker.signing is not None for worker in found)
    header = ["ID", "QUEUE", "HOST", "PID", "BUSY/SLOTS", "LAST BEAT", "UPTIME"]
    header += ["POOL"] * with_pool + ["SIGNING"] * with_signing + ["TASKS"] * with_counts
    rows = []
    for worker in found:
        row = [
            worker.id,
            worker.queue,
            worker.host,
            "-" if worker.pid is None else str(worker.pid),
            f"{worker.busy}/{worker.slots}",
            ago(worker.beat_at),
            duration(worker.uptime()),
        ]
        if with_pool:
            row.append(worker.pool or "-")
        if with_signing:
            keys = worker.signing_keys or 0
            row.append("-" if worker.signing is None else f"on ({keys} keys)" if keys else "off")
        if with_counts:
            counts = worker.counts or {}
            row.append(" ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "-")
        rows.append(row)
    click.echo(table(header, rows, indent=""))


@cli.command()
@broker_option
@json_option
@click.pass_context
def queues(ctx: click.Context, broker: str | None, as_json: bool) -> None:
    """List the queues (served, or holding anything): ready, in flight, delayed, dead, consumers."""
    with arbiter_for(ctx, broker) as arbiter:
        found = arbiter.queues()
    document = {name: info.as_dict() for name, info in found.items()}
    if answered_early(
        as_json, document, found, "no queues: nothing is queued and no live worker serves one"
    ):
        return
    header = ["QUEUE", "READY", "IN FLIGHT", "DELAYED", "DEAD", "CONSUMERS"]
    rows = [
        [q.name, str(q.ready), str(q.in_flight), str(q.delayed), str(q.dead), str(q.consumers)]
        for q in found.values()
    ]
    click.echo(table(header, rows, indent=""))


@cli.command()
@click.argument("queue")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@broker_option
@json_option
@click.pass_context
def purge(ctx: click.Context, queue: str, yes: bool, broker: str | None, as_json: bool) -> None:
    """Drop every waiting (ready or delayed) task of QUEUE; running ones are left alone.

    Each dropped task ends in state dead. Asks first, unless --yes.
    """
    with arbiter_for(ctx, broker) as arbiter:
        if not yes:
            waiting = arbiter.queue_info(queue)
            click.confirm(
                f"Drop {waiting.ready + waiting.delayed} waiting task(s) of queue {queue!r}?",
                abort=True,
            )
        dropped = arbiter.purge(queue)
    if as_json:
        echo_json({"queue": queue, "purged": dropped})
    else:
        click.echo(f"purged {dropped} task(s) from queue {queue!r}")


@cli.command()
@broker_option
@json_option
@click.pass_context
def ping(ctx: click.Context, broker: str | None, as_json: bool) -> None:
    """Connect to the broker; print its server version and the round-trip time."""
    with arbiter_for(ctx, broker) as arbiter:
        found = arbiter.ping()
    if as_json:
        echo_json(found.as_dict())
        return
    server = found.server.get("server", "server version unknown")
    click.echo(f"pong from {found.url} ({server}) in {found.round_trip * 1000:.2f} ms")
