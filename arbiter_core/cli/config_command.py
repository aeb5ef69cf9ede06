"""``arbiter config``: the resolved settings, where each came from, secrets masked.

It also checks that an installed plugin serves the broker (and state) URL's scheme,
without connecting: a typo such as ``reddis://`` is an error here, with the
did-you-mean the plugin registry gives, not a surprise when a minion starts.
"""

from __future__ import annotations

import click

from arbiter_core.cli.group import broker_option, cli, registry_of, table
from arbiter_core.config import SETTING_NAMES, masked, resolve_settings
from arbiter_core.errors import ConfigurationError
from arbiter_core.plugins import PluginRegistry
from arbiter_core.plugins.schemes import unknown_scheme, url_scheme


@cli.command()
@broker_option
@click.pass_context
def config(ctx: click.Context, broker: str | None) -> None:
    """Show the resolved settings and where each came from (secrets masked).

    Order: argument (--broker), ARBITER_* environment variable, arbiter.toml or
    [tool.arbiter] in pyproject.toml (working directory), default. Exits 1 if no
    installed plugin serves the broker URL's scheme.
    """
    try:
        resolved = resolve_settings(broker_url=broker)
        registry = registry_of(ctx)
        for name in ("broker_url", "state_url"):
            url = getattr(resolved.settings, name)
            if url is not None:
                _check_scheme(registry, name, url)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    rows = [
        [name, masked(name, getattr(resolved.settings, name)), resolved.sources[name]]
        for name in SETTING_NAMES
    ]
    click.echo(table(["SETTING", "VALUE", "SOURCE"], rows, indent=""))


def _check_scheme(registry: PluginRegistry, setting: str, url: str) -> None:
    scheme = url_scheme(url)
    schemes = registry.schemes()
    if scheme not in schemes:
        raise ConfigurationError(f"{setting}: {unknown_scheme(scheme, schemes, registry.broken())}")
