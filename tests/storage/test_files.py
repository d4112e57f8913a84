"""Content-addressed files: atomic, never overwritten, verified on read."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from storage import CorruptFileError, NotFoundError, Store, ValidationError
from storage.files import FileStore


def test_save_and_read_back(tmp_path) -> None:
    files = FileStore(tmp_path)
    data = b"prompt,positive\n2+2,4\n"
    digest, path = files.save(data, ".csv")
    assert digest == hashlib.sha256(data).hexdigest()
    assert path == tmp_path / "files" / digest[:2] / f"{digest}.csv"
    assert files.read(digest) == data
    assert not stat.S_IMODE(path.stat().st_mode) & 0o222  # read-only
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left behind


def test_same_bytes_are_stored_once_and_never_rewritten(tmp_path) -> None:
    files = FileStore(tmp_path)
    digest, path = files.save(b"vector", ".safetensors")
    inode, mtime = path.stat().st_ino, path.stat().st_mtime_ns
    again, path2 = files.save(b"vector", ".bin")
    assert (again, path2) == (digest, path)
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (inode, mtime)


def test_a_changed_file_is_caught_on_read_and_on_save(tmp_path) -> None:
    files = FileStore(tmp_path)
    digest, path = files.save(b"approved vector", ".safetensors")
    os.chmod(path, 0o644)
    path.write_bytes(b"swapped vector")
    with pytest.raises(CorruptFileError, match="changed or damaged"):
        files.read(digest)
    with pytest.raises(CorruptFileError, match="damaged"):
        files.save(b"approved vector", ".safetensors")
    assert path.read_bytes() == b"swapped vector"  # evidence is left as found


def test_bad_names_are_refused(tmp_path) -> None:
    files = FileStore(tmp_path)
    with pytest.raises(ValidationError, match="not a content hash"):
        files.read("../../etc/passwd")
    with pytest.raises(ValidationError, match="extension"):
        files.save(b"x", "/../../evil")
    with pytest.raises(NotFoundError):
        files.read("0" * 64)
    with pytest.raises(ValidationError, match="bytes"):
        files.save("text, not bytes", ".txt")  # type: ignore[arg-type]


def test_store_keeps_uploads_and_vectors_in_the_file_store(store: Store, people: dict) -> None:
    data = b"prompt,positive\nq,a\n"
    es = store.add_example_set("arith", data, "arith.CSV", "a" * 64, 1, "alice")
    assert store.files.read(es.file_sha256) == data
    assert store.files.save(data, ".csv")[0] == es.file_sha256
    vector = store.add_vector(b"tensor bytes", {"model_id": "m"}, "alice", es.id)
    assert store.read_vector_file(vector.id) == b"tensor bytes"
    path = store.files.path(vector.content_hash)
    assert path.is_relative_to(store.data_dir) and path.suffix == ".safetensors"
