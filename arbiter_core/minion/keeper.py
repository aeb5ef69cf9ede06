"""The keeper: renews in-flight leases and the worker's heartbeat every third of a lease.

This is what keeps a long task from being run twice (its lease never runs out
while its worker is alive) and what lets a crashed worker's tasks come back
within one lease period (nobody renews them any more).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from arbiter_core.minion.worker import Worker

log = logging.getLogger("arbiter.minion")


class Keeper:
    """A daemon thread that beats until stopped; a broker error skips one beat, not all."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.interval = worker.settings.lease / 3
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="arbiter-keeper", daemon=True)
        self.started_at = time.time()

    def start(self) -> None:
        self.beat()  # registered before the first task is pulled
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()

    def beat(self) -> None:
        worker = self.worker
        node = worker.node
        leased = worker.leased()
        if leased:
            held = node.renew(leased, worker.settings.lease)
            lost = [d for d, ok in zip(leased, held, strict=True) if not ok]
            if lost:  # a task that finished and was acked meanwhile is not lost
                still_running = {d.receipt for d in worker.leased()}
                for delivery in lost:
                    if delivery.receipt in still_running:
                        log.warning(
                            "lost the lease of message %s: it may run twice (the final "
                            "state is written once)",
                            delivery.message_id,
                        )
        node.heartbeat(worker.minion.worker_id, self.info(), ttl=worker.settings.lease)
        worker.describe_running()

    def info(self) -> bytes:
        """What ``Arbiter.workers()`` shows: queue, slots, busy slots, tasks, host, pid."""
        worker = self.worker
        return json.dumps(
            {
                "id": worker.minion.worker_id,
                "queue": worker.queue,
                "slots": worker.slots,
                "busy": worker.busy(),
                "tasks": sorted(worker.minion.tasks),
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "started_at": self.started_at,
            }
        ).encode()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                self.beat()
            except Exception:  # a broker hiccup: try again next beat, the lease has slack
                log.exception("keeper beat failed")
