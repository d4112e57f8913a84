"""Signed checkpoints of the audit chain, appended to a log outside the database.

A checkpoint is ``{"seq", "head", "time", "sig"}``: the chain's length and head hash at a moment,
signed (base64 Ed25519) over the canonical JSON of the other three fields. The log (default
``<data-dir>/checkpoints.jsonl``, ``STEERING_CHECKPOINT_FILE`` overrides) holds one JSON object per
line and is only ever appended to. Someone who rewrites the database *and* holds the signing key
can re-sign a different history, but it will not match the heads already written here or copied
into reports; someone who deletes the newest events is caught by any checkpoint past them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .canonical import canonical_json, format_ts
from .settings import settings
from .signing import Keyring, Signer

DEFAULT_CHECKPOINT_NAME = "checkpoints.jsonl"
# Besides every approve / reject / revoke, a checkpoint whenever the chain passes a multiple of this.
CHECKPOINT_EVERY = 100


def checkpoint_path(data_dir: Path) -> Path:
    named = settings().checkpoint_file
    return Path(named).expanduser().resolve() if named else data_dir / DEFAULT_CHECKPOINT_NAME


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    head: str
    time: str
    sig: str

    def signed_bytes(self) -> bytes:
        return signed_bytes(self.seq, self.head, self.time)

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "head": self.head, "time": self.time, "sig": self.sig}

    def to_line(self) -> str:
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, doc: Any) -> Checkpoint:
        """Raises ValueError for anything that is not a well-formed checkpoint."""
        if not isinstance(doc, dict) or set(doc) != {"seq", "head", "time", "sig"}:
            raise ValueError("not a checkpoint object")
        seq, head, time, sig = doc["seq"], doc["head"], doc["time"], doc["sig"]
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise ValueError("seq is not a whole number")
        if not all(isinstance(v, str) for v in (head, time, sig)):
            raise ValueError("head, time and sig must be text")
        return cls(seq, head, time, sig)


def signed_bytes(seq: int, head: str, time: str) -> bytes:
    return canonical_json({"seq": seq, "head": head, "time": time}).encode("utf-8")


def make_checkpoint(signer: Signer, seq: int, head: str) -> Checkpoint:
    time = format_ts(datetime.now(UTC))
    return Checkpoint(seq, head, time, signer.sign(signed_bytes(seq, head, time)))


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


@dataclass(frozen=True)
class LogLine:
    """One line of the log: its checkpoint, or why it could not be read."""

    number: int
    checkpoint: Checkpoint | None
    problem: str = ""


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
            lines.append(LogLine(number, Checkpoint.from_dict(json.loads(raw))))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            lines.append(LogLine(number, None, str(exc)))
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
