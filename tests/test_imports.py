"""Static checks on the project's imports (ast only, nothing is imported, so it is fast).

1. No import cycle between project modules, not even inside a package, and not even through an
   import deferred into a function: a deferred import hides a cycle, it does not remove it.
2. The layers stay apart: nothing under steering/ imports gradio or sqlalchemy (the engine runs
   from the CLI, a notebook or a GPU box without the web stack), nothing under storage/ imports
   torch, transformers or gradio (the store is testable in milliseconds).
``if TYPE_CHECKING:`` imports never run, so the layer check skips them; the cycle check counts
them: two modules that name each other, even only for types, are one idea split in two.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("steering", "storage", "dashboard")
FORBIDDEN = {
    "steering": {"gradio", "sqlalchemy"},
    "storage": {"torch", "transformers", "gradio"},
}


def project_modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project packages and app.py."""
    modules = {"app": ROOT / "app.py"} if (ROOT / "app.py").exists() else {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST, type_checking: bool) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if not type_checking and isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def imported_names(name: str, path: Path, *, type_checking: bool = False) -> set[str]:
    """Every dotted name the module imports.

    ``import a.b`` gives ``a.b``; ``from a.b import c`` gives ``a.b.c`` (a submodule, or a name
    defined in ``a.b``: the graph tells which); relative imports are resolved against ``name``.
    """
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8")), type_checking):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        if node.level:  # relative: resolve against this module's package
            base = name.split(".")
            base = base if is_package else base[:-1]
            base = base[: len(base) - (node.level - 1)]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def project_graph(*, type_checking: bool = True) -> dict[str, set[str]]:
    """Module -> the project modules it imports.

    ``from a import b`` depends on the submodule ``a.b`` when there is one (importing it runs the
    package ``a`` too, but a package's own submodules may do that while it initialises), and on
    ``a`` itself when ``b`` is a name defined there.
    """
    modules = project_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for imported in imported_names(name, path, type_checking=type_checking):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported:
                edges.add(imported)
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None (depth-first search, white/grey/black)."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_reports_a_cycle_and_accepts_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_imported_names_resolve_relative_and_skip_type_checking(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import models\n"
        "from .store import Store\n"
        "def later():\n    import gradio\n"
        "if TYPE_CHECKING:\n    import torch\n"
    )
    (package / "__init__.py").write_text(source)
    (package / "cli.py").write_text(source)
    expected = {"typing.TYPE_CHECKING", "pkg.models", "pkg.store.Store", "gradio"}
    assert imported_names("pkg", package / "__init__.py") == expected
    assert imported_names("pkg.cli", package / "cli.py") == expected
    assert "torch" in imported_names("pkg", package / "__init__.py", type_checking=True)


def test_no_import_cycle():
    cycle = find_cycle(project_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_do_not_import_what_they_must_not(package):
    offenders = []
    for name, path in project_modules().items():
        if name.split(".")[0] != package:
            continue
        for imported in imported_names(name, path):
            if imported.split(".")[0] in FORBIDDEN[package]:
                offenders.append(f"{name} imports {imported}")
    assert not offenders, "\n".join(sorted(offenders))
