"""Audit export as CSV (for spreadsheets) and JSON (for machines), safe to open anywhere.

Spreadsheet programs execute a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and some treat
a leading tab or carriage return the same way) as a formula, so an actor name or a comment like
``=HYPERLINK(...)`` could run when an auditor opens the file. Such cells get a leading apostrophe,
which spreadsheets show as plain text. The JSON export keeps values exact.

Both carry each event's signature and the latest checkpoint (CSV: a final ``# checkpoint`` comment
row; JSON: a ``checkpoint`` field), so every copy that leaves the machine can later show whether
the database still holds the history it had then.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from .canonical import canonical_json, format_ts
from .checkpoints import Checkpoint
from .records import StoredAuditEvent, VerifyResult

FORMATS = ("csv", "json")
CSV_COLUMNS = (
    "seq",
    "ts",
    "actor",
    "action",
    "object_type",
    "object_id",
    "details",
    "prev_hash",
    "hash",
    "sig",
    "key_id",
)
CHECKPOINT_ROW_PREFIX = "# checkpoint "
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: str) -> str:
    """Prefix an apostrophe to text a spreadsheet would otherwise run as a formula."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _row(event: StoredAuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "ts": format_ts(event.ts),
        "actor": event.actor,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "details": event.details,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
        "sig": event.sig or "",
        "key_id": event.key_id or "",
    }


def to_csv(events: Iterable[StoredAuditEvent], checkpoint: Checkpoint | None = None) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for event in events:
        row = _row(event)
        row["details"] = canonical_json(row["details"])
        writer.writerow([neutralise_cell(str(row[c])) for c in CSV_COLUMNS])
    if checkpoint is not None:  # one cell; "#" is not a formula start, so it stays as is
        writer.writerow([CHECKPOINT_ROW_PREFIX + checkpoint.to_line()])
    # A BOM makes Excel read UTF-8 names correctly.
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_json(
    events: Iterable[StoredAuditEvent],
    verified: VerifyResult,
    exported_at: str,
    checkpoint: Checkpoint | None = None,
) -> bytes:
    rows = [_row(e) for e in events]
    doc = {
        "format": "control-vector-lab audit export",
        "version": 1,
        "exported_at": exported_at,
        "count": len(rows),
        "chain_verified": verified.ok,
        "chain_message": verified.message,
        "head_hash": rows[-1]["hash"] if rows else None,
        "hash_rule": "hash = sha256(prev_hash + canonical JSON of "
        "{seq, ts, actor, action, object_type, object_id, details}), canonical JSON = "
        'json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)',
        "signature_rule": "sig = base64 Ed25519 signature of the 64 ASCII hex digits of hash, "
        "by the key key_id of the public keyring (audit-signing.pub)",
        "checkpoint": checkpoint.to_dict() if checkpoint is not None else None,
        "events": rows,
    }
    return (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
