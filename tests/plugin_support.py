"""Fake installed plugin distributions for the plugin tests (not a test module itself).

A distribution here is what pip leaves behind: a ``NAME-VERSION.dist-info``
folder with ``METADATA`` and ``entry_points.txt`` beside the plugin's modules, so
``importlib.metadata`` finds it exactly as it finds a real install.
"""

from __future__ import annotations

import importlib.metadata
import textwrap
import uuid
from pathlib import Path


def unique_module(prefix: str) -> str:
    """A module name no other test uses (imports are cached process-wide)."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def make_distribution(
    site: Path,
    name: str,
    version: str,
    entry_points: dict[str, str],
    modules: dict[str, str],
) -> None:
    """Install a fake distribution into the folder ``site`` (meant to be on sys.path)."""
    site.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    dist_info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )
    lines = ["[arbiter]", *(f"{ep} = {target}" for ep, target in entry_points.items())]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def arbiter_entry_points(site: Path) -> list[importlib.metadata.EntryPoint]:
    """The ``arbiter`` entry points of the distributions in ``site`` only, by distribution name."""
    dists = sorted(
        importlib.metadata.distributions(path=[str(site)]), key=lambda d: d.metadata["Name"]
    )
    return [ep for dist in dists for ep in dist.entry_points if ep.group == "arbiter"]
