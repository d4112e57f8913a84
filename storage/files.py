"""Content-addressed file storage under the data folder.

A file's name is the SHA-256 of its bytes (``files/ab/abcdef....suffix``), so the database only
records the hash, identical uploads are stored once, and any change on disk is caught when the
file is read back. Writes go to a temporary file in the same folder, are fsync'ed, then linked
into place (``os.link`` refuses to replace an existing name, so a stored file is never
overwritten, even by two processes saving the same bytes at once); the folder is fsync'ed too so
the new name survives a crash. Stored files are made read-only.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path

from .errors import CorruptFileError, NotFoundError, ValidationError

_HASH_RE = re.compile(r"^[0-9a-f]{64}$")
_SUFFIX_RE = re.compile(r"^(\.[A-Za-z0-9_-]{1,16}){0,2}$")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileStore:
    """Files addressed by content under ``<root>/files``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root) / "files"

    def _dir(self, digest: str) -> Path:
        return self.root / digest[:2]

    def save(self, data: bytes, suffix: str = "") -> tuple[str, Path]:
        """Store ``data`` (if not already there); return its SHA-256 and path."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ValidationError("Only bytes can be stored as a file.")
        data = bytes(data)
        suffix = suffix.lower()
        if not _SUFFIX_RE.match(suffix):
            raise ValidationError(
                f"The file extension {suffix!r} is not allowed; use something like '.csv' or "
                "'.safetensors'."
            )
        digest = sha256_hex(data)
        existing = self._find(digest)
        if existing is not None:
            self._check(existing, digest)
            return digest, existing
        final = self._dir(digest) / f"{digest}{suffix}"
        # If someone stored the same bytes a moment ago, theirs is kept and checked below.
        create_exclusive(final, data, 0o444)
        self._check(final, digest)
        return digest, final

    def path(self, digest: str) -> Path:
        """Where the file with this hash lives (it must exist)."""
        found = self._find(self._valid(digest))
        if found is None:
            raise NotFoundError(f"No stored file has the content hash {digest}.")
        return found

    def read(self, digest: str) -> bytes:
        """The file's bytes, after checking they still hash to ``digest``."""
        path = self.path(digest)
        data = path.read_bytes()
        if sha256_hex(data) != digest:
            raise CorruptFileError(
                f"The stored file {path.name} was changed or damaged on disk: its content no "
                "longer matches its hash. Restore it from a backup; do not use it."
            )
        return data

    def _check(self, path: Path, digest: str) -> None:
        if sha256_hex(path.read_bytes()) != digest:
            raise CorruptFileError(
                f"The stored file {path.name} is damaged (its content does not match its "
                "hash). Restore it from a backup before storing it again."
            )

    @staticmethod
    def _valid(digest: str) -> str:
        if not isinstance(digest, str) or not _HASH_RE.match(digest):
            raise ValidationError(
                f"{digest!r} is not a content hash (64 lowercase hexadecimal characters)."
            )
        return digest

    def _find(self, digest: str) -> Path | None:
        folder = self._dir(digest)
        if not folder.is_dir():
            return None
        for candidate in sorted(folder.iterdir()):
            name = candidate.name
            if name == digest or (name.startswith(digest + ".") and not name.startswith(".")):
                return candidate
        return None


def _durable_temp(folder: Path, name: str, data: bytes, mode: int) -> str:
    """A fully written, fsync'ed temporary file in ``folder`` (same file system as the target)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def create_exclusive(path: Path, data: bytes, mode: int) -> bool:
    """Write ``data`` at ``path`` unless something is already there; True if this call made it.

    ``os.link`` refuses an existing name, so of several processes racing only one file wins,
    and nobody ever sees it half-written.
    """
    tmp = _durable_temp(path.parent, path.name, data, mode)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(path.parent)
    return True


def replace_file(path: Path, data: bytes, mode: int) -> None:
    """Atomically replace ``path`` with ``data`` (a reader sees the old or the new file)."""
    tmp = _durable_temp(path.parent, path.name, data, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make a new or replaced name in ``folder`` survive a crash."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
