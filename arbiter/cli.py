"""The ``arbiter`` console script: the core's commands plus ``arbiter demo``."""

from __future__ import annotations

import sys

from arbiter.demo import main as run_demo
from arbiter_core.cli import cli

__all__ = ["cli", "main"]


@cli.command("demo")
def demo_command() -> None:
    """Run a small dependency graph on the embedded default and print the results."""
    sys.exit(run_demo(sys.stdout))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="arbiter")


if __name__ == "__main__":
    main()
