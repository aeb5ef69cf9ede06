"""``import arbiter`` stays cheap: the embedded backend and tqdm load on first use only.

Each check runs in a fresh interpreter, since this test process has long imported both.
"""

from __future__ import annotations

import json
import subprocess
import sys

LAZY = ("arbiter_local", "tqdm")
"""Modules ``import arbiter`` must not load: what only a local run or memory:// needs."""


def run(code: str) -> object:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_import_arbiter_loads_neither_the_local_backend_nor_tqdm() -> None:
    loaded = run(
        "import json, sys\n"
        "import arbiter\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.partition('.')[0] in {LAZY!r})))"
    )
    assert loaded == []


def test_the_embedded_names_still_import_and_are_listed() -> None:
    found = run(
        "import json\n"
        "import arbiter\n"
        "from arbiter import MemoryEventNode, run_tasks\n"
        "from arbiter_local.dag_runner import run_tasks as real_run_tasks\n"
        "from arbiter_local.memory import MemoryEventNode as RealNode\n"
        "print(json.dumps([\n"
        "    run_tasks is real_run_tasks,\n"
        "    MemoryEventNode is RealNode,\n"
        "    arbiter.MemoryEventNode is RealNode,\n"
        "    {'run_tasks', 'MemoryEventNode'} <= set(arbiter.__all__),\n"
        "    {'run_tasks', 'MemoryEventNode'} <= set(dir(arbiter)),\n"
        "]))"
    )
    assert found == [True] * 5


def test_a_local_run_after_a_plain_import_works() -> None:
    value = run(
        "import json\n"
        "import arbiter\n"
        "results = arbiter.run_tasks([arbiter.create_task('t', sum, args=([1, 2],))])\n"
        "print(json.dumps(results['t'].value))"
    )
    assert value == 3


def test_star_import_resolves_the_lazy_names() -> None:
    assert run("import json\nfrom arbiter import *\nprint(json.dumps(callable(run_tasks)))")


def test_a_redis_minion_loads_no_dag_runner_no_tqdm_and_no_process_pool() -> None:
    """Reading the plugins imports ``arbiter_local.plugin``, and so the package; the
    package itself imports nothing more until a name of it is used."""
    loaded = run(
        "import json, sys\n"
        "import arbiter\n"
        "arbiter.default_registry().schemes()\n"
        "app = arbiter.Minion('memory://')\n"
        "wanted = ('tqdm', 'arbiter_local.dag_runner', 'arbiter_local.process_pool')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(wanted))))"
    )
    assert loaded == []
