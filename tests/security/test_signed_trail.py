"""The API serves only what the signed audit trail approved: an insider's SQL is not enough.

Against the real app (``app.py``) on 127.0.0.1 with a tiny model: ``UPDATE submissions SET
status='approved'`` on a submission waiting for review, and ``SET strength=25`` on an approved
one, behind the ORM. Both get 403 ``record_mismatch`` on ``/v1`` and ``storage verify`` exits 1
naming each submission and field; before the edits the same calls are served and verify says 0.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from steering.engine.models import fingerprint, load_model
from tests.api.conftest import _start_app, add_submission, random_vector, save_tiny_model
from tests.security.conftest import ROOT, START_TIMEOUT_S, Server, make_store


@dataclass
class TrailLab:
    server: Server
    data_dir: Path
    model_name: str
    secret: str
    approved: int
    waiting: int


def _wait_for_model(url: str, secret: str) -> str:
    """Until /readyz says the preloaded model is loaded; its name as /v1/models lists it."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if httpx.get(url + "/readyz", timeout=5).status_code == 200:
            listed = httpx.get(
                url + "/v1/models", headers={"authorization": f"Bearer {secret}"}, timeout=5
            )
            return listed.json()["data"][0]["id"]
        time.sleep(0.5)
    raise RuntimeError("the app did not load the model in time")


@pytest.fixture(scope="module")
def trail_lab(tmp_path_factory) -> Iterator[TrailLab]:
    root = tmp_path_factory.mktemp("signed-trail")
    data_dir, model_dir = root / "data", root / "model"
    save_tiny_model(model_dir)
    model = load_model(str(model_dir))
    lineage = {"model_id": str(model_dir), "model_fingerprint": fingerprint(model)}
    vector = random_vector(model, 1)
    with make_store(data_dir) as store:
        approved = add_submission(store, vector, lineage, "approved")
        waiting = add_submission(store, vector, lineage, "submitted")
        _, secret = store.add_api_key("team")
    server = _start_app(data_dir, model_dir)
    try:
        name = _wait_for_model(server.url, secret)
        yield TrailLab(server, data_dir, name, secret, approved, waiting)
    finally:
        server.stop()


def ask(lab: TrailLab, submission: int) -> httpx.Response:
    return httpx.post(
        lab.server.url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {lab.secret}"},
        json={
            "model": lab.model_name,
            "messages": [{"role": "user", "content": "What is two plus two?"}],
            "temperature": 0,
            "max_tokens": 4,
            "control_vector": {"submission": submission},
        },
        timeout=120,
    )


def verify(lab: TrailLab) -> tuple[int, str]:
    """``python -m storage verify`` on the app's data folder, as an operator runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "storage", "verify", "--data-dir", str(lab.data_dir)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def test_rows_edited_behind_the_store_get_403_record_mismatch_and_fail_verify(
    trail_lab: TrailLab,
) -> None:
    lab = trail_lab
    served = ask(lab, lab.approved)
    assert served.status_code == 200, served.text
    assert served.json()["control_vector"]["strength"] == 2.0
    waiting = ask(lab, lab.waiting)
    assert waiting.status_code == 403
    assert waiting.json()["error"]["code"] == "submission_not_allowed"
    code, out = verify(lab)
    assert code == 0, out

    with sqlite3.connect(lab.data_dir / "lab.db") as conn:  # the insider, behind the ORM
        conn.execute("UPDATE submissions SET strength = 25 WHERE id = ?", (lab.approved,))
        conn.execute("UPDATE submissions SET status = 'approved' WHERE id = ?", (lab.waiting,))
    conn.close()

    for submission in (lab.approved, lab.waiting):
        refused = ask(lab, submission)
        assert refused.status_code == 403
        assert refused.json() == {
            "error": {
                "type": "permission_error",
                "code": "record_mismatch",
                "message": f"the stored record of submission {submission} does not match the "
                "signed audit trail",
            }
        }
    code, out = verify(lab)
    assert code == 1, out
    assert f"Submission {lab.approved}: strength is 25.0 in the database but 2.0" in out
    assert f"Submission {lab.waiting}: status is 'approved' in the database but 'submitted'" in out
