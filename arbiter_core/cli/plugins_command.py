"""``arbiter plugins``: what is installed, and where each piece came from."""

from __future__ import annotations

import click

from arbiter_core.cli.group import cli, reference, registry_of, table
from arbiter_core.plugins import ENTRY_POINT_GROUP


@cli.command()
@click.pass_context
def plugins(ctx: click.Context) -> None:
    """List every broker URL scheme and worker pool, and the distribution it came from.

    Plugins are found through the "arbiter" entry-point group. A plugin that
    fails to load is listed with its error; the others still work.
    """
    registry = registry_of(ctx)
    schemes = registry.schemes()
    pools = registry.pools()
    click.echo("URL schemes")
    if schemes:
        rows = [
            [f"{s.name}://", s.plugin_name, s.origin, reference(s.factory_ref)]
            for s in sorted(schemes.values(), key=lambda s: s.name)
        ]
        click.echo(table(["SCHEME", "PLUGIN", "DISTRIBUTION", "FACTORY"], rows))
    else:
        click.echo("  (none)")
    click.echo("\nWorker pools")
    if pools:
        rows = [
            [p.name, p.plugin_name, p.origin, reference(p.factory_ref)]
            for p in sorted(pools.values(), key=lambda p: p.name)
        ]
        click.echo(table(["POOL", "PLUGIN", "DISTRIBUTION", "CLASS"], rows))
    else:
        click.echo("  (none)")
    click.echo(f"\nPlugins (entry-point group {ENTRY_POINT_GROUP!r})")
    loaded = registry.plugins()
    if loaded:
        rows = [
            [p.name, p.distribution or "(in code)", p.version or "", ", ".join(p.hooks)]
            for p in loaded
        ]
        click.echo(table(["PLUGIN", "DISTRIBUTION", "VERSION", "HOOKS"], rows))
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
