"""``arbiter minion APP``: serve the tasks of the Minion an application module defines.

The command only configures logging, finds the Minion
(:func:`~arbiter_core.minion.app_loading.load_minion`) and calls ``Minion.run``;
the banner, the task logs and both shutdowns are the library's.
"""

from __future__ import annotations

import os

import click

from arbiter_core.cli.group import cli
from arbiter_core.cli.log_setup import LOG_FORMATS, LOG_LEVELS, configure_logging
from arbiter_core.config import env_var
from arbiter_core.errors import BrokerError, ConfigurationError
from arbiter_core.masking import mask_url
from arbiter_core.minion.minion import DEFAULT_GRACE, Minion
from arbiter_core.rpc import DEFAULT_RPC_WORKERS

BROKER_VARIABLE = env_var("broker_url")


@cli.command("minion")
@click.argument("app")
@click.option(
    "--queue",
    "-Q",
    metavar="QUEUE",
    default=None,
    help="Serve QUEUE instead of the queue the Minion was built with. A minion serves "
    "one queue: give it once, and start one minion per queue.",
)
@click.option(
    "--workers",
    "-w",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Slots: how many tasks run at once.",
)
@click.option(
    "--pool",
    "-P",
    metavar="NAME",
    default="thread",
    show_default=True,
    help="Worker pool: thread, process, or one a plugin adds (`arbiter plugins` lists them).",
)
@click.option(
    "--broker",
    metavar="URL",
    default=None,
    help=f"Broker URL: sets {BROKER_VARIABLE} before APP is imported, so a Minion built "
    "with no broker of its own uses it. A Minion built on another broker is refused.",
)
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="INFO",
    show_default=True,
    help="Log records below this level are dropped.",
)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="text",
    show_default=True,
    help="Logs on stderr as text lines, or as JSON lines for log shippers.",
)
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    default=DEFAULT_GRACE,
    show_default=True,
    help="On SIGTERM/Ctrl-C, how long running tasks may finish before they are requeued.",
)
@click.option(
    "--rpc-workers",
    type=click.IntRange(min=1),
    metavar="N",
    default=DEFAULT_RPC_WORKERS,
    show_default=True,
    help="Threads that answer the app's RPC functions (@app.rpc), apart from the task slots.",
)
def minion(
    app: str,
    queue: str | None,
    workers: int,
    pool: str,
    broker: str | None,
    log_level: str,
    log_format: str,
    grace: float,
    rpc_workers: int,
) -> None:
    """Serve the tasks of the Minion in APP until SIGTERM or Ctrl-C.

    APP is a module (tasks), module:attribute (tasks:app) or a file path
    (tasks.py, pkg/tasks.py); the current directory is put on sys.path first.
    The banner and one line per task go to stderr. A first SIGTERM or Ctrl-C
    stops pulling and lets running tasks finish within --grace; a second one
    requeues them at once and exits.
    """
    from arbiter_core.minion.app_loading import load_minion  # noqa: PLC0415 - this command only

    configure_logging(log_level, log_format)
    if broker is not None:
        os.environ[BROKER_VARIABLE] = broker
    try:
        app_minion = load_minion(app)
    except (ConfigurationError, BrokerError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        check_broker(app, app_minion, broker)
        _check_pool(app_minion, pool)
        app_minion.run(workers, pool=pool, grace=grace, queue=queue, rpc_workers=rpc_workers)
    except (ConfigurationError, BrokerError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        app_minion.close()


def check_broker(app: str, app_minion: Minion, broker: str | None) -> None:
    """Refuse ``--broker`` when the Minion was built on a broker of its own that differs."""
    if broker is None or app_minion.node.url == mask_url(broker):
        return
    raise click.UsageError(
        f"{app} builds its Minion on {app_minion.node.url}, not on --broker "
        f"{mask_url(broker)}: drop --broker, or build the Minion with no broker "
        f"(Minion(queue=...)) so that {BROKER_VARIABLE}, which --broker sets, decides"
    )


def _check_pool(app_minion: Minion, pool: str) -> None:
    pools = app_minion.registry.pools()
    if pool not in pools:
        installed = ", ".join(sorted(pools)) or "none"
        raise click.BadParameter(
            f"no worker pool named {pool!r}; installed pools: {installed}", param_hint="--pool"
        )
