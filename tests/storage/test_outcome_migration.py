"""Migration 0004: every evaluation already stored gets its outcome in a column, its JSON untouched.

The old evaluations are written the way the store held them at revision 0003 (no ``outcome`` in
the JSON), with verdict sentences produced by the engine's own ``verdict_sentence``; the outcome
each should get comes from the engine's ``verdict_outcome`` on the same numbers, not from any
sentence matching.
"""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest
import sqlalchemy as sa

from steering.evaluation import results as engine_results
from steering.evaluation.results import EvaluationReport, Verdict, outcome_from_old_sentence
from steering.evaluation.stats import Paired
from steering.evaluation.verdict import no_strength_chosen, verdict_outcome, verdict_sentence
from storage import Store, ValidationError
from storage.coltypes import UTCDateTime
from storage.db import create_store_engine
from storage.files import FileStore
from storage.json_values import sha256_json
from storage.migrate import HEAD_REVISION, MIGRATIONS_DIR, current_revision, upgrade_to

from .conftest import FAST_HASHER
from .helpers import evaluation_results, safetensors_bytes

FIXTURES = Path(__file__).resolve().parents[1] / "steering" / "fixtures"
NOW = datetime(2025, 12, 1, 10, 0, tzinfo=UTC)

users = sa.table(
    "users",
    sa.column("name", sa.String),
    sa.column("role", sa.String),
    sa.column("password_hash", sa.String),
    sa.column("active", sa.Boolean),
    sa.column("created_at", UTCDateTime),
)
vectors = sa.table(
    "vectors",
    sa.column("id", sa.Integer),
    sa.column("content_hash", sa.String),
    sa.column("file_suffix", sa.String),
    sa.column("lineage", sa.JSON),
    sa.column("created_by", sa.String),
    sa.column("created_at", UTCDateTime),
)
# The evaluations table as revision 0003 has it: no outcome column.
evaluations = sa.table(
    "evaluations",
    sa.column("id", sa.Integer),
    sa.column("vector_id", sa.Integer),
    sa.column("config", sa.JSON),
    sa.column("results", sa.JSON),
    sa.column("results_hash", sa.String),
    sa.column("created_by", sa.String),
    sa.column("created_at", UTCDateTime),
)


def counts(n: int, base: int, gained: int, lost: int) -> Paired:
    return Paired(n, base, base + gained - lost, gained, lost)


# (paired counts at the chosen strength, verdict_sentence options) for each conclusion.
CASES = [
    (counts(200, 104, 20, 6), {}),
    (counts(200, 120, 3, 25), {}),
    (counts(200, 100, 14, 8), {}),
    (counts(100, 50, 0, 0), {}),
    (counts(200, 100, 5, 1), {}),
    (counts(12, 2, 9, 0), {}),
    (counts(200, 100, 16, 5), {"tried": 4, "chosen_on": "same"}),
]


def old_report(sentence: str, chosen: float | None = 0.5) -> dict[str, object]:
    """Results JSON as the engine stored it before outcomes were recorded."""
    data = evaluation_results([0.0, 0.5])
    return {**data, "verdict": sentence, "chosen_alpha": chosen, "chosen_on": "build"}


def expected_old_evaluations() -> list[tuple[dict[str, object], str]]:
    """(results JSON without an outcome, the outcome the engine decided for it)."""
    found = [
        (old_report(verdict_sentence(0.5, paired, **kw)), verdict_outcome(paired, **kw).value)
        for paired, kw in CASES
    ]
    none_better = no_strength_chosen(counts(140, 70, 0, 0), counts(60, 31, 0, 0))
    found.append((old_report(none_better, chosen=None), Verdict.NO_STRENGTH_CHOSEN.value))
    # The pre-typed engine's own files (tests/steering/fixtures), stored as they were written.
    for name, outcome in [
        ("old_format_report.json", Verdict.NO_STRENGTH_CHOSEN),
        ("old_format_generate.json", Verdict.TOO_FEW_QUESTIONS),
    ]:
        data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
        assert "outcome" not in data
        found.append((data, outcome.value))
    return found


def database_at_0003(url: str, data_dir: Path, stored: list[dict[str, object]]) -> list[int]:
    """A database at revision 0003 holding a builder, a vector and ``stored`` evaluations."""
    engine = create_store_engine(url)
    upgrade_to(engine, "0003")
    # The vector's file is in the file store, so a migrated evaluation can be submitted.
    digest, _ = FileStore(data_dir).save(
        safetensors_bytes({"layer.2": [0.5, -1.0]}), ".safetensors"
    )
    ids = []
    with engine.begin() as conn:
        conn.execute(
            users.insert().values(
                name="alice", role="builder", password_hash="x", active=True, created_at=NOW
            )
        )
        vector_id = conn.execute(
            vectors.insert()
            .values(
                content_hash=digest,
                file_suffix=".safetensors",
                lineage={"model_id": "tiny", "layers": [2]},
                created_by="alice",
                created_at=NOW,
            )
            .returning(vectors.c.id)
        ).scalar_one()
        for results in stored:
            config = {"strengths": [0.0, 0.5], "layers": [2]}
            ids.append(
                conn.execute(
                    evaluations.insert()
                    .values(
                        vector_id=vector_id,
                        config=config,
                        results=results,
                        results_hash=sha256_json({"config": config, "results": results}),
                        created_by="alice",
                        created_at=NOW,
                    )
                    .returning(evaluations.c.id)
                ).scalar_one()
            )
    assert current_revision(engine) == "0003"
    engine.dispose()
    return ids


