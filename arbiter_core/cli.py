"""The ``arbiter`` command line: the core's commands (``plugins``, ``config``).

The public package's :mod:`arbiter.cli` adds its own commands to :data:`cli` and
is the console script. Commands take the plugin registry from the click context
object when one is given (tests pass ``obj=PluginRegistry(...)``), else the
installed plugins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from arbiter_core.config import SETTING_NAMES, masked, resolve_settings
from arbiter_core.errors import ConfigurationError
from arbiter_core.plugins import ENTRY_POINT_GROUP, PluginRegistry, default_registry


def _registry(ctx: click.Context) -> PluginRegistry:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, PluginRegistry) else default_registry()


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def _reference(ref: Any) -> str:
    if isinstance(ref, str):
        return ref
    module = getattr(ref, "__module__", None) or "?"
    return f"{module}:{getattr(ref, '__qualname__', repr(ref))}"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="arbiter-tasks", prog_name="arbiter")
def cli() -> None:
    """arbiter: run tasks locally or across workers, through any broker."""


@cli.command()
@click.pass_context
def plugins(ctx: click.Context) -> None:
    """List every broker URL scheme and worker pool, and the distribution it came from.

    Plugins are found through the "arbiter" entry-point group. A plugin that
    fails to load is listed with its error; the others still work.
    """
    registry = _registry(ctx)
    schemes = registry.schemes()
    pools = registry.pools()
    click.echo("URL schemes")
    if schemes:
        rows = [
            [f"{s.name}://", s.plugin_name, s.origin, _reference(s.factory_ref)]
            for s in sorted(schemes.values(), key=lambda s: s.name)
        ]
        click.echo(_table(["SCHEME", "PLUGIN", "DISTRIBUTION", "FACTORY"], rows))
    else:
        click.echo("  (none)")
    click.echo("\nWorker pools")
    if pools:
        rows = [
            [p.name, p.plugin_name, p.origin, _reference(p.factory_ref)]
            for p in sorted(pools.values(), key=lambda p: p.name)
        ]
        click.echo(_table(["POOL", "PLUGIN", "DISTRIBUTION", "CLASS"], rows))
    else:
        click.echo("  (none)")
    click.echo(f"\nPlugins (entry-point group {ENTRY_POINT_GROUP!r})")
    loaded = registry.plugins()
    if loaded:
        rows = [
            [p.name, p.distribution or "(in code)", p.version or "", ", ".join(p.hooks)]
            for p in loaded
        ]
        click.echo(_table(["PLUGIN", "DISTRIBUTION", "VERSION", "HOOKS"], rows))
    else:
        click.echo("  (none)")
    broken = registry.broken()
    if broken:
        click.echo()
        click.secho(
            f"warning: {len(broken)} plugin problem(s); everything listed above still works:",
            fg="yellow",
            bold=True,
        )
        for problem in broken:
            click.secho(
                f"  {problem.name} ({problem.distribution or 'in code'}): {problem.error}",
                fg="yellow",
            )


@cli.command()
def config() -> None:
    """Show the resolved settings and where each came from (secrets masked).

    Order: argument, ARBITER_* environment variable, arbiter.toml or
    [tool.arbiter] in pyproject.toml (working directory), default.
    """
    try:
        resolved = resolve_settings()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    rows = [
        [name, masked(name, getattr(resolved.settings, name)), resolved.sources[name]]
        for name in SETTING_NAMES
    ]
    click.echo(_table(["SETTING", "VALUE", "SOURCE"], rows, indent=""))
