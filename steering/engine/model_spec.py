"""One key per model, whatever the spelling of its spec.

A spec (see :mod:`steering.engine.models`) can name the same files many ways: ``m.gguf``,
``./m.gguf``, ``/home/me/m.gguf``, a symlink to it, a folder with or without a trailing slash,
or the path of a bundled model's own GGUF instead of its key (``default``). The dashboard keeps
one copy of each model in memory, so it looks models up by :func:`canonical_spec`: a bundled
model's key, the real absolute path of a file or folder, or the hub id as given (its trailing
slashes dropped).
"""

from __future__ import annotations

from pathlib import Path

from steering.engine.bundled import BUNDLED_MODELS, SMOLLM2, bundled_model
from steering.errors import ModelLoadError


def _bundled_key(path: Path) -> str | None:
    """The key of the bundled model whose installed GGUF is the file at ``path``, if any."""
    for model in BUNDLED_MODELS:
        installed = model.gguf_path()
        if installed is not None and installed.resolve() == path:
            return model.key
    return None


def canonical_spec(spec: str | None) -> str:
    """The key that names ``spec``'s model, the same for every spelling of it.

    Raises :class:`ModelLoadError` for a ``.gguf`` path with no file behind it (there is no
    real path to name it by).
    """
    text = (spec or "").strip() or SMOLLM2.key  # as load_model reads an empty spec
    if bundled_model(text) is not None:
        return text
    path = Path(text).expanduser()
    if text.lower().endswith(".gguf"):
        if not path.is_file():
            raise ModelLoadError(f"No GGUF file at '{text}'. Check the path.")
        real = path.resolve()
        return _bundled_key(real) or str(real)
    if path.is_dir():
        return str(path.resolve())
    return text.rstrip("/") or text  # a hub id: "org/name"
