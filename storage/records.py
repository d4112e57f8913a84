"""Frozen values returned by the store, derived from the ORM tables in ``tables.py``.

Public methods never hand out live ORM objects: a caller (a Gradio handler, a CLI) holds these
after the session is gone, so there are no detached-instance surprises and nobody can change a
row by mutating an attribute. Each record type is *generated* from its table's mapped columns
(same names, order and types), so adding a column to a table adds it to the record; only the
exceptions are written here: what must never leave the store (the password hash), columns stored
in an encoded form (an audit event's text timestamp and JSON details), and what a caller gets
alongside a row (a submission's reviews). JSON columns are copied, lists become tuples.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from sqlalchemy import JSON, inspect

from . import tables
from .canonical import parse_ts
from .checkpoints import Checkpoint

_Convert = Callable[[Any], Any]


def _copy_json(value: Any) -> Any:
    """A deep copy (lists as tuples at the top) so a caller's edits never reach the session."""
    return tuple(copy.deepcopy(value)) if isinstance(value, list) else copy.deepcopy(value)


def derive_record(
    model: type[tables.Base],
    name: str,
    *,
    hide: frozenset[str] = frozenset(),
    decode: dict[str, tuple[Any, _Convert]] | None = None,
    extra: Sequence[tuple[str, Any, Any]] = (),
    doc: str = "",
) -> type:
    """A frozen dataclass with ``model``'s mapped columns, built by one generic conversion.

    ``hide``: columns left out. ``decode``: column -> (record type, function of the stored
    value). ``extra``: (name, type, default) fields after the columns, given to ``from_row``.
    The class gets ``from_row(row, **extra)``.
    """
    decode = decode or {}
    hints = get_type_hints(model)
    fields: list[tuple[str, Any]] = []
    converters: dict[str, _Convert | None] = {}
    for attr in inspect(model).column_attrs:
        key = attr.key
        if key in hide:
            continue
        if key in decode:
            kind, convert = decode[key]
        else:
            (kind,) = get_args(hints[key])  # Mapped[X] -> X
            convert = None
            if isinstance(attr.columns[0].type, JSON):
                convert = _copy_json
                if get_origin(kind) is list:
                    kind = tuple[(*get_args(kind), ...)]
        fields.append((key, kind))
        converters[key] = convert

    def from_row(cls: type, row: tables.Base, **more: Any) -> Any:
        values = {}
        for key, convert in converters.items():
            value = getattr(row, key)
            values[key] = value if convert is None else convert(value)
        return cls(**values, **more)

    record = dataclasses.make_dataclass(
        name,
        [*fields, *((n, t, dataclasses.field(default=d)) for n, t, d in extra)],
        frozen=True,
        namespace={"from_row": classmethod(from_row), "__doc__": doc or None},
    )
    record.__module__ = __name__  # so the class pickles and reprs as storage.records.<name>
    return record


StoredUser = derive_record(
    tables.UserRow,
    "StoredUser",
    hide=frozenset({"password_hash"}),
    doc="A user account (the password hash never leaves the store).",
)
StoredExampleSet = derive_record(
    tables.ExampleSetRow, "StoredExampleSet", doc="An uploaded example set (the file's metadata)."
)
StoredVector = derive_record(
    tables.VectorRow, "StoredVector", doc="A stored control vector and its lineage."
)
StoredEvaluation = derive_record(
    tables.EvaluationRow,
    "StoredEvaluation",
    doc="An evaluation run: its config and results as the engine's ``to_dict()`` JSON.",
)
StoredReview = derive_record(
    tables.ReviewRow, "StoredReview", doc="One decision: approve | reject | revoke, with comment."
)
StoredSubmission = derive_record(
    tables.SubmissionRow,
    "StoredSubmission",
    extra=[("reviews", tuple, ())],
    doc=(
        "A vector at a chosen strength and layers, through the review workflow. Pass ``version`` "
        "back as ``expected_version`` to change it; ``content_hash`` is set when submitted."
    ),
)
StoredAuditEvent = derive_record(
    tables.AuditEventRow,
    "StoredAuditEvent",
    decode={"ts": (datetime, parse_ts), "details": (dict[str, Any], json.loads)},
    doc="One link of the audit chain, with its timestamp and details decoded.",
)


@dataclasses.dataclass(frozen=True)
class VerifyResult:
    """Outcome of checking the audit trail (hash links, signatures, checkpoints).

    ``count`` is the number of events checked and found intact (all of them when ``ok``; those
    before the break otherwise). ``reason`` names the damage at ``first_broken_seq``: "edited",
    "deleted", "inserted", "reordered", "truncated" (events missing against a checkpoint) or
    "bad-signature" (an event or checkpoint not signed by the audit key). ``signed_at_write`` and
    ``signed_at_migration`` count the events signed when written and those signed when an older
    plain chain was migrated. ``checkpoints`` is how many checkpoints were compared, and
    ``latest_checkpoint`` the newest authentic one: a copy kept elsewhere is what detects a
    rewrite by someone who holds both the database and the signing key.
    """

    ok: bool
    count: int
    first_broken_seq: int | None = None
    reason: str | None = None
    message: str = ""
    head_seq: int = 0
    head_hash: str = ""
    signed_at_write: int = 0
    signed_at_migration: int = 0
    checkpoints: int = 0
    latest_checkpoint: Checkpoint | None = None


@dataclasses.dataclass(frozen=True)
class ExportResult:
    path: Path
    format: str
    count: int
    sha256: str
