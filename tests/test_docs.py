"""Every ```python block in README.md and docs/*.md runs, in order, one namespace per file.

A block marked ```python skip-doctest is not run; use it only for code that cannot run
here (and say why next to it).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```python[ \t]*(?P<info>[^\n]*)\n(?P<code>.*?)^```", re.S | re.M)


def python_blocks(path: Path) -> list[tuple[int, str]]:
    text = path.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        if "skip-doctest" in match.group("info"):
            continue
        line = text.count("\n", 0, match.start()) + 2
        blocks.append((line, match.group("code")))
    return blocks


@pytest.mark.parametrize("path", DOCS, ids=[p.relative_to(ROOT).as_posix() for p in DOCS])
def test_doc_code_blocks_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = python_blocks(path)
    if path.name == "README.md":
        assert blocks, "the README lost its examples"
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"doc_{path.stem}"}
    for line, code in blocks:
        compiled = compile(code, f"{path.name}:{line}", "exec")
        exec(compiled, namespace)
