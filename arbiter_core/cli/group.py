"""The ``arbiter`` click group and what its commands share: registry, options, output.

Commands take the plugin registry from the click context object when one is given
(tests pass ``obj=PluginRegistry(...)``), else the installed plugins.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence, Sized
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from arbiter_core.errors import BrokerError, ConfigurationError
from arbiter_core.plugins import PluginRegistry, default_registry

if TYPE_CHECKING:
    from arbiter_core.client import Arbiter


def registry_of(ctx: click.Context) -> PluginRegistry:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, PluginRegistry) else default_registry()


def table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def reference(ref: Any) -> str:
    if isinstance(ref, str):
        return ref
    module = getattr(ref, "__module__", None) or "?"
    return f"{module}:{getattr(ref, '__qualname__', repr(ref))}"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="arbiter-tasks", prog_name="arbiter")
def cli() -> None:
    """arbiter: run tasks locally or across workers, through any broker."""


broker_option = click.option(
    "--broker",
    "broker",
    metavar="URL",
    default=None,
    help="Broker URL; overrides ARBITER_BROKER_URL and the configuration files.",
)
"""``--broker URL``: every command that talks to a broker takes it."""

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (one document) instead of a table."
)
"""``--json``: every inspection command prints machine-readable output with it."""


def echo_json(data: Any) -> None:
    """Print ``data`` as one JSON document (what ``--json`` prints)."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


@contextmanager
def arbiter_for(ctx: click.Context, broker: str | None) -> Iterator[Arbiter]:
    """An Arbiter on ``broker`` (or the configured one), closed after the command.

    A configuration or broker error becomes a one-line ``click`` error (exit 1),
    not a traceback.
    """
    from arbiter_core.client import Arbiter  # noqa: PLC0415 - only commands that need it

    try:
        arbiter = Arbiter(broker, registry=registry_of(ctx))
    except (ConfigurationError, BrokerError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        yield arbiter
    except (ConfigurationError, BrokerError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        arbiter.close()


def answered_early(as_json: bool, document: Any, found: Sized, empty: str) -> bool:
    """The start every listing command shares: with ``--json`` print ``document``; with
    nothing ``found`` print ``empty``. True when that was the whole answer."""
    if as_json:
        echo_json(document)
        return True
    if not found:
        click.echo(empty)
        return True
    return False