def stored_json(url: str) -> list[tuple[object, ...]]:
    engine = create_store_engine(url)
    with engine.connect() as conn:
        query = sa.select(evaluations.c.id, evaluations.c.results, evaluations.c.results_hash)
        rows = [tuple(r) for r in conn.execute(query.order_by(evaluations.c.id))]
    engine.dispose()
    return rows


def migration_0004() -> ModuleType:
    path = MIGRATIONS_DIR / "versions" / "0004_evaluation_outcome.py"
    spec = importlib.util.spec_from_file_location("migration_0004", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_migration_stores_the_outcome_of_evaluations_already_stored(
    blank_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = expected_old_evaluations()
    # Written after outcomes were recorded: the JSON's own outcome wins (its sentence is empty).
    named = {**old_report(""), "outcome": "worse"}
    nameless = {"accuracy": 0.5}  # no outcome and no sentence: readers said "nothing to compare"
    stored = [results for results, _ in old] + [named, nameless]
    expected = [outcome for _, outcome in old] + ["worse", "nothing_to_compare"]
    data_dir = tmp_path / "data"
    ids = database_at_0003(blank_db_url, data_dir, stored)
    before = stored_json(blank_db_url)

    with Store.open(blank_db_url, data_dir, password_hasher=FAST_HASHER) as store:
        assert current_revision(store.engine) == HEAD_REVISION  # 0004 and any newer ones
        outcomes = [store.get_evaluation(i).outcome for i in ids]
        assert outcomes == expected

        # Reading a stored evaluation never goes back to the sentence.
        def refuse(sentence: str) -> Verdict:
            raise AssertionError(f"the sentence was matched: {sentence!r}")

        monkeypatch.setattr(engine_results, "outcome_from_old_sentence", refuse)
        for evaluation_id, outcome in zip(ids, expected, strict=True):
            stored_evaluation = store.get_evaluation(evaluation_id)
            report = EvaluationReport.from_dict(
                stored_evaluation.results, outcome=stored_evaluation.outcome
            )
            assert report.outcome.value == outcome
    # The JSON and the hash over it (in the audit trail and submissions) are exactly as before.
    assert stored_json(blank_db_url) == before
    for (_, results, digest), evaluation_id in zip(before, ids, strict=True):
        assert digest == sha256_json(
            {"config": {"strengths": [0.0, 0.5], "layers": [2]}, "results": results}
        ), evaluation_id


def test_a_migrated_improving_evaluation_is_not_against_the_evidence(
    blank_db_url: str, tmp_path: Path
) -> None:
    improves = verdict_sentence(0.5, counts(200, 104, 20, 6))
    chance = verdict_sentence(0.5, counts(200, 100, 14, 8))
    data_dir = tmp_path / "data"
    good, unsure = database_at_0003(
        blank_db_url, data_dir, [old_report(improves), old_report(chance)]
    )
    with Store.open(blank_db_url, data_dir, password_hasher=FAST_HASHER) as store:
        vector_id = store.get_evaluation(good).vector_id
        first = store.create_and_submit(vector_id, 0.5, [2], good, "alice")
        second = store.create_and_submit(vector_id, 0.5, [2], unsure, "alice", reason="a pilot")
        assert store.against_evidence(first.id) is None
        flag = store.against_evidence(second.id)
        assert flag is not None and flag.reason == "a pilot"
        assert "does not recommend deploying" in flag.concern


def test_the_migration_reads_every_sentence_the_engine_writes_as_the_engine_does() -> None:
    migration = migration_0004()
    # Outcomes added after 0004 were never written as old sentences: the migration need not know them.
    added_later = {Verdict.GAIN_BY_DISRUPTION, Verdict.GAIN_WITH_SIDE_EFFECTS}
    assert migration.OUTCOMES == {v.value for v in Verdict} - {v.value for v in added_later}
    sentences = [
        (verdict_sentence(alpha, paired, **kw), verdict_outcome(paired, **kw))
        for alpha in (0.25, 2.0)
        for paired, kw in CASES + [(counts(200, 100, 16, 5), {"chosen_on": "given"})]
    ]
    sentences.append(
        (no_strength_chosen(counts(40, 20, 0, 0), counts(30, 9, 0, 0)), Verdict.NO_STRENGTH_CHOSEN)
    )
    assert {outcome for _, outcome in sentences} == set(Verdict) - {
        Verdict.NOTHING_TO_COMPARE,
        *added_later,
    }
    for sentence, outcome in sentences:
        assert migration.stored_outcome({"verdict": sentence}) == outcome.value, sentence
        assert outcome_from_old_sentence(sentence) is outcome, sentence
    assert migration.stored_outcome({"verdict": "Something else"}) == "nothing_to_compare"
    assert outcome_from_old_sentence("Something else") is Verdict.NOTHING_TO_COMPARE


def test_new_evaluations_keep_the_outcome_their_results_name(store: Store, people) -> None:
    vector = store.add_vector(safetensors_bytes({"layer.2": [1.0]}), {"model_id": "tiny"}, "alice")
    named = {**evaluation_results([0.0, 0.5]), "outcome": "improves"}
    evaluation = store.add_evaluation(vector.id, {}, named, "alice")
    assert evaluation.outcome == "improves"
    assert store.get_evaluation(evaluation.id).outcome == "improves"
    assert store.add_evaluation(vector.id, {}, evaluation_results([0.0]), "alice").outcome is None
    for bad in ("Improves!", 3, "x" * 33):
        with pytest.raises(ValidationError, match="outcome must be a word"):
            store.add_evaluation(vector.id, {}, {**named, "outcome": bad}, "alice")
