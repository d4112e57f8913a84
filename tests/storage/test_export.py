"""Audit export: CSV safe for spreadsheets, JSON exact, the export itself audited."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import pytest

from storage import Store, ValidationError
from storage.audit import GENESIS_HASH, canonical_json
from storage.export import neutralise_cell

DANGEROUS = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


@pytest.mark.parametrize("cell", DANGEROUS)
def test_formula_cells_get_an_apostrophe(cell: str) -> None:
    assert neutralise_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["alice", '{"a":1}', "12", "a=b", ""])
def test_ordinary_cells_are_unchanged(cell: str) -> None:
    assert neutralise_cell(cell) == cell


def test_csv_export(store: Store, people: dict, tmp_path) -> None:
    for i, cell in enumerate(DANGEROUS):
        store.record_event("alice", "generate", "prompt", cell, {"i": i})
    out = tmp_path / "audit.csv"
    result = store.export_audit("csv", out)
    data = out.read_bytes()
    assert result.count == 4 + len(DANGEROUS) and result.sha256 == hashlib.sha256(data).hexdigest()
    assert store.files.read(result.sha256) == data  # a copy is kept, content-addressed
    table = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert len(table) == result.count
    ids = [row["object_id"] for row in table[4:]]
    assert ids == ["'" + cell for cell in DANGEROUS]
    assert json.loads(table[4]["details"]) == {"i": 0}
    assert table[0]["prev_hash"] == GENESIS_HASH
    # the export is itself an audited action, with the hash of what was handed over
    event = store.audit_events(action="audit.export")[-1]
    assert event.details["sha256"] == result.sha256 and event.details["count"] == result.count


def test_json_export_lets_anyone_recheck_the_chain(store: Store, people: dict, tmp_path) -> None:
    store.record_event("bob", "generate", "prompt", "=1+1", {"text": "naïve"})
    out = tmp_path / "audit.json"
    store.export_audit("json", out, actor="bob")
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["count"] == 5 and doc["chain_verified"] is True
    prev = GENESIS_HASH
    for event in doc["events"]:
        body = {k: event[k] for k in ("seq", "ts", "actor", "action", "object_type", "object_id")}
        body["details"] = event["details"]
        assert event["prev_hash"] == prev
        prev = hashlib.sha256((prev + canonical_json(body)).encode()).hexdigest()
        assert event["hash"] == prev
    assert doc["events"][-1]["object_id"] == "=1+1"  # JSON keeps values exact
    assert store.audit_events(action="audit.export")[-1].actor == "bob"


def test_export_errors(store: Store, tmp_path) -> None:
    with pytest.raises(ValidationError, match="choose csv or json"):
        store.export_audit("xlsx", tmp_path / "a.xlsx")
    with pytest.raises(ValidationError, match="does not exist"):
        store.export_audit("csv", tmp_path / "missing" / "a.csv")
    with pytest.raises(ValidationError, match="is a folder"):
        store.export_audit("csv", tmp_path)
