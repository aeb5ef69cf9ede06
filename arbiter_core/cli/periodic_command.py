"""``arbiter periodic``: the periodic tasks, with their schedule and their last and next run.

A thin layer over :func:`~arbiter_core.periodic.periodic_tasks`: the live minions
publish what they fire, so no app is needed; ``--app APP`` adds that app's own
periodic tasks (listed even while no minion runs).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import click

from arbiter_core.cli.group import answered_early, arbiter_for, broker_option, cli, json_option
from arbiter_core.cli.group import table as text_table
from arbiter_core.cli.inspect_commands import duration, when
from arbiter_core.cli.minion_command import BROKER_VARIABLE, check_broker
from arbiter_core.endpoint import Endpoint
from arbiter_core.errors import BrokerError, ConfigurationError
from arbiter_core.periodic import PeriodicInfo, periodic_tasks


@cli.command("periodic")
@click.option(
    "--app",
    "app",
    metavar="APP",
    default=None,
    help="Also list the periodic tasks of the Minion in APP (as `arbiter minion APP` "
    "finds it), even if no minion runs.",
)
@broker_option
@json_option
@click.pass_context
def periodic(ctx: click.Context, app: str | None, broker: str | None, as_json: bool) -> None:
    """List the periodic tasks: schedule, queue, missed policy, last and next run.

    The tasks are those the live minions fire (each publishes its table in its
    heartbeat), plus those of --app. Each tick fires once across all minions.
    """
    if app is None:
        with arbiter_for(ctx, broker) as arbiter:
            found = _listed(arbiter)
    else:
        with _app_minion(app, broker) as app_minion:
            found = _listed(app_minion)
    document = [info.as_dict() for info in found]
    if answered_early(as_json, document, found, "no periodic tasks: no live minion fires any"):
        return
    header = ["NAME", "SCHEDULE", "QUEUE", "MISSED", "LAST RUN", "NEXT RUN", "MINIONS"]
    now = time.time()
    rows = [
        [
            info.name,
            info.schedule,
            info.queue,
            info.missed,
            "never" if info.last_tick is None else when(info.last_tick),
            _next(info, now),
            str(info.minions),
        ]
        for info in found
    ]
    click.echo(text_table(header, rows, indent=""))


def _listed(endpoint: Endpoint) -> list[PeriodicInfo]:
    try:
        return periodic_tasks(endpoint)
    except (ConfigurationError, BrokerError) as exc:
        raise click.ClickException(str(exc)) from exc


def _next(info: PeriodicInfo, now: float) -> str:
    if info.next_tick is None:
        return "?"
    return f"{when(info.next_tick)} (in {duration(max(0.0, info.next_tick - now))})"


@contextmanager
def _app_minion(app: str, broker: str | None) -> Iterator[Endpoint]:
    """The Minion of ``app``, loaded with ``--broker`` as its configured broker, closed after."""
    from arbiter_core.minion.app_loading import load_minion  # noqa: PLC0415 - --app only

    saved = os.environ.get(BROKER_VARIABLE)
    if broker is not None:
        os.environ[BROKER_VARIABLE] = broker
    try:
        app_minion = load_minion(app)
    except (ConfigurationError, BrokerError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        if broker is not None:  # only while loading: a command leaves the environment be
            if saved is None:
                os.environ.pop(BROKER_VARIABLE, None)
            else:
                os.environ[BROKER_VARIABLE] = saved
    try:
        check_broker(app, app_minion, broker)
        yield app_minion
    finally:
        app_minion.close()
