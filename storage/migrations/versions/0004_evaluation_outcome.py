"""Evaluations keep their outcome in a column; existing ones get theirs from their stored JSON.

The outcome (the engine's ``Verdict`` value) goes beside the results JSON, not into it, because
``results_hash`` (recorded in the audit trail and in every submission's frozen content) covers
that JSON: no stored JSON changes here. An evaluation whose JSON names its outcome keeps it; one
stored before outcomes were recorded gets the outcome its verdict sentence states, read with the
phrases below.

The phrases are a frozen copy of the ones the engine wrote when outcomes were not yet stored
(``steering.evaluation.results``, where ``outcome_from_old_sentence`` reads old report files): a
migration must compute the same thing whenever it runs, whatever the engine says by then, and the
store never imports the engine. ``tests/storage/test_outcome_migration.py`` checks both agree on
every sentence the engine writes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-01-20
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Every outcome the engine has written (``Verdict``'s values when this migration was written).
OUTCOMES = frozenset(
    {
        "improves",
        "worse",
        "no_evidence",
        "too_few_changed",
        "no_effect",
        "too_few_questions",
        "no_strength_chosen",
        "nothing_to_compare",
    }
)
# Phrase -> outcome, longest first: "helps or hurts" contains the shorter "helps" phrase.
OLD_SENTENCE_PHRASES: tuple[tuple[str, str], ...] = (
    ("too few to tell whether the vector helps or hurts", "too_few_changed"),
    ("No strength did better than the unsteered model", "no_strength_chosen"),
    ("too few to tell whether the vector helps", "too_few_questions"),
    ("so the vector makes the model worse", "worse"),
    ("so the vector improves accuracy", "improves"),
    ("the difference could be chance", "no_evidence"),
    ("changed none of the answers", "no_effect"),
)
# What readers concluded from JSON with no outcome and no phrase they knew.
UNKNOWN_SENTENCE = "nothing_to_compare"

evaluations = sa.table(
    "evaluations",
    sa.column("id", sa.Integer),
    sa.column("results", sa.JSON),
    sa.column("outcome", sa.String),
)


def stored_outcome(results: Any) -> str | None:
    """The outcome an evaluation's stored results state (None: not an evaluation's JSON)."""
    if not isinstance(results, dict):
        return None
    named = results.get("outcome")
    if isinstance(named, str) and named in OUTCOMES:
        return named
    sentence = results.get("verdict")
    sentence = sentence if isinstance(sentence, str) else ""
    for phrase, outcome in OLD_SENTENCE_PHRASES:
        if phrase in sentence:
            return outcome
    return UNKNOWN_SENTENCE


def upgrade() -> None:
    with op.batch_alter_table("evaluations") as batch:
        batch.add_column(sa.Column("outcome", sa.String(32), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.select(evaluations.c.id, evaluations.c.results)).all()
    updates = [
        {"row_id": row_id, "value": outcome}
        for row_id, results in rows
        if (outcome := stored_outcome(results)) is not None
    ]
    if updates:
        bind.execute(
            evaluations.update()
            .where(evaluations.c.id == sa.bindparam("row_id"))
            .values(outcome=sa.bindparam("value")),
            updates,
        )


def downgrade() -> None:
    with op.batch_alter_table("evaluations") as batch:
        batch.drop_column("outcome")
