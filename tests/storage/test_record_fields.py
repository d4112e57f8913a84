"""Each record lists its table's columns by hand (so readers and mypy see them): check that the
list is exactly the table's mapped columns, less what the record hides, with matching types."""

from __future__ import annotations

import dataclasses
from typing import get_type_hints

import pytest
from sqlalchemy import inspect

from storage import records
from storage.api_keys import StoredApiKey

RECORDS = [
    records.StoredUser,
    records.StoredExampleSet,
    records.StoredVector,
    records.StoredEvaluation,
    records.StoredReview,
    records.StoredSubmission,
    records.StoredAuditEvent,
    StoredApiKey,
]
EXTRA = {records.StoredSubmission: {"reviews"}}


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.__name__)
def test_record_fields_are_the_table_columns(record: type[records.RowRecord]) -> None:
    columns = [a.key for a in inspect(record.TABLE).column_attrs if a.key not in record.HIDE]
    fields = [f.name for f in dataclasses.fields(record) if f.name not in EXTRA.get(record, set())]
    assert fields == columns
    assert not set(record.HIDE) & {f.name for f in dataclasses.fields(record)}


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.__name__)
def test_plain_columns_keep_the_table_type(record: type[records.RowRecord]) -> None:
    table_hints = get_type_hints(record.TABLE)
    record_hints = get_type_hints(record)
    for attr in inspect(record.TABLE).column_attrs:
        key = attr.key
        if key in record.HIDE or key in record.DECODE:
            continue
        (stored,) = table_hints[key].__args__  # Mapped[X] -> X
        kept = record_hints[key]
        if getattr(stored, "__origin__", None) is list or "list[" in str(stored):
            assert "tuple[" in str(kept), key  # JSON lists come out as tuples
        else:
            assert kept == stored, key
