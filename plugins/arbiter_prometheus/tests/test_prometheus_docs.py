"""The Python examples of the plugin's README and of docs/operations.md's metrics section,
each run in a fresh process (one exporter per process: counts start at zero) on a free port."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_support import free_port, serving, wait_until

PLUGIN = Path(__file__).resolve().parent.parent
ROOT = PLUGIN.parent.parent
FENCE = re.compile(r"^```python[^\n]*\n(?P<code>.*?)^```", re.S | re.M)
EXPECTED = '[\'arbiter_tasks_total{outcome="succeeded",queue="default",task="add"} 3.0\']'


def metrics_section(text: str) -> str:
    start = text.index("## Metrics: the Prometheus plugin")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def examples() -> list[tuple[str, str]]:
    readme = (PLUGIN / "README.md").read_text(encoding="utf-8")
    operations = metrics_section((ROOT / "docs" / "operations.md").read_text(encoding="utf-8"))
    found = [
        (f"{name}:{n}", match.group("code"))
        for name, text in (("README.md", readme), ("operations.md", operations))
        for n, match in enumerate(FENCE.finditer(text))
    ]
    assert {name.partition(":")[0] for name, _ in found} == {"README.md", "operations.md"}
    return found


@pytest.mark.parametrize(("name", "code"), examples(), ids=[name for name, _ in examples()])
def test_the_example_prints_what_it_says(name: str, code: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARBITER_")}
    env["ARBITER_PROMETHEUS_PORT"] = str(free_port())
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == EXPECTED
    assert f"# {EXPECTED}" in code  # the comment shows what it prints


TASKS = """
from arbiter import Minion

app = Minion()


@app.task(name="add")
def add(x, y):
    return x + y
"""


def console_lines() -> list[str]:
    text = metrics_section((ROOT / "docs" / "operations.md").read_text(encoding="utf-8"))
    block = text[text.index("```console") : text.index("```", text.index("```console") + 3)]
    return [line[2:] for line in block.splitlines() if line.startswith("$ ")]


def test_the_console_lines_run_as_written(tmp_path: Path) -> None:
    """``pip install`` is the very line ``.ci/run`` installs the plugin with; the others
    run here as written, the port moved to a free one, against a minion on memory://."""
    install, plugins, minion, curl = console_lines()
    assert install == "pip install ./plugins/arbiter_prometheus"
    assert f"pip install --quiet {install.split()[-1]}" in (ROOT / ".ci" / "run").read_text()
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARBITER_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    listed = subprocess.run(
        shlex.split(plugins), env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"^ *prometheus +arbiter-prometheus ", listed.stdout, re.M), listed.stdout
    (tmp_path / "tasks.py").write_text(TASKS, encoding="utf-8")
    port = str(free_port())
    assignment, *argv = shlex.split(minion.replace("9808", port))
    name, _, value = assignment.partition("=")
    served = subprocess.Popen(
        argv, cwd=tmp_path, env={**env, name: value}, stderr=subprocess.PIPE, text=True
    )
    try:
        assert wait_until(lambda: serving(int(port)), timeout=30), "no /metrics"
        scraped = subprocess.run(
            shlex.split(curl.replace("9808", port)),
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert scraped.returncode == 0, scraped.stderr
        assert 'arbiter_live_workers{namespace="arbiter"} 1.0' in scraped.stdout
        assert "arbiter_broker_up" in scraped.stdout
    finally:
        served.send_signal(signal.SIGTERM)
        _, stderr = served.communicate(timeout=30)
    assert served.returncode == 0, stderr
