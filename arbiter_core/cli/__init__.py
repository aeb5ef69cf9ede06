"""The ``arbiter`` command line: one module per command (or command group).

Every command is a thin layer over the public API; the logic lives in the library.
Importing this package attaches every command to :data:`cli`; the public package's
:mod:`arbiter.cli` adds ``demo`` and is the console script.
"""

from arbiter_core.cli import (
    config_command,
    dead_letter_commands,
    inspect_commands,
    minion_command,
    periodic_command,
    plugins_command,
    top_command,
)
from arbiter_core.cli.group import cli

__all__ = [
    "cli",
    "config_command",
    "dead_letter_commands",
    "inspect_commands",
    "minion_command",
    "periodic_command",
    "plugins_command",
    "top_command",
]
