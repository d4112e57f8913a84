"""Heavy jobs as records (migration 0007): started, followed, ended with what they made, and
marked interrupted by the next start-up; and the rows an example set's builder chose to skip.

Jobs are not audit events (what they make is), so none of this adds to the signed chain.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from storage import ConflictError, PermissionDeniedError, Store, StoredJob, ValidationError
from storage.db import create_store_engine
from storage.migrate import HEAD_REVISION, current_revision, upgrade_to

from .conftest import FAST_HASHER


def test_a_job_runs_from_start_to_done_naming_what_it_made(store: Store, people) -> None:
    chain = store.verify().count
    job = store.start_job("alice", "evaluation", estimate_s=120)
    assert (job.created_by, job.kind, job.state, job.progress) == (
        "alice",
        "evaluation",
        "running",
        0,
    )
    assert job.open and job.estimate_s == job.seconds_left == 120 and job.result_id is None
    assert job.started_at.tzinfo is not None and job.finished_at is None

    assert store.update_job(job.id, phase="Held-out questions", progress=0.25, seconds_left=90)
    followed = store.get_job(job.id)
    assert (followed.phase, followed.progress, followed.seconds_left) == (
        "Held-out questions",
        0.25,
        90,
    )
    assert followed.updated_at >= job.updated_at and followed.estimate_s == 120

    done = store.finish_job(job.id, "done", result_id=7)
    assert (done.state, done.result_id, done.progress, done.seconds_left) == ("done", 7, 1, 0)
    assert not done.open and done.finished_at is not None and done.error is None
    assert store.verify().count == chain  # not audit events


def test_a_failed_job_keeps_its_message_and_an_ended_job_stays_ended(store: Store, people) -> None:
    job = store.start_job("alice", "build")
    failed = store.finish_job(job.id, "failed", error="row 3: column 'positive' is empty")
    assert (failed.state, failed.error, failed.result_id) == (
        "failed",
        "row 3: column 'positive' is empty",
        None,
    )
    # Nothing moves an ended job: a late progress update is ignored, a second end refused.
    assert store.update_job(job.id, phase="late", progress=0.9) is False
    assert store.get_job(job.id).phase == ""
    with pytest.raises(ConflictError, match=f"Job #{job.id} has already ended \\(failed\\)"):
        store.finish_job(job.id, "done", result_id=1)


def test_bad_values_are_refused_with_what_to_fix(store: Store, people) -> None:
    with pytest.raises(ValidationError, match="build, evaluation, generation, not 'training'"):
        store.start_job("alice", "training")
    with pytest.raises(PermissionDeniedError, match="Unknown user 'nobody'"):
        store.start_job("nobody", "build")
    with pytest.raises(PermissionDeniedError, match="'system' cannot"):
        store.start_job("system", "build")
    job = store.start_job("alice", "build")
    with pytest.raises(ValidationError, match="progress .* must be a finite number, not nan"):
        store.update_job(job.id, phase="x", progress=float("nan"))
    with pytest.raises(ValidationError, match="estimate .* not 'soon'"):
        store.update_job(job.id, phase="x", progress=0.1, estimate_s="soon")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="ends done or failed, not 'interrupted'"):
        store.finish_job(job.id, "interrupted")
    with pytest.raises(ValidationError, match="whole number"):
        store.get_job("1")  # type: ignore[arg-type]
    # Progress is a share: more than all of it is all of it.
    store.update_job(job.id, phase="x", progress=1.5)
    assert store.get_job(job.id).progress == 1


def test_start_up_marks_only_open_jobs_interrupted(store: Store, people) -> None:
    finished = store.start_job("alice", "build")
    store.finish_job(finished.id, "done", result_id=1)
    running = store.start_job("alice", "evaluation", estimate_s=60)
    other = store.start_job("bob", "generation")

    marked = store.interrupt_open_jobs()
    assert sorted(j.id for j in marked) == [running.id, other.id]
    assert {j.state for j in marked} == {"interrupted"}
    assert all(j.finished_at is not None and not j.told for j in marked)
    assert store.get_job(finished.id).state == "done"
    assert store.interrupt_open_jobs() == []  # a second start-up finds nothing open

    store.mark_job_told(running.id)
    assert store.get_job(running.id).told is True
    assert store.get_job(other.id).told is False


def test_latest_and_listed_jobs_follow_user_and_kind(store: Store, people) -> None:
    assert store.latest_job("alice") is None
    build = store.start_job("alice", "build")
    evaluation = store.start_job("alice", "evaluation")
    generation = store.start_job("bob", "generation")

    def ids(found: list[StoredJob]) -> list[int]:
        return [j.id for j in found]

    latest = store.latest_job("alice")
    assert latest is not None and latest.id == evaluation.id
    latest_build = store.latest_job("alice", ["build"])
    assert latest_build is not None and latest_build.id == build.id
    assert store.latest_job("alice", ["generation"]) is None
    assert ids(store.list_jobs()) == [generation.id, evaluation.id, build.id]
    assert ids(store.list_jobs(created_by="alice", kinds=["build", "generation"])) == [build.id]
    with pytest.raises(ValidationError, match="not 'bake'"):
        store.latest_job("alice", ["bake"])


def test_an_example_set_keeps_the_rows_its_builder_skipped(store: Store, people) -> None:
    kept = store.add_example_set(
        "Arithmetic", b"p,q\n", "arith.csv", "c" * 64, 12, "alice", skipped_rows=[9, 4, 9]
    )
    assert kept.skipped_rows == (4, 9)
    assert store.list_example_sets() == [kept]
    event = store.audit_events(action="example_set.add")[-1]
    assert event.details["skipped_rows"] == [4, 9]

    whole = store.add_example_set("Whole", b"p,q\n", "whole.csv", "d" * 64, 3, "alice")
    assert whole.skipped_rows is None
    assert "skipped_rows" not in store.audit_events(action="example_set.add")[-1].details
    for bad in ([0], [-2], ["4"], [True], "4,9"):
        with pytest.raises(ValidationError, match="the file's row numbers"):
            store.add_example_set("x", b"x", "x.csv", "c" * 64, 1, "alice", skipped_rows=bad)


def test_migration_0007_adds_jobs_and_leaves_example_sets_without_skips(
    blank_db_url: str, tmp_path: Path
) -> None:
    engine = create_store_engine(blank_db_url)
    try:
        upgrade_to(engine, "0006")
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO users (name, role, password_hash, active, created_at,"
                    " credential_version) VALUES ('alice', 'builder', 'x', true,"
                    " CURRENT_TIMESTAMP, 1)"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO example_sets (name, filename, content_hash, file_sha256,"
                    " row_count, created_by, created_at) VALUES ('Old', 'old.csv', :h, :h, 5,"
                    " 'alice', CURRENT_TIMESTAMP)"
                ),
                {"h": "a" * 64},
            )
    finally:
        engine.dispose()
    with Store.open(blank_db_url, tmp_path, password_hasher=FAST_HASHER) as store:
        assert current_revision(store.engine) == HEAD_REVISION
        (old,) = store.list_example_sets()
        assert (old.name, old.row_count, old.skipped_rows) == ("Old", 5, None)
        assert store.list_jobs() == []
