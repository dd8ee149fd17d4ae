"""The documents stay true: the README's Python examples run, and every benchmark result names its commit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

#: The README's examples train for real lengths; here they run as written with these shortened.
SHORTER = [
    (r"\bepochs=\d+", "epochs=2"),
    (r"\btrials=\d+", "trials=2"),
    (r"\biw_samples=1000\b", "iw_samples=20"),
    (r"\bm=20\b", "m=3"),
    (r'"mnist5k"', '"digits"'),
    (r"server\.serve_forever\(\)", "server.server_close()"),  # the page itself is tested in a browser
]


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README, flags=re.S | re.M)


def test_the_readme_has_python_examples():
    assert len(python_blocks()) >= 5


@pytest.mark.slow
def test_the_readme_python_examples_run_in_order(tmp_path, monkeypatch):
    """Each block continues the previous ones' session, as a reader would paste them into one interpreter."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme"}
    for number, block in enumerate(python_blocks(), 1):
        code = block
        for pattern, replacement in SHORTER:
            code = re.sub(pattern, replacement, code)
        try:
            exec(compile(code, f"README.md python block {number}", "exec"), namespace)
        except Exception as err:
            pytest.fail(f"README.md python block {number} failed: {type(err).__name__}: {err}\n{block}")


def test_every_benchmark_table_names_its_commit():
    lines = (ROOT / "BENCHMARKS.md").read_text().split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith("|") and not lines[i - 1].startswith("|")]
    assert starts
    for i in starts:
        before = "\n".join(lines[max(0, i - 4):i])
        assert re.search(r"commit `[0-9a-f]{7,40}`", before), f"BENCHMARKS.md line {i + 1}: a table without its commit"
