"""The ``/metrics`` HTTP endpoint: one per process, shared by its minions, refcounted.

A process has one port to offer, so every minion running in it shares one server:
the first minion to start binds it, the last to stop closes it (a minion that
stops and starts again in the same process gets a fresh bind, after reading the
configuration again). A port already in use is logged as a warning and the minion
runs on without an endpoint: metrics must never stop the work.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from collections.abc import Mapping
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from arbiter_prometheus.config import PORT_VARIABLE, ExporterConfig

log = logging.getLogger("arbiter.prometheus")


class _Server(ThreadingMixIn, WSGIServer):
    """One thread per scrape, so a slow scraper never holds up another."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """Scrapes are not logged on stderr (wsgiref logs every request by default)."""

    def log_message(self, format: str, *args: object) -> None:
        pass


class MetricsServer:
    """Serves ``registry`` while at least one minion holds it (:meth:`acquire`)."""

    def __init__(
        self, registry: CollectorRegistry, environ: Mapping[str, str] | None = None
    ) -> None:
        self.registry = registry
        self.environ = environ
        self._lock = threading.Lock()
        self._holders: set[str] = set()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._wake: tuple[int, int] | None = None

    @property
    def address(self) -> tuple[str, int] | None:
        """``(host, port)`` being served, or None."""
        httpd = self._httpd
        if httpd is None:
            return None
        host, port = httpd.server_address[:2]
        return str(host), int(port)

    def acquire(self, holder: str) -> None:
        """``holder`` (a worker id) needs the endpoint; the first holder starts it.

        Raises ValueError for a malformed configuration (the hook caller logs it).
        """
        with self._lock:
            first = not self._holders
            self._holders.add(holder)
            if first:
                self._start(ExporterConfig.from_environ(self.environ))

    def release(self, holder: str) -> None:
        """``holder`` is done; the last one stops the endpoint. Unknown holders are ignored."""
        with self._lock:
            if holder not in self._holders:
                return
            self._holders.discard(holder)
            if not self._holders:
                self._stop()

    def _start(self, config: ExporterConfig) -> None:
        if not config.enabled:
            log.info("metrics: %s is not set (or 0): no /metrics endpoint", PORT_VARIABLE)
            return
        try:
            httpd = make_server(
                config.addr,
                config.port,
                make_wsgi_app(self.registry),
                server_class=_Server,
                handler_class=_QuietHandler,
            )
        except OSError as exc:
            log.warning(
                "metrics: cannot listen on %s:%d (%s); running without /metrics "
                "(set %s to a free port, or 0)",
                config.addr,
                config.port,
                exc,
                PORT_VARIABLE,
            )
            return
        self._httpd = httpd
        self._wake = os.pipe()
        self._thread = threading.Thread(
            target=_serve, args=(httpd, self._wake[0]), name="arbiter-prometheus-http", daemon=True
        )
        self._thread.start()
        log.info("metrics: serving http://%s:%d/metrics", config.addr, config.port)

    def _stop(self) -> None:
        httpd, thread, wake = self._httpd, self._thread, self._wake
        self._httpd = self._thread = self._wake = None
        if httpd is None or wake is None:
            return
        os.write(wake[1], b"x")  # the serving thread leaves at once: no shutdown poll
        if thread is not None:
            thread.join()
        httpd.server_close()
        for end in wake:
            os.close(end)


def _serve(httpd: _Server, wake: int) -> None:
    """Accept scrapes until ``wake`` is written to.

    Not ``serve_forever``: it notices a shutdown only every half second, and a stopping
    minion would wait for that. Here one ``select`` waits for either a connection or
    the wake-up, with no timeout.
    """
    while True:
        ready, _, _ = select.select([httpd.socket.fileno(), wake], [], [])
        if wake in ready:
            return
        httpd.handle_request()  # the socket is readable: accepts without waiting
