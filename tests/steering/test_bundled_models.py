"""The bundled-model registry and the assembly of a model shipped in chunk packages.

The assembly is what ``make models`` runs; these tests drive it with small fake chunk packages put
first on ``PYTHONPATH``, so a wrong sha256 is shown to fail loudly and keep no file.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from steering.engine.bundled import (
    BUNDLED_MODELS,
    GEMMA3,
    SMOLLM2,
    assemble_chunks,
    bundled_model,
)
from steering.errors import ModelLoadError

ROOT = Path(__file__).resolve().parents[2]


def _chunks(tmp_path: Path, sizes=(5, 3, 7)) -> tuple[list[Path], bytes]:
    parts, whole = [], b""
    for k, size in enumerate(sizes):
        data = bytes([65 + k]) * size
        path = tmp_path / f"part{k:02d}"
        path.write_bytes(data)
        parts.append(path)
        whole += data
    return parts, whole


def test_assembled_file_is_the_chunks_in_order_when_the_hash_matches(tmp_path):
    parts, whole = _chunks(tmp_path)
    target = tmp_path / "models" / "m.gguf"
    assemble_chunks(parts, target, hashlib.sha256(whole).hexdigest())
    assert target.read_bytes() == whole
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["m.gguf"]


def test_a_wrong_hash_fails_loudly_and_keeps_no_file(tmp_path):
    parts, whole = _chunks(tmp_path)
    target = tmp_path / "models" / "m.gguf"
    with pytest.raises(ModelLoadError, match="not the expected"):
        assemble_chunks(parts, target, "0" * 64)
    assert list(target.parent.iterdir()) == []  # neither the model nor a temporary file


def test_a_missing_chunk_is_named(tmp_path):
    parts, _ = _chunks(tmp_path)
    parts[1].unlink()
    with pytest.raises(ModelLoadError, match="part01"):
        assemble_chunks(parts, tmp_path / "m.gguf", "0" * 64)


def _fake_gemma_packages(root: Path) -> None:
    """Packages named like Gemma's chunk packages, holding a few wrong bytes each."""
    for package, name in GEMMA3.chunks:
        folder = root / package
        (folder / Path(name).parent).mkdir(parents=True)
        (folder / "__init__.py").write_text("")
        (folder / name).write_bytes(b"not the model")
    terms_package, terms_name = GEMMA3.terms
    (root / terms_package / "data").mkdir(parents=True)
    (root / terms_package / "__init__.py").write_text("")
    (root / terms_package / terms_name).write_text("terms")


def test_make_models_step_refuses_a_wrong_sha256(tmp_path):
    """`make models` runs this command: damaged chunks exit 2 with a message and leave no file."""
    fake = tmp_path / "site"
    _fake_gemma_packages(fake)
    cache = tmp_path / "cache"
    env = {
        **os.environ,
        "PYTHONPATH": f"{fake}{os.pathsep}{ROOT}",
        "STEERING_CACHE_DIR": str(cache),
    }
    result = subprocess.run(
        [sys.executable, "-m", "steering.engine.bundled", "assemble", "gemma-3-270m"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2
    assert "not the expected a5fd3b62" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (cache / "models" / GEMMA3.gguf_name).exists()
    assert list((cache / "models").iterdir()) == []


def test_registry_names_each_model_with_licence_and_source():
    assert [m.key for m in BUNDLED_MODELS] == ["default", "gemma-3-270m"]
    assert bundled_model("default") is SMOLLM2 and bundled_model("nope") is None
    assert "Apache" in SMOLLM2.licence and "Gemma Terms" in GEMMA3.licence
    assert all(m.source and m.install and m.parameters for m in BUNDLED_MODELS)
