"""Several processes appending at once keep one linear, verifiable chain."""

from __future__ import annotations

import multiprocessing

from sqlalchemy import create_engine, text

from storage import Store

from .workers import append_events

WORKERS, PER_WORKER = 4, 25


def test_processes_appending_at_once_keep_one_chain(blank_db_url: str, tmp_path) -> None:
    """Four spawned processes open a blank database together (racing to migrate it: the
    migration lock lets one do it) and then append as fast as they can."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(WORKERS) as pool:
        results = pool.starmap(
            append_events, [(blank_db_url, str(tmp_path), w, PER_WORKER) for w in range(WORKERS)]
        )
    all_seqs = sorted(seq for seqs in results for seq in seqs)
    assert all_seqs == list(range(1, WORKERS * PER_WORKER + 1))  # no gaps, no duplicates
    for seqs in results:
        assert seqs == sorted(seqs)  # each writer's own events stay in its order
    with Store.open(blank_db_url, tmp_path) as store:
        result = store.verify()
    # one more: the audit.checkpoint event recording the checkpoint written at event 100
    assert (result.ok, result.count) == (True, WORKERS * PER_WORKER + 1), result.message
    raw = create_engine(blank_db_url)
    with raw.connect() as conn:
        per_worker = conn.execute(
            text(
                "SELECT object_id, count(*) FROM audit_events "
                "WHERE action != 'audit.checkpoint' GROUP BY object_id"
            )
        ).all()
    raw.dispose()
    assert sorted(per_worker) == [(str(w), PER_WORKER) for w in range(WORKERS)]
