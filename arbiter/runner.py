"""``arbiter.runner``: the original arbiter's module path for running tasks.

``from arbiter.runner import run_tasks, Result`` works as it did in
invenia/Arbiter; these are the same objects as ``arbiter.run_tasks`` and
``arbiter.Result``. Importing this module loads the local runner (its pools and
tqdm), which a plain ``import arbiter`` does not.
"""

from __future__ import annotations

from arbiter_core.result import Result
from arbiter_local.dag_runner import run_tasks

__all__ = ["Result", "run_tasks"]
