"""The public ``steering`` namespace: cheap to import, every name resolves, the README runs."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import steering

ROOT = Path(__file__).resolve().parents[2]


def readme_notebook_code() -> str:
    """The Python block under the README's "In a notebook" heading, exactly as written."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"## In a notebook\s+```python\n(.*?)```", text, re.DOTALL)
    assert match, "README.md has no python block under '## In a notebook'"
    return match.group(1)


def test_every_public_name_resolves_to_its_defining_module():
    for name in steering.__all__:
        value = getattr(steering, name)
        assert value.__name__ == name
        assert value.__module__.startswith("steering.")
    assert set(steering.__all__) <= set(dir(steering))  # tab completion offers them
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        steering.nope  # noqa: B018


def test_import_steering_does_not_load_torch():
    code = "import sys, steering; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]


def test_readme_example_uses_only_public_names():
    tree = ast.parse(readme_notebook_code())
    imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert len(imports) == 1 and imports[0].module == "steering"
    assert {alias.name for alias in imports[0].names} <= set(steering.__all__)
    assert len([n for n in tree.body if not isinstance(n, ast.ImportFrom)]) == 4


@pytest.mark.slow
def test_readme_notebook_example_runs(capsys, monkeypatch):
    from steering.engine.generate import generate_texts

    monkeypatch.chdir(ROOT)  # the example names a path relative to the repository
    namespace: dict = {}
    exec(compile(readme_notebook_code(), "README.md", "exec"), namespace)
    printed = ast.literal_eval(capsys.readouterr().out.strip())
    model, vector = namespace["model"], namespace["vector"]
    assert vector.layers == list(range(10, 21))
    assert vector.metadata["build_rows"] == 16 and vector.hidden_size == model.hidden_size
    # The unsteered answer is plain greedy generation; the steered one uses the vector at 1.0.
    prompt = "What is 17 plus 25?"
    plain, steered = generate_texts(
        model, [prompt, prompt], vector=vector, alphas=[0.0, 1.0], max_new_tokens=24
    )
    assert printed == {"unsteered": plain, "steered": steered}
