"""The documents stay true: the README's Python examples run, and every benchmark result names its commit."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vaekit.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

#: The explorer answers one request from a thread, then stops (the page itself is tested in a browser).
SERVE_ONCE = """import threading, urllib.request
threading.Thread(target=server.serve_forever, daemon=True).start()
direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1, never through an http_proxy
assert b"latent_dim" in direct.open(server.url + "api/info", timeout=30).read()
server.shutdown()"""

#: The README's examples train for real lengths; here each runs as written with these shortened. Every
#: pattern must occur in the README (tested), so rewording an example cannot silently skip its substitution.
SHORTER = [
    (r"\bepochs=\d+", "epochs=2"),
    (r'"epochs": \d+', '"epochs": 2'),
    (r"\btrials=\d+", "trials=2"),
    (r"\biw_samples=1000\b", "iw_samples=20"),
    (r"\bm=20\b", "m=3"),
    (r"VAEImputer\(\)", "VAEImputer(epochs=2)"),
    (r'embed\(codes, "tsne"', 'embed(codes, "pca"'),
    (r'write_report\(vae, data, "report\.html"\)', 'write_report(vae, data, "report.html", maps=("pca",))'),
    (r"\bport=8765\b", "port=0"),
    (r"server\.serve_forever\(\)", SERVE_ONCE),
]


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README, flags=re.S | re.M)


def shortened(block: str) -> str:
    for pattern, replacement in SHORTER:
        block = re.sub(pattern, replacement, block)
    return block


def test_the_readme_has_python_examples():
    assert len(python_blocks()) >= 5


@pytest.mark.parametrize("pattern", [pattern for pattern, _ in SHORTER])
def test_every_shortening_applies_to_an_example(pattern):
    assert any(re.search(pattern, block) for block in python_blocks()), f"{pattern!r} occurs in no README example"


@pytest.fixture(scope="module")
def runner():
    """One process that imports torch and friends once, then forks a fresh child per example."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fork_runner.py")], env=env, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    yield process
    process.stdin.close()
    process.wait(timeout=60)


@pytest.mark.parametrize("number", range(1, len(python_blocks()) + 1))
def test_the_readme_python_example_runs_on_its_own(number, tmp_path, runner):
    """Each block runs alone in a fresh process, an empty namespace and an empty folder, as a reader would paste it."""
    block = python_blocks()[number - 1]
    log, folder = tmp_path / "output.log", tmp_path / "example"
    folder.mkdir()
    request = {"code": shortened(block), "cwd": str(folder), "log": str(log), "timeout": 300}
    runner.stdin.write(json.dumps(request) + "\n")
    runner.stdin.flush()
    status = json.loads(runner.stdout.readline())["status"]
    assert status == 0, f"README.md python block {number} failed:\n{block}\n{log.read_text()[-3000:]}"


#: Values for the synopsis's placeholders where the flag checks its value (the others are read as names).
PLACEHOLDERS = {"N": "16", "E": "10", "NATS": "0.5", "C": "25", "B": "6", "K": "2", "U": "0", "I": "0", "J": "7",
                "S": "600", "COL=TYPE": "age=real", "PART": "decoder", "A:B": "100:200"}


def vaekit_commands() -> list[str]:
    """Every ``vaekit`` command line in the README's bash blocks (also after ``&&`` or ``-m``), comments dropped.

    A line ending in a backslash, or an indented line (the synopsis's layout), continues the one before.
    """
    commands = []
    for block in re.findall(r"^ *```bash\n(.*?)^ *```", README, flags=re.S | re.M):
        lines: list[str] = []
        for line in textwrap.dedent(block).replace("\\\n", " ").split("\n"):
            line = line.split("#")[0].rstrip()
            if line[:1].isspace() and lines:
                lines[-1] += " " + line.strip()
            elif line:
                lines.append(line)
        commands += [m[1] for line in lines if (m := re.search(r"(?:^|&&|-m)\s*vaekit\s+(\S.*)$", line))]
    return commands


def argument_lists(command: str) -> list[list[str]]:
    """A synopsis line as command lines to parse: ``[...]`` taken, ``a|b`` each in turn, ``...`` dropped."""
    words = [PLACEHOLDERS.get(w, w) for w in (w.strip("[]") for w in shlex.split(command)) if w and w != "..."]
    first = [w.split("|")[0] if not w.startswith("-") else w for w in words]
    lists = [first]
    for i, word in enumerate(words):
        if "|" in word and not word.startswith("-"):
            lists += [first[:i] + [alternative] + first[i + 1:] for alternative in word.split("|")[1:]]
    return lists


def test_the_readme_shows_every_command():
    commands = vaekit_commands()
    assert len(commands) > 40
    parser_commands = next(a for a in build_parser()._actions if hasattr(a, "choices") and a.dest == "command")
    assert {c.split()[0] for c in commands} == set(parser_commands.choices)


@pytest.mark.parametrize("command", vaekit_commands())
def test_every_readme_command_line_parses(command, capsys):
    """The flags and values the README shows exist (parsing only: nothing runs)."""
    for words in argument_lists(command):
        try:
            build_parser().parse_args(words)
        except SystemExit:
            pytest.fail(f"README: vaekit {' '.join(words)}\n{capsys.readouterr().err}")


def test_every_benchmark_table_names_its_commit():
    lines = (ROOT / "BENCHMARKS.md").read_text().split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith("|") and not lines[i - 1].startswith("|")]
    assert starts
    for i in starts:
        before = "\n".join(lines[max(0, i - 4):i])
        assert re.search(r"commit `[0-9a-f]{7,40}`", before), f"BENCHMARKS.md line {i + 1}: a table without its commit"
