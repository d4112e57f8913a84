"""Only the four settings modules read the environment.

Every module of ``steering/``, ``storage/``, ``dashboard/`` and ``app.py`` is parsed with ``ast``;
any other module that reads ``os.environ`` / ``os.getenv`` (an attribute, its ``.get``, a
subscript, ``from os import environ``, under any alias of ``os``) fails the test. Writing a
variable for a library (``os.environ["GRADIO_TEMP_DIR"] = ...``) is an assignment, not a read, and
is allowed wherever it is. The checker itself is tested on planted reads, so that a checker that
finds nothing cannot pass for a tree that reads nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("steering", "storage", "dashboard")
SETTINGS_MODULES = {
    "steering/settings.py",
    "storage/settings.py",
    "dashboard/web/settings.py",
    "dashboard/api/settings.py",
}
READERS = {"environ", "environb", "getenv", "getenvb"}


def environment_reads(source: str) -> list[str]:
    """Each read of the environment in ``source``, as ``line N: what``."""
    tree = ast.parse(source)
    os_names: set[str] = set()
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "os":
                    os_names.add(alias.asname or "os")
                elif alias.name.startswith("os."):
                    os_names.add("os")  # import os.path binds the name os
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            for alias in node.names:
                if alias.name in READERS or alias.name == "*":
                    found.append(f"line {node.lineno}: from os import {alias.name}")
    written = {
        id(target.value)
        for node in ast.walk(tree)
        for target in _assigned(node)
        if isinstance(target, ast.Subscript)
    }
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in READERS
            and isinstance(node.value, ast.Name)
            and node.value.id in os_names
            and id(node) not in written
        ):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    return sorted(found)


def _assigned(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        return list(node.targets)
    if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        # x += ... reads before writing; only a plain annotated assignment is a pure write.
        return [node.target] if isinstance(node, ast.AnnAssign) else []
    return []


def production_modules() -> list[Path]:
    files = [ROOT / "app.py"]
    for package in PACKAGES:
        files.extend(sorted((ROOT / package).rglob("*.py")))
    return files


def test_the_settings_modules_exist():
    for name in SETTINGS_MODULES:
        assert (ROOT / name).is_file(), name


def test_no_other_module_reads_the_environment():
    offenders = {}
    for path in production_modules():
        name = path.relative_to(ROOT).as_posix()
        if name in SETTINGS_MODULES:
            continue
        reads = environment_reads(path.read_text(encoding="utf-8"))
        if reads:
            offenders[name] = reads
    assert offenders == {}, "read the environment in a settings module instead"


def test_the_settings_modules_are_where_the_reads_are():
    # Sanity: the scan sees the real reads, so an empty result above means something.
    readers = {
        name
        for name in SETTINGS_MODULES
        if environment_reads((ROOT / name).read_text(encoding="utf-8"))
    }
    assert readers == {"steering/settings.py", "storage/settings.py"}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import os\nx = os.environ.get('A')\n", ["line 2: os.environ"]),
        ("import os\nx = os.environ['A']\n", ["line 2: os.environ"]),
        ("import os\nx = os.getenv('A', 'b')\n", ["line 2: os.getenv"]),
        ("import os as system\nx = system.environ\n", ["line 2: system.environ"]),
        ("import os.path\nx = dict(os.environ)\n", ["line 2: os.environ"]),
        ("from os import environ\n", ["line 1: from os import environ"]),
        ("from os import getenv as g\n", ["line 1: from os import getenv"]),
        ("from os import *\n", ["line 1: from os import *"]),
        ("def f():\n    import os\n    return 'A' in os.environ\n", ["line 3: os.environ"]),
        ("import os\nos.environ.setdefault('A', '1')\n", ["line 2: os.environ"]),
        ("import os\nos.environ['A'] += 'x'\n", ["line 2: os.environ"]),
        ("import os\nos.environ['GRADIO_TEMP_DIR'] = '/tmp/x'\n", []),
        ("import os\nos.path.join('a', 'b')\n", []),
        ("environ = {}\nx = environ.get('A')\n", []),  # not the os module's
    ],
)
def test_the_checker_finds_each_kind_of_read(source, expected):
    assert environment_reads(source) == expected
