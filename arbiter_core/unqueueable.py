"""A follow-up whose message cannot be queued fails, rather than waits for ever.

A pipe step, a group's callback or finalizer, or a DAG task is recorded ``waiting``
when its plan is made, and its message is built only when it is due: with the
previous result (a pipe), the members' results (a callback) or a dependency's
``result_of`` value (a DAG task) in its arguments. That message can be over a limit
(:class:`~arbiter_core.errors.LimitExceededError`) or fail to encode at all
(:class:`~arbiter_core.errors.SerializationError`), and nothing would ever queue it.
So it ends ``failed`` with that error, and its caller ends what depends on it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from arbiter_core import records
from arbiter_core.errors import SerializationError
from arbiter_core.submission import settle_unrun
from arbiter_core.wire import Envelope

if TYPE_CHECKING:
    from arbiter_core.endpoint import Endpoint

log = logging.getLogger("arbiter.minion")  # follow-ups run on the minions


def fail_unqueueable(endpoint: Endpoint, envelope: Envelope, error: SerializationError) -> bool:
    """End the waiting ``envelope`` ``failed`` with ``error`` (logged at WARNING, where an
    operator looks); False if it had moved on (killed meanwhile, say)."""
    log.warning("task %s (%s) cannot be queued, so it fails: %s", envelope.id, envelope.task, error)
    return settle_unrun(endpoint, envelope, records.FAILED, error)
