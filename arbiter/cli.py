"""The ``arbiter`` console script: the core's commands plus ``arbiter demo``."""

from __future__ import annotations

import sys

import click

from arbiter import demo_distributed
from arbiter.demo import main as run_demo
from arbiter_core.cli import cli

__all__ = ["cli", "main"]


@cli.command("demo")
@click.option(
    "--broker",
    metavar="URL",
    default=None,
    help="Run the distributed part against this broker (the Minion in a subprocess) "
    "instead of both parts on the embedded memory://.",
)
def demo_command(broker: str | None) -> None:
    """Show both faces on the embedded default: a local dependency graph, then a Minion
    serving a fan-out/fan-in that an Arbiter applies; with --broker, the second on it."""
    if broker is None:
        run_demo(sys.stdout)
    sys.exit(demo_distributed.run(sys.stdout, broker))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="arbiter")


if __name__ == "__main__":
    main()
