"""Example sets, vectors and evaluations, as part of the ``Store`` facade (see ``store.py``).

A builder's work: each upload, vector and evaluation is one row (its bytes content-addressed in
the file store) plus one audit event carrying its hashes, so later steps (a submission, an
export) can prove what they were made from. Listing by creator lets the dashboard give a user
their own earlier work back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select

from . import audit, records, tables
from .errors import ValidationError
from .json_values import json_dict, sha256_json
from .store_base import StoreBase

_HASH_LIKE_RE = re.compile(r"^[A-Za-z0-9:_-]{1,64}$")
_OUTCOME_RE = re.compile(rf"^[a-z_]{{1,{tables.OUTCOME_LEN}}}$")


def _outcome(results: dict[str, Any]) -> str | None:
    """The outcome the results name (the engine's ``Verdict`` value), kept in its own column."""
    outcome = results.get("outcome")
    if outcome is None:
        return None
    if not isinstance(outcome, str) or not _OUTCOME_RE.match(outcome):
        raise ValidationError(
            f"The evaluation's outcome must be a word such as 'improves', not {outcome!r}."
        )
    return outcome


def _row_numbers(rows: Sequence[int]) -> list[int]:
    """Row numbers as a sorted list of distinct positive whole numbers."""
    if isinstance(rows, str | bytes) or not all(
        isinstance(r, int) and not isinstance(r, bool) and r > 0 for r in rows
    ):
        raise ValidationError(
            f"Skipped rows must be the file's row numbers (whole numbers from 1), not {rows!r}."
        )
    return sorted(set(rows))


class WorkMixin(StoreBase):
    """Example sets, vectors and evaluations."""

    def add_example_set(
        self,
        name: str,
        data: bytes,
        filename: str,
        content_hash: str,
        row_count: int,
        actor: str,
        skipped_rows: Sequence[int] = (),
    ) -> records.StoredExampleSet:
        """Record an uploaded example set; the upload's bytes go to the file store.

        ``skipped_rows`` are the file's row numbers its builder chose to leave out (they had
        problems): kept with the set, so reading the stored file again gives the same rows.
        """
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise ValidationError("Give the example set a name (up to 200 characters).")
        filename = Path(str(filename or "examples")).name[:255]
        if not isinstance(content_hash, str) or not _HASH_LIKE_RE.match(content_hash):
            raise ValidationError("The example set's content hash is missing or malformed.")
        if isinstance(row_count, bool) or not isinstance(row_count, int) or row_count < 0:
            raise ValidationError(f"The row count must be a whole number, not {row_count!r}.")
        skipped = _row_numbers(skipped_rows)
        suffix = Path(filename).suffix.lower()
        file_sha, _ = self.files.save(data, suffix if len(suffix) <= 17 else "")
        name = name.strip()
        with self._write() as s:
            self._actor(s, actor, doing="upload example sets")
            row = tables.ExampleSetRow(
                name=name,
                filename=filename,
                content_hash=content_hash,
                file_sha256=file_sha,
                row_count=row_count,
                created_by=actor,
                skipped_rows=skipped or None,
            )
            details: dict[str, Any] = {
                "name": name,
                "filename": filename,
                "content_hash": content_hash,
                "file_sha256": file_sha,
                "row_count": row_count,
            }
            if skipped:
                details["skipped_rows"] = skipped
            audit.add_with_event(s, row, actor, "example_set.add", "example_set", details)
            return records.StoredExampleSet.from_row(row)

    def list_example_sets(self) -> list[records.StoredExampleSet]:
        with self._read() as s:
            rows = s.execute(
                select(tables.ExampleSetRow).order_by(tables.ExampleSetRow.id)
            ).scalars()
            return [records.StoredExampleSet.from_row(r) for r in rows]

    # ------------------------------------------------------------------ vectors

    def add_vector(
        self,
        file_bytes: bytes,
        metadata: dict[str, Any],
        actor: str,
        example_set_id: int | None = None,
        suffix: str = ".safetensors",
    ) -> records.StoredVector:
        """Record a control vector file with its lineage metadata (model, dataset hash, method...)."""
        lineage = json_dict(metadata, "vector's lineage metadata")
        digest, _ = self.files.save(file_bytes, suffix)
        with self._write() as s:
            self._actor(s, actor, doing="add vectors")
            if example_set_id is not None:
                self._get(s, tables.ExampleSetRow, example_set_id, "example set")
            row = tables.VectorRow(
                content_hash=digest,
                file_suffix=suffix.lower(),
                lineage=lineage,
                example_set_id=example_set_id,
                created_by=actor,
            )
            details = {
                "content_hash": digest,
                "lineage_hash": sha256_json(lineage),
                "example_set_id": example_set_id,
            }
            details.update({k: lineage[k] for k in ("model_id", "method") if k in lineage})
            audit.add_with_event(s, row, actor, "vector.add", "vector", details)
            return records.StoredVector.from_row(row)

    def get_vector(self, vector_id: int) -> records.StoredVector:
        with self._read() as s:
            return records.StoredVector.from_row(
                self._get(s, tables.VectorRow, vector_id, "vector")
            )

    def list_vectors(self, created_by: str | None = None) -> list[records.StoredVector]:
        """Every vector (only ``created_by``'s when given), newest first."""
        stmt = select(tables.VectorRow).order_by(tables.VectorRow.id.desc())
        if created_by is not None:
            stmt = stmt.where(tables.VectorRow.created_by == created_by)
        with self._read() as s:
            return [records.StoredVector.from_row(r) for r in s.execute(stmt).scalars()]

    def read_vector_file(self, vector_id: int) -> bytes:
        """The vector's file, verified against the hash recorded when it was added."""
        return self.files.read(self.get_vector(vector_id).content_hash)

    # ------------------------------------------------------------------ evaluations

    def add_evaluation(
        self, vector_id: int, config: dict[str, Any], results: dict[str, Any], actor: str
    ) -> records.StoredEvaluation:
        """Record an evaluation run (its configuration and its results) of a vector; the outcome
        the results name is also kept in its own column."""
        config = json_dict(config, "evaluation configuration")
        results = json_dict(results, "evaluation results")
        results_hash = sha256_json({"config": config, "results": results})
        outcome = _outcome(results)
        with self._write() as s:
            self._actor(s, actor, doing="record evaluations")
            self._get(s, tables.VectorRow, vector_id, "vector")
            row = tables.EvaluationRow(
                vector_id=vector_id,
                config=config,
                results=results,
                results_hash=results_hash,
                created_by=actor,
                outcome=outcome,
            )
            details = {"vector_id": vector_id, "results_hash": results_hash}
            audit.add_with_event(s, row, actor, "evaluation.add", "evaluation", details)
            return records.StoredEvaluation.from_row(row)

    def get_evaluation(self, evaluation_id: int) -> records.StoredEvaluation:
        with self._read() as s:
            return records.StoredEvaluation.from_row(
                self._get(s, tables.EvaluationRow, evaluation_id, "evaluation")
            )

    def list_evaluations(self, created_by: str | None = None) -> list[records.StoredEvaluation]:
        """Every evaluation (only ``created_by``'s when given), newest first."""
        stmt = select(tables.EvaluationRow).order_by(tables.EvaluationRow.id.desc())
        if created_by is not None:
            stmt = stmt.where(tables.EvaluationRow.created_by == created_by)
        with self._read() as s:
            return [records.StoredEvaluation.from_row(r) for r in s.execute(stmt).scalars()]
