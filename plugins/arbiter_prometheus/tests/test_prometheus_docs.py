"""The Python examples of the plugin's README and of docs/operations.md's metrics section,
each run in a fresh process (one exporter per process: counts start at zero) on a free port."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_support import free_port

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
