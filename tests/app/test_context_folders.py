"""The temporary export folder an AppContext makes is removed when the context closes (and when
the app shuts down); a folder handed in stays the caller's."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from dashboard.common import export_folder
from dashboard.context import AppContext
from storage import Store
from tests.app.browser import ROOT, free_port


def test_close_removes_the_temporary_export_folder_and_what_is_in_it(tmp_path):
    store = Store.open(data_dir=tmp_path / "data")
    ctx = AppContext(store=store, default_model="tiny")
    folder = ctx.export_dir
    assert folder.is_dir() and folder.name.startswith("cvlab-")
    left = export_folder(ctx, "bob") / "audit-trail.csv"  # a download nobody fetched
    left.write_text("id,action\n", encoding="utf-8")
    ctx.close()
    assert not folder.exists()
    ctx.close()  # a second close is harmless
    store.close()


def test_each_context_has_its_own_folder_and_one_dropped_unclosed_is_cleaned_up(tmp_path):
    store = Store.open(data_dir=tmp_path / "data")
    first, second = AppContext(store=store), AppContext(store=store)
    assert first.export_dir != second.export_dir
    kept, dropped = first.export_dir, second.export_dir
    del second
    gc.collect()
    assert not dropped.exists() and kept.is_dir()
    first.close()
    store.close()


def test_a_folder_handed_in_is_left_in_place(tmp_path):
    store = Store.open(data_dir=tmp_path / "data")
    given = tmp_path / "exports"
    ctx = AppContext(store=store, export_dir=given)
    export_folder(ctx, "bob")
    ctx.close()
    assert given.is_dir() and any(given.iterdir())
    store.close()


def test_the_app_removes_its_export_folder_when_it_shuts_down(tmp_path):
    # A real app.py process with its own temporary directory: the folder exists while it serves
    # and is gone once SIGTERM has stopped it.
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    port = free_port()
    env = dict(os.environ, TMPDIR=str(temporary), GRADIO_ANALYTICS_ENABLED="False")
    env.pop("DATABASE_URL", None)
    log = tmp_path / "app.log"
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--no-preload"]
            + ["--data-dir", str(tmp_path / "data"), "--db", f"sqlite:///{tmp_path / 'lab.db'}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for(f"http://127.0.0.1:{port}/login", process, log)
            made = sorted(temporary.glob("cvlab-*"))
            assert len(made) == 1 and made[0].is_dir()
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)  # uvicorn re-raises SIGTERM once it has shut down
        finally:
            if process.poll() is None:
                process.kill()
    assert not made[0].exists()


def _wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"app.py exited:\n{log.read_text(encoding='utf-8')}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"app.py did not answer within {timeout} s")
