"""Where the metrics endpoint listens, read from the environment when the first minion starts.

==========================  ===========  ==============================================
``ARBITER_PROMETHEUS_PORT``  (unset)      TCP port of ``/metrics`` (9808 is the usual
                                          one); unset or ``0``: no endpoint
``ARBITER_PROMETHEUS_ADDR``  ``127.0.0.1``  address to bind; loopback unless you say so
==========================  ===========  ==============================================

No port is opened unless one is set: installing the plugin counts, and serving is a
decision the operator makes per process (every process that runs a minion would
otherwise try to bind the same port).

Read when the server starts (the first minion of the process), not at import, so a
process can set them before it runs its minion. Loopback by default: metrics name
your tasks and queues, and exposing them is a decision for the operator.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

PORT_VARIABLE = "ARBITER_PROMETHEUS_PORT"
ADDR_VARIABLE = "ARBITER_PROMETHEUS_ADDR"
SUGGESTED_PORT = 9808
"""The port to set when any will do: the one the docs' scrape configuration uses."""
DEFAULT_ADDR = "127.0.0.1"


@dataclass(frozen=True)
class ExporterConfig:
    """``port`` 0 means no endpoint: the metrics are still counted, nothing listens."""

    addr: str = DEFAULT_ADDR
    port: int = 0

    @property
    def enabled(self) -> bool:
        return self.port != 0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ExporterConfig:
        """The configuration in ``environ`` (``os.environ`` by default); ValueError, naming
        the variable, for a port that is no integer in 0-65535."""
        environ = os.environ if environ is None else environ
        raw = environ.get(PORT_VARIABLE, "").strip()
        try:
            port = int(raw) if raw else 0
        except ValueError:
            port = -1
        if not 0 <= port <= 65535:
            raise ValueError(
                f"{PORT_VARIABLE}={raw!r} is not a port: use an integer from 1 to 65535, "
                "or 0 to serve no /metrics endpoint"
            )
        addr = environ.get(ADDR_VARIABLE, "").strip() or DEFAULT_ADDR
        return cls(addr=addr, port=port)
