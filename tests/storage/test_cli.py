"""The command line: exact commands, exit codes 0 / 1 / 2, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.cli import main
from storage.migrate import HEAD_REVISION

ROOT = Path(__file__).resolve().parents[2]


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_add_user_list_verify_export(db_url, data_dir, capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("STEERING_PASSWORD", "a good password")
    db = ["--db", db_url, "--data-dir", str(data_dir)]
    assert cli(capsys, "add-user", "ada", "--role", "admin", *db)[:2] == (
        0,
        "added user ada (admin)\n",
    )
    monkeypatch.setenv("DATABASE_URL", db_url)  # the defaults when --db / --data-dir are not given
    monkeypatch.setenv("STEERING_DATA_DIR", str(data_dir))
    assert cli(capsys, "add-user", "bob", "--role", "reviewer")[0] == 0
    code, out, _ = cli(capsys, "users", *db)
    assert code == 0 and [line.split()[:3] for line in out.splitlines()] == [
        ["ada", "admin", "active"],
        ["bob", "reviewer", "active"],
    ]
    code, out, _ = cli(capsys, "verify", *db)
    assert code == 0 and out.splitlines()[0] == (
        "audit chain ok: 2 events (2 signed at write time); 0 checkpoints match; the stored "
        "records match it"
    )
    for fmt in ("csv", "json"):
        target = tmp_path / f"audit.{fmt}"
        code, out, _ = cli(capsys, "export-audit", "--format", fmt, "--out", str(target), *db)
        assert code == 0 and out.startswith(f"exported {2 if fmt == 'csv' else 3} events")
    assert len(json.loads((tmp_path / "audit.json").read_text())["events"]) == 3
    code, out, _ = cli(capsys, "migrate", *db)
    assert (code, out) == (
        0,
        f"database schema is at revision {HEAD_REVISION}\naudit trail already signed: nothing to do\n",
    )


def test_password_prompt_asks_twice(db_url, data_dir, capsys, monkeypatch) -> None:
    answers = iter(["first password", "second password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    code, out, err = cli(capsys, "add-user", "eve", "--role", "builder", "--db", db_url)
    assert (code, out) == (
        2,
        "",
    ) and err == "error: The two passwords do not match; nothing was changed.\n"
    answers = iter(["same password", "same password"])
    assert cli(capsys, "add-user", "eve", "--role", "builder", "--db", db_url)[0] == 0


def test_user_errors_exit_2_with_one_line(db_url, data_dir, capsys, monkeypatch) -> None:
    monkeypatch.setenv("STEERING_PASSWORD", "a good password")
    db = ["--db", db_url, "--data-dir", str(data_dir)]
    assert cli(capsys, "add-user", "ada", "--role", "admin", *db)[0] == 0
    code, out, err = cli(capsys, "add-user", "ada", "--role", "admin", *db)
    assert (code, err) == (2, "error: A user named 'ada' already exists.\n")
    monkeypatch.setenv("STEERING_PASSWORD", "short")
    code, _, err = cli(capsys, "add-user", "zed", "--role", "admin", *db)
    assert err == "error: The password is too short: use at least 12 characters for an admin.\n"
    assert code == 2
    code, _, err = cli(capsys, "verify", "--db", "postgresql://postgres@127.0.0.1:1/none")
    assert code == 2 and err.startswith("error: Cannot reach the database")
    with pytest.raises(SystemExit) as info:
        main(["add-user", "x", "--role", "owner"])
    assert info.value.code == 2


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "storage", *argv], cwd=ROOT, capture_output=True, text=True
    )


def test_verify_exits_1_on_tampering_in_a_real_process(
    store, people, db_url, data_dir, raw
) -> None:
    with raw.begin() as conn:
        conn.execute(text('UPDATE audit_events SET details = \'{"role":"admin"}\' WHERE seq=2'))
    done = run("verify", "--db", db_url, "--data-dir", str(data_dir))
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("audit chain BROKEN at event 2 (edited)")


def test_user_error_in_a_real_process_has_no_traceback() -> None:
    done = run("users", "--db", "mysql://nobody@nowhere/db")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: Unsupported database 'mysql'")
