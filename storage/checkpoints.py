"""Signed checkpoints of the audit chain, appended to a log outside the database.

A checkpoint is ``{"seq", "head", "time", "prev", "sig"}``: the chain's length and head hash at a
moment, the SHA-256 of the log line before it (``prev``; 64 zeros for a file's first line), and a
signature (base64 Ed25519) over the canonical JSON of the other four fields. The log (default
``<data-dir>/checkpoints.jsonl``, ``STEERING_CHECKPOINT_FILE`` overrides) holds one JSON object per
line and is only ever appended to; ``STEERING_CHECKPOINT_WITNESS`` names a second file (another
disk or mount) that receives every checkpoint too, linked line to line in the same way.

Each checkpoint is also recorded in the chain itself, as a signed ``audit.checkpoint`` event
naming its seq, head and time and whether the witness received it (``checkpoint_events.py``), so
the log cannot go missing or lose lines quietly: ``checkpoint_logs.py`` checks every log against
those events. The line is
written (and fsynced) first and the event committed after it, all under the chain's lock, so
lines from several processes link in order and a crash in between leaves only a line the chain
does not mention, which is harmless.

Someone who rewrites the database *and* holds the signing key can re-sign a different history,
but it will not match the heads already written here or copied into reports; someone who deletes
the newest events is caught by any checkpoint past them.

Old logs: lines written before ``prev`` existed (format 1, signed over seq, head and time only)
carry no link. They remain valid, but only before the first linked line of a file; the first
linked line links to the last old line.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .canonical import canonical_json, format_ts
from .errors import StorageError
from .settings import CHECKPOINT_WITNESS, settings
from .signing import Keyring, Signer

DEFAULT_CHECKPOINT_NAME = "checkpoints.jsonl"
# Besides every approve / reject / revoke, a checkpoint whenever the chain passes a multiple of this.
CHECKPOINT_EVERY = 100
# What a file's first linked line links to.
FIRST_PREV = "0" * 64
_OLD_KEYS = frozenset({"seq", "head", "time", "sig"})
_KEYS = _OLD_KEYS | {"prev"}
# A line is a few hundred bytes: the last one is always within this much of the end.
_TAIL_BYTES = 8192


def checkpoint_path(data_dir: Path) -> Path:
    named = settings().checkpoint_file
    return Path(named).expanduser().resolve() if named else data_dir / DEFAULT_CHECKPOINT_NAME


def witness_path(log: Path) -> Path | None:
    """``$STEERING_CHECKPOINT_WITNESS`` (None when unset); refused when it is the log itself."""
    named = settings().checkpoint_witness
    if named is None:
        return None
    witness = Path(named).expanduser().resolve()
    if witness == log.expanduser().resolve():
        raise StorageError(
            f"{CHECKPOINT_WITNESS} names the checkpoint log itself ({witness}); name a file on "
            "another disk or mount, or unset it."
        )
    return witness


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint; ``prev`` is None only for a line in the old format (see the module)."""

    seq: int
    head: str
    time: str
    sig: str
    prev: str | None = None

    def signed_bytes(self) -> bytes:
        return signed_bytes(self.seq, self.head, self.time, self.prev)

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"seq": self.seq, "head": self.head, "time": self.time}
        if self.prev is not None:
            doc["prev"] = self.prev
        doc["sig"] = self.sig
        return doc

    def to_line(self) -> str:
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, doc: Any) -> Checkpoint:
        """Raises ValueError for anything that is not a well-formed checkpoint."""
        if not isinstance(doc, dict) or set(doc) not in (_OLD_KEYS, _KEYS):
            raise ValueError("not a checkpoint object")
        seq, head, time, sig = doc["seq"], doc["head"], doc["time"], doc["sig"]
        prev = doc.get("prev")
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise ValueError("seq is not a whole number")
        if not all(isinstance(v, str) for v in (head, time, sig)):
            raise ValueError("head, time and sig must be text")
        if "prev" in doc and not isinstance(prev, str):
            raise ValueError("prev must be text")
        return cls(seq, head, time, sig, prev)


def signed_bytes(seq: int, head: str, time: str, prev: str | None = None) -> bytes:
    doc: dict[str, Any] = {"seq": seq, "head": head, "time": time}
    if prev is not None:  # the old format signed these three only
        doc["prev"] = prev
    return canonical_json(doc).encode("utf-8")


def line_hash(line: str) -> str:
    """What the next line's ``prev`` holds: the SHA-256 of this line's text (no newline)."""
    return hashlib.sha256(line.encode("utf-8")).hexdigest()


def make_checkpoint(
    signer: Signer, seq: int, head: str, prev: str | None = None, time: str | None = None
) -> Checkpoint:
    """A signed checkpoint; ``prev`` None makes an old-format line (only tests need that)."""
    time = time or format_ts(datetime.now(UTC))
    return Checkpoint(seq, head, time, signer.sign(signed_bytes(seq, head, time, prev)), prev)


def last_line(path: Path) -> str | None:
    """The last non-empty line of the file (None when it is absent or empty)."""
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(size - _TAIL_BYTES, 0))
            tail = fh.read()
            lines = [raw for raw in tail.splitlines() if raw.strip()]
            if size > _TAIL_BYTES and len(lines) < 2:  # the tail may start inside the line
                fh.seek(0)
                lines = [raw for raw in fh.read().splitlines() if raw.strip()]
    except FileNotFoundError:
        return None
    return lines[-1].decode("utf-8", errors="replace") if lines else None


def append_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Append one line and fsync; O_APPEND keeps concurrent writers' lines whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (checkpoint.to_line() + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def append_linked(path: Path, signer: Signer, seq: int, head: str, time: str) -> Checkpoint:
    """Sign ``(seq, head, time)`` linked to the file's last line and append it to the file.

    Callers hold the chain's lock (``checkpoint_events.record``), so no other writer appends in
    between."""
    previous = last_line(path)
    prev = FIRST_PREV if previous is None else line_hash(previous)
    checkpoint = make_checkpoint(signer, seq, head, prev, time)
    append_checkpoint(path, checkpoint)
    return checkpoint


@dataclass(frozen=True)
class LogLine:
    """One line of the log: its checkpoint, or why it could not be read."""

    number: int
    checkpoint: Checkpoint | None
    problem: str = ""
    text: str = ""  # the line as written: what the next line's ``prev`` is the hash of


def read_log(path: Path) -> list[LogLine]:
    """Every non-empty line of the log (an absent log is an empty one)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            lines.append(LogLine(number, Checkpoint.from_dict(json.loads(raw)), text=raw))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            lines.append(LogLine(number, None, str(exc), raw))
    return lines


def is_authentic(keyring: Keyring, checkpoint: Checkpoint) -> bool:
    """Whether the checkpoint is signed by the key in use at its ``seq``."""
    key_id = keyring.entry_for(checkpoint.seq).key_id
    return keyring.verify(checkpoint.seq, key_id, checkpoint.signed_bytes(), checkpoint.sig)


def latest(path: Path, keyring: Keyring | None = None) -> Checkpoint | None:
    """The checkpoint with the highest ``seq`` (the last such line), authentic ones only if a
    keyring is given."""
    best: Checkpoint | None = None
    for line in read_log(path):
        cp = line.checkpoint
        if cp is None or (keyring is not None and not is_authentic(keyring, cp)):
            continue
        if best is None or cp.seq >= best.seq:
            best = cp
    return best
