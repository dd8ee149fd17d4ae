"""The package's shape: imports flow one way through the layers, there is no cycle, and the README's
code map names every module.

The layers, bottom to top. A module may import from its own layer's package and from layers below,
never from a layer above, whether the import sits at the top of the file, inside a function or under
``TYPE_CHECKING``. Inside a package, modules import each other without a cycle.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "vaekit"

LAYERS: list[tuple[str, ...]] = [
    ("version", "errors"),  # leaves
    ("config",),  # the declared options, presets and the dataclasses built from them
    ("data",),  # loading, validating and preprocessing users' data
    ("model",),  # pure torch: networks, likelihoods, priors, the VAE modules, posterior maths
    ("io",),  # atomic writes, safetensors, run folders
    ("train",),  # objectives, regularisers, the trainer, its fast step, distributed, evaluation
    ("estimator",),  # vaekit.VAE, the user-facing model
    ("pictures",),  # applications, each on the estimator ...
    ("latent",),
    ("missing_data",),
    ("compression",),
    ("tuning",),
    ("explorer",),
    ("report",),
    ("cli", "__main__"),  # ... and the command line on top
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def imports(name: str, *, with_type_checking: bool) -> set[str]:
    """The vaekit modules that module ``name`` imports (submodules named in ``from X import y`` included)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node) and not with_type_checking:
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "vaekit")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if target.split(".")[0] == "vaekit":
                found.add(target)
                found.update(f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m in MODULES and m != name}


def layer_of(name: str) -> str | None:
    """The top-level part of vaekit a module belongs to (None for the package's facade, ``vaekit``)."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_part_of_the_package_has_a_layer():
    parts = {layer_of(m) for m in MODULES} - {None}
    assert parts <= set(RANK), f"place these in LAYERS: {sorted(parts - set(RANK))}"


def test_imports_flow_down_the_layers():
    wrong = []
    for name in MODULES:
        here = layer_of(name)
        if here is None:
            continue  # the facade re-exports the public API lazily
        for target in imports(name, with_type_checking=True):
            there = layer_of(target)
            if there is None or RANK[there] > RANK[here]:
                wrong.append(f"{name} -> {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def test_no_import_cycle():
    graph = {name: imports(name, with_type_checking=False) for name in MODULES}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for name in sorted(graph):
        if name not in state and (cycle := visit(name)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_the_readme_code_map_names_every_module():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Code map", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"vaekit/[\w/]+\.py", section))
    files = {p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py")}
    assert not files - named, f"modules missing from the README's code map: {sorted(files - named)}"
    assert not named - files, f"the README's code map names modules that do not exist: {sorted(named - files)}"


def test_the_checker_sees_a_wrong_import(tmp_path, monkeypatch):
    """The direction test is not vacuous: a model module importing the estimator is caught."""
    fake = PACKAGE / "model" / "module.py"
    source = fake.read_text() + "\nfrom vaekit.estimator import VAE  # noqa\n"
    monkeypatch.setitem(MODULES, "vaekit.model.module", tmp_path / "module.py")
    (tmp_path / "module.py").write_text(source)
    assert "vaekit.estimator" in imports("vaekit.model.module", with_type_checking=True)


def test_no_part_of_the_package_shadows_a_public_name():
    """``vaekit.impute`` is a function: a sub-package of that name would replace it once imported."""
    import vaekit

    parts = {layer_of(m) for m in MODULES} - {None}
    assert not parts & set(vaekit.__all__)
