"""Static checks on the project's imports (ast only, nothing is imported, so it is fast).

1. No import cycle between project modules, not even inside a package, and not even through an
   import deferred into a function: a deferred import hides a cycle, it does not remove it.
2. The layers stay apart: nothing under steering/ imports gradio or sqlalchemy (the engine runs
   from the CLI, a notebook or a GPU box without the web stack), nothing under storage/ imports
   torch, transformers or gradio (the store is testable in milliseconds); the dashboard reaches
   the database only through the store (no sqlalchemy), and its presenters, report, shared state
   and API import no gradio.
3. The dashboard's layering, as ``dashboard/__init__.py`` states it: each layer imports only the
   layers below it (``DASHBOARD_MAY_IMPORT``), and outside ``web/`` and ``api/`` only the modules
   those packages publish for the rest of the dashboard (``PUBLISHED``).
``if TYPE_CHECKING:`` imports never run, so the third-party check skips them; the cycle and the
dashboard layering checks count them: two modules that name each other, even only for types, are
one idea split in two, and a type names the layer it comes from as much as a call does.
The checkers are themselves tested on planted violations, so a checker that finds nothing cannot
pass for a tree that has nothing to find.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("steering", "storage", "dashboard")
# Module (or package) -> the third-party packages it must not import.
FORBIDDEN = {
    "steering": {"gradio", "sqlalchemy"},
    "storage": {"torch", "transformers", "gradio"},
    "dashboard": {"sqlalchemy"},
    "dashboard.views": {"gradio"},
    "dashboard.charts": {"gradio"},
    "dashboard.report": {"gradio"},
    "dashboard.common": {"gradio"},
    "dashboard.context": {"gradio"},
    "dashboard.browser_state": {"gradio"},
    "dashboard.api": {"gradio"},
}

# The dashboard's layers (dashboard/__init__.py), each a list of modules or packages.
DASHBOARD_LAYERS = {
    "ui": ("dashboard.ui",),
    "tabs": ("dashboard.tabs",),
    "shared": (  # what several tabs share: actions' helpers, events, evidence panel, reopening
        "dashboard.common",
        "dashboard.events",
        "dashboard.evidence",
        "dashboard.earlier",
        "dashboard.estimates",
        "dashboard.jobs",
        "dashboard.job_watch",
    ),
    "report": ("dashboard.report",),
    "views": ("dashboard.views", "dashboard.charts"),
    "state": ("dashboard.context", "dashboard.browser_state"),
    "web": ("dashboard.web",),
    "api": ("dashboard.api",),
}
# Layer -> the other layers its modules may import (a layer may always import itself).
DASHBOARD_MAY_IMPORT = {
    "ui": {"tabs", "shared", "views", "state"},
    "tabs": {"shared", "report", "views", "state", "web"},
    "shared": {"views", "state", "web"},
    "report": {"views"},
    "views": set(),
    "state": {"api"},
    "web": {"api"},
    "api": {"web"},
}
# What web/ and api/ offer the rest of the dashboard; everything else in them is internal.
PUBLISHED = {
    "dashboard.web": {  # identity and downloads for handlers, the upload box, the error types
        "dashboard.web",
        "dashboard.web.uploads",
        "dashboard.web.download_links",
        "dashboard.web.errors",
    },
    "dashboard.api": {"dashboard.api.host", "dashboard.api.routes"},  # how it reaches models
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


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def third_party_offences(imports: dict[str, set[str]], forbidden: dict[str, set[str]]) -> list[str]:
    """``"a imports b"`` for each import of a forbidden third-party package."""
    offences = []
    for name, names in imports.items():
        banned = set().union(*(v for k, v in forbidden.items() if _within(name, k)))
        offences += [f"{name} imports {i}" for i in sorted(names) if i.split(".")[0] in banned]
    return sorted(offences)


def dashboard_layer(name: str) -> str | None:
    """The layer a dashboard module belongs to (None: the package itself, or not the dashboard)."""
    for layer, members in DASHBOARD_LAYERS.items():
        if any(_within(name, member) for member in members):
            return layer
    return None


def layering_offences(graph: dict[str, set[str]]) -> list[str]:
    """Each import in ``graph`` that goes against the dashboard's layering, with the rule."""
    offences = []
    for name, targets in sorted(graph.items()):
        source = dashboard_layer(name)
        if source is None:
            continue
        for target in sorted(targets):
            layer = dashboard_layer(target)
            if layer is None or layer == source:
                continue
            if layer not in DASHBOARD_MAY_IMPORT[source]:
                offences.append(f"{name} imports {target}: {source} may not import {layer}")
                continue
            for package, published in PUBLISHED.items():
                if _within(target, package) and not _within(name, package):
                    if target not in published:
                        offences.append(f"{name} imports {target}: internal to {package}")
    return offences


def test_the_checkers_find_planted_violations():
    planted = {
        "dashboard.views.compare": {"dashboard.tabs.compare", "dashboard.charts"},
        "dashboard.report": {"dashboard.tabs.downloads", "dashboard.views.compare"},
        "dashboard.tabs.build": {"dashboard.web.sessions", "dashboard.web.uploads"},
        "dashboard.context": {"dashboard.api.host", "dashboard.views.common"},
        "dashboard.web.gate": {"dashboard.context", "dashboard.web.auth"},
        "app": {"dashboard.web.server"},  # the wiring is outside the layers
    }
    assert layering_offences(planted) == [
        "dashboard.context imports dashboard.views.common: state may not import views",
        "dashboard.report imports dashboard.tabs.downloads: report may not import tabs",
        "dashboard.tabs.build imports dashboard.web.sessions: internal to dashboard.web",
        "dashboard.views.compare imports dashboard.tabs.compare: views may not import tabs",
        "dashboard.web.gate imports dashboard.context: web may not import state",
    ]
    imports = {
        "steering.build": {"gradio.Blocks", "torch"},
        "storage.files": {"transformers.AutoModel"},
        "dashboard.views.audit": {"gradio", "pandas"},
        "dashboard.tabs.audit": {"gradio", "sqlalchemy.select"},
    }
    assert third_party_offences(imports, FORBIDDEN) == [
        "dashboard.tabs.audit imports sqlalchemy.select",
        "dashboard.views.audit imports gradio",
        "steering.build imports gradio.Blocks",
        "storage.files imports transformers.AutoModel",
    ]


def test_every_dashboard_module_has_a_layer():
    loose = [
        name
        for name in project_modules()
        if _within(name, "dashboard") and name != "dashboard" and dashboard_layer(name) is None
    ]
    assert not loose, f"give these a layer in DASHBOARD_LAYERS: {loose}"


def test_the_dashboard_keeps_its_layering():
    offences = layering_offences(project_graph(type_checking=True))
    assert not offences, "\n".join(offences)


@pytest.mark.parametrize("prefix", sorted(FORBIDDEN))
def test_layers_do_not_import_what_they_must_not(prefix):
    imports = {
        name: imported_names(name, path)
        for name, path in project_modules().items()
        if _within(name, prefix)
    }
    assert imports, f"no module under {prefix}"
    offences = third_party_offences(imports, {prefix: FORBIDDEN[prefix]})
    assert not offences, "\n".join(offences)
