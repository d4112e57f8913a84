"""``python app.py --dtype`` (issue 24): the flag wins over STEERING_DTYPE, and without it the
variable decides; the models the dashboard loads are in that format."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import app as app_main
import dashboard.context
from dashboard.context import AppContext
from storage import Store
from tests.api.conftest import save_tiny_model


class _Started(Exception):
    """Raised in place of building the dashboard: main got as far as its context."""


def context_options(monkeypatch, tmp_path: Path, *flags: str) -> dict:
    """What ``app.main`` hands the dashboard's context, for these command-line flags."""
    seen: dict = {}

    def fake_context(**kwargs):
        seen.update(kwargs)
        raise _Started

    monkeypatch.setattr(dashboard.context, "AppContext", fake_context)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))  # main points it elsewhere
    with pytest.raises(_Started):
        app_main.main(["--data-dir", str(tmp_path / "data"), "--no-preload", *flags])
    return seen


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-model")
    save_tiny_model(folder)
    return folder


def loaded_dtype(tmp_path: Path, model_dir: Path, dtype: str | None) -> torch.dtype:
    with Store.open(None, tmp_path / "store") as store:
        return AppContext(store=store, default_model=str(model_dir), dtype=dtype).model().dtype


def test_the_flag_wins_over_the_variable(monkeypatch, tmp_path, model_dir):
    monkeypatch.setenv("STEERING_DTYPE", "bfloat16")
    options = context_options(monkeypatch, tmp_path, "--dtype", "float32")
    assert options["dtype"] == "float32"
    assert loaded_dtype(tmp_path, model_dir, options["dtype"]) == torch.float32


def test_without_the_flag_the_variable_decides(monkeypatch, tmp_path, model_dir):
    monkeypatch.setenv("STEERING_DTYPE", "bfloat16")
    options = context_options(monkeypatch, tmp_path)
    assert options["dtype"] is None
    assert loaded_dtype(tmp_path, model_dir, options["dtype"]) == torch.bfloat16


def test_a_bad_flag_or_variable_is_refused_before_the_store_opens(monkeypatch, tmp_path, capsys):
    with pytest.raises(SystemExit) as refused:
        app_main.build_parser().parse_args(["--dtype", "float16"])
    assert refused.value.code == 2
    assert "invalid choice: 'float16'" in capsys.readouterr().err
    monkeypatch.setenv("STEERING_DTYPE", "half")
    assert app_main.main(["--data-dir", str(tmp_path / "data")]) == 2
    assert capsys.readouterr().err == (
        "error: STEERING_DTYPE must be one of auto, float32, bfloat16, got 'half'\n"
    )
    assert not (tmp_path / "data").exists()
