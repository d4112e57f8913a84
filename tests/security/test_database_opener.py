"""The store is the only opener of the database (issue 19 points 2 and 9).

Reading ``lab.db`` through an upload event once made the app process open the file beside its
store's engine; closing that second descriptor dropped SQLite's POSIX locks, so the next CLI
writer deleted the WAL the app still used, and the app acknowledged sign-ins that never reached
the disk. Here the CLI writes (``steering-off``/``steering-on``, ``add-api-key``) while the app
serves sign-ins and reviewers' decisions, and a builder keeps naming the database files in
upload events (refused: no event can name them now). Then the app is SIGKILLed: every write
either side acknowledged is on disk, and ``storage verify`` exits 0 with the event count both
sides saw. Every loop is bounded and everything runs on 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from dashboard.web.event_gate import NOT_UPLOADED
from storage import Store
from tests.storage.helpers import make_submission

from .conftest import BASE_ENV, PASSWORD, ROOT, make_store, start_server
from .helpers import call, sign_in, signed_in

SUBMISSIONS = 6
CLI_ROUNDS = 4  # each: one switch flip and one new API key
MAX_SIGN_INS = 120
SIGN_IN_USERS = ("cat", "dan", "eve", "gus", "hal", "ivy", "jo", "kim")


# Written by the store on its own (after decisions, every 100 events), not at anyone's request.
CHECKPOINT_ACTION = "audit.checkpoint"


@dataclass
class Acknowledged:
    """The writes one side was told succeeded, as the audit actions each one records."""

    actions: Counter[str] = field(default_factory=Counter)
    decisions: dict[int, str] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)
    steering: bool | None = None
    problems: list[str] = field(default_factory=list)


def storage_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "storage", "--data-dir", str(data_dir), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def cli_writes(data_dir: Path, seen: Acknowledged) -> None:
    for round_ in range(CLI_ROUNDS):
        on = round_ % 2 == 1
        flipped = storage_cli(data_dir, "steering-on" if on else "steering-off")
        if flipped.returncode == 0 and "already" not in flipped.stdout:
            seen.actions["api.steering_on" if on else "api.steering_off"] += 1
            seen.steering = on
        else:
            seen.problems.append(f"switch: {flipped.returncode} {flipped.stdout}{flipped.stderr}")
        name = f"team-{round_}"
        added = storage_cli(data_dir, "add-api-key", name)
        if added.returncode == 0:
            seen.actions["api_key.create"] += 1
            seen.keys.append(name)
        else:
            seen.problems.append(f"add-api-key: {added.returncode} {added.stderr}")


def app_writes(server, submissions: list[int], cli: threading.Thread, seen: Acknowledged) -> None:
    """Sign-ins and decisions until the CLI is done (and every submission is decided)."""
    database = [str(server.data_dir / name) for name in ("lab.db", "lab.db-wal", "lab.db-shm")]
    with signed_in(server, "bob") as reviewer, signed_in(server, "ann") as builder:
        seen.actions["login"] += 2
        pending = list(submissions)
        for turn in range(MAX_SIGN_INS):
            if not cli.is_alive() and not pending:
                break
            # The attack that split the database: refused before anything opens the file.
            named = {"path": database[turn % 3], "meta": {"_type": "gradio.FileData"}}
            refused = builder.post("/gradio_api/call/upload_size", json={"data": [named]})
            if refused.status_code != 400 or refused.json() != {"error": NOT_UPLOADED}:
                seen.problems.append(f"upload event naming the database: {refused.text}")
            with server.client() as visitor:
                name = SIGN_IN_USERS[turn % len(SIGN_IN_USERS)]
                if sign_in(visitor, name, PASSWORD).status_code == 200:
                    seen.actions["login"] += 1
                else:
                    seen.problems.append(f"sign-in of {name} failed")
            if pending:
                submission = pending.pop(0)
                decision = "approve" if submission % 2 else "reject"
                status, output = call(reviewer, "decide", [submission, decision])
                if status == "complete":
                    seen.actions[f"submission.{decision}"] += 1
                    seen.decisions[submission] = output[0]
                else:
                    seen.problems.append(f"decision on {submission}: {status} {output}")


def test_cli_and_app_writes_all_survive_a_sigkill_and_verify(tmp_path) -> None:
    with make_store(tmp_path) as store:
        submissions = []
        for _ in range(SUBMISSIONS):
            draft = make_submission(store, "ann")
            submissions.append(store.submit(draft.id, "ann", draft.version).id)
        before = store.verify()
    assert before.ok
    server = start_server(tmp_path, BASE_ENV)
    app, cli = Acknowledged(), Acknowledged()
    try:
        writer = threading.Thread(target=cli_writes, args=(tmp_path, cli))
        writer.start()
        app_writes(server, submissions, writer, app)
        writer.join(timeout=300)
        assert not writer.is_alive()
        with signed_in(server, "bob") as reviewer:
            app.actions["login"] += 1
            status, (app_view,) = call(reviewer, "chain_length", [])
        assert status == "complete"
    finally:
        server.process.kill()  # SIGKILL: nothing gets a chance to flush or close
        server.process.wait(timeout=30)
    assert app.problems == [] and cli.problems == []
    assert len(app.decisions) == SUBMISSIONS and len(cli.keys) == CLI_ROUNDS

    verified = storage_cli(tmp_path, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    total = re.search(r"audit chain ok: (\d+) events", verified.stdout)
    assert total is not None, verified.stdout
    assert int(total.group(1)) == app_view  # the disk holds what the app saw before the kill
    with Store.open(None, tmp_path) as store:
        on_disk = Counter(e.action for e in store.audit_events(after_seq=before.count))
        for submission, status in app.decisions.items():
            assert store.get_submission(submission).status == status
        assert {k.name for k in store.list_api_keys()} == set(cli.keys)
        assert store.api_switch("steering") is cli.steering
    # Every acknowledged write of either side is there, once; nothing else but checkpoints.
    acknowledged = app.actions + cli.actions
    assert on_disk - Counter({CHECKPOINT_ACTION: on_disk[CHECKPOINT_ACTION]}) == acknowledged
    assert app_view == before.count + sum(on_disk.values())
