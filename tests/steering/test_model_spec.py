"""canonical_spec: every spelling of one model's files gives one key (issue 19 point 8)."""

from __future__ import annotations

import os

import pytest

from steering.engine.bundled import SMOLLM2
from steering.engine.model_spec import canonical_spec
from steering.errors import ModelLoadError


def test_a_folder_has_one_key_however_it_is_written(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "models" / "mine"
    folder.mkdir(parents=True)
    (tmp_path / "link").symlink_to(folder, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    spellings = [
        "models/mine",
        "models/mine/",
        "./models/../models/mine",
        f"  {folder}  ",
        str(folder) + "/",
        "link",
        str(tmp_path / "link") + "/",
    ]
    keys = {canonical_spec(spelling) for spelling in spellings}
    assert keys == {str(folder.resolve())}


def test_a_gguf_file_has_one_key_however_it_is_written(tmp_path, monkeypatch) -> None:
    target = tmp_path / "weights" / "m.gguf"
    target.parent.mkdir()
    target.write_bytes(b"GGUF")
    os.symlink(target, tmp_path / "alias.gguf")
    monkeypatch.chdir(tmp_path / "weights")
    keys = {
        canonical_spec(spelling)
        for spelling in ("m.gguf", "./m.gguf", str(target), "../alias.gguf", "../weights/m.gguf")
    }
    assert keys == {str(target.resolve())}


def test_a_missing_gguf_file_is_named(tmp_path) -> None:
    with pytest.raises(ModelLoadError, match="No GGUF file at .*missing.gguf'. Check the path."):
        canonical_spec(str(tmp_path / "missing.gguf"))


def test_bundled_models_and_hub_ids_keep_their_own_names() -> None:
    assert canonical_spec("default") == canonical_spec("") == canonical_spec(None) == "default"
    assert canonical_spec(" gemma-3-270m ") == "gemma-3-270m"
    assert canonical_spec("HuggingFaceTB/SmolLM2-135M-Instruct/") == (
        "HuggingFaceTB/SmolLM2-135M-Instruct"
    )


def test_the_bundled_models_own_file_is_the_bundled_model(tmp_path) -> None:
    installed = SMOLLM2.gguf_path()
    if installed is None:
        pytest.skip("the bundled model is not installed (make setup installs it)")
    (tmp_path / "smol.gguf").symlink_to(installed)
    assert canonical_spec(str(installed)) == "default"
    assert canonical_spec(str(tmp_path / "smol.gguf")) == "default"
