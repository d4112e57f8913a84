"""SIGKILL in the middle of writing: every committed change is there with its event."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from storage import Store

from .conftest import FAST_HASHER
from .helpers import evaluation_results, safetensors_bytes

ROOT = Path(__file__).resolve().parents[2]


def test_sigkill_loses_nothing_committed(db_url: str, data_dir: Path, raw) -> None:
    with Store.open(db_url, data_dir, password_hasher=FAST_HASHER) as store:
        store.add_user("alice", "builder", "password for alice")
        vector = store.add_vector(safetensors_bytes({"layer.1": [1.0]}), {"model_id": "m"}, "alice")
        evaluation = store.add_evaluation(
            vector.id, {"layers": [1, 2]}, evaluation_results([0.0, 0.5]), "alice"
        )
        setup_events = store.verify().count
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.storage.workers", db_url, str(data_dir)]
        + [str(vector.id), str(evaluation.id)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    reported: list[str] = []
    try:
        assert child.stdout is not None
        while len(reported) < 30:
            line = child.stdout.readline()
            assert line, "the writer died before it was killed"
            reported.append(line.split())
        time.sleep(random.uniform(0, 0.03))  # land anywhere inside the next transaction
        os.kill(child.pid, signal.SIGKILL)
        reported += [line.split() for line in child.stdout.read().splitlines()]
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL

    created = {int(n) for kind, n in reported if kind == "created"}
    submitted = {int(n) for kind, n in reported if kind == "submitted"}
    events = {int(n) for kind, n in reported if kind == "event"}
    with raw.connect() as conn:
        if raw.dialect.name == "sqlite":
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        rows = dict(conn.execute(text("SELECT id, status FROM submissions")).all())
        audited = conn.execute(
            text("SELECT action, object_id FROM audit_events WHERE object_type = 'submission'")
        ).all()
        seqs = {s for (s,) in conn.execute(text("SELECT seq FROM audit_events")).all()}
    # every change the writer saw committed is there...
    assert created <= set(rows) and events <= seqs
    assert all(rows[i] == "submitted" for i in submitted)
    # ...and every stored change has its event, and every event its change (both or neither)
    assert {int(i) for a, i in audited if a == "submission.create"} == set(rows)
    assert {int(i) for a, i in audited if a == "submission.submit"} == {
        i for i, status in rows.items() if status == "submitted"
    }
    with Store.open(db_url, data_dir, password_hasher=FAST_HASHER) as store:
        result = store.verify()
        assert result.ok, result.message
        assert result.count >= setup_events + len(created) + len(submitted) + len(events)
        store.record_event("system", "check", "store", "after-crash", {})  # still writable
        assert store.verify().ok
