"""``arbiter top``: a live view of workers, queues, running tasks and recent failures.

The broker is read at most once per ``--interval`` (one second or more): one
registry read and a ``queue_stats`` read per queue, through ``Arbiter.queues()``
(:class:`~arbiter_core.cli.top_view.TopReader`). While it runs, top broadcasts
a ``watch`` control message on each queue it shows every :data:`WATCH_EVERY`
seconds, asking the minions there to beat every second for :data:`WATCH_SECONDS`
seconds; when nobody watches, they fall back to their usual beat. Minions that
do not know the message ignore it.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import click

from arbiter_core import records
from arbiter_core.cli.group import arbiter_for, broker_option, cli
from arbiter_core.errors import BrokerError

if TYPE_CHECKING:
    from arbiter_core.client import Arbiter

WATCH_SECONDS = 10
"""How long one ``watch`` message asks minions to beat every second."""
WATCH_EVERY = 5.0
"""Seconds between two ``watch`` broadcasts: half of :data:`WATCH_SECONDS`, so one lost
broadcast (they are at most once) does not let the beat slow down."""
QUIT_KEYS = frozenset("qQ")


def broadcast_watch(arbiter: Arbiter, queues: Iterable[str]) -> None:
    """Ask the minions of ``queues`` to beat every second, as ``Arbiter.kill`` asks a kill."""
    payload = arbiter.wire.pack({"watch": WATCH_SECONDS}, "control")
    for queue in queues:
        arbiter.node.emit(records.control_event(queue), payload)


@cli.command("top")
@broker_option
@click.option(
    "--queue",
    "queues",
    multiple=True,
    metavar="QUEUE",
    help="Show this queue even when no live worker serves it (repeatable).",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=1.0),
    default=1.0,
    show_default=True,
    help="Seconds between refreshes; at least 1, so top never polls the broker hard.",
)
@click.option(
    "--once", is_flag=True, help="Print one snapshot and exit (also what a non-terminal gets)."
)
@click.pass_context
def top(
    ctx: click.Context, broker: str | None, queues: tuple[str, ...], interval: float, once: bool
) -> None:
    """Watch workers, queues (depth, dead letters, tasks/s) and recent failures; q quits."""
    # rich is imported here, not with the CLI: the other commands stay as cheap to start
    from rich.console import Console  # noqa: PLC0415
    from rich.live import Live  # noqa: PLC0415

    from arbiter_core.cli.top_keys import KeyReader  # noqa: PLC0415
    from arbiter_core.cli.top_view import TopReader, render  # noqa: PLC0415

    console = Console()
    with arbiter_for(ctx, broker) as arbiter:
        reader = TopReader(arbiter, queues)
        if once or not console.is_terminal:
            console.print(render(reader.snapshot()))
            return
        done = threading.Event()

        def on_key(key: str) -> None:
            if key in QUIT_KEYS:
                done.set()

        watched_at = float("-inf")
        try:
            with (
                KeyReader(sys.stdin, on_key),
                Live(console=console, auto_refresh=False, screen=True) as live,
            ):
                while not done.is_set():
                    snapshot = reader.snapshot()
                    if time.monotonic() - watched_at >= WATCH_EVERY:
                        watched_at = time.monotonic()
                        # a broker that is down shows in the snapshot; try again later
                        with contextlib.suppress(BrokerError):
                            broadcast_watch(arbiter, reader.watched_queues(snapshot.workers))
                    live.update(render(snapshot), refresh=True)
                    done.wait(interval)  # a key press ends the wait at once
        except KeyboardInterrupt:
            pass  # Ctrl-C quits like q: the terminal is restored, the exit code is 0
