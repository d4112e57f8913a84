"""app.py and the command lines check every setting first: each bad variable is one ``error:``
line on stderr and the process exits 2, with no traceback, before the store is opened, a model
is loaded or a server starts (the data folder is never even created)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUICK_S = 20.0  # importing the settings takes well under a second; a model load takes longer


def run(args: list[str], tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    # The developer's own STEERING_* variables stay out of it; only the planted ones count.
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEERING_")}
    env.update(variables, PYTHONPATH=str(ROOT), STEERING_DATA_DIR=str(tmp_path / "data"))
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - started < QUICK_S
    assert not (tmp_path / "data").exists(), "the store was opened before the settings check"
    return done


def test_app_names_a_bad_thread_count_and_exits_2(tmp_path):
    done = run([str(ROOT / "app.py")], tmp_path, STEERING_THREADS="four")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "error: STEERING_THREADS must be a whole number of threads, got 'four'\n"


def test_app_names_a_bad_api_rate_and_exits_2(tmp_path):
    done = run([str(ROOT / "app.py")], tmp_path, STEERING_API_RATE="x")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "error: STEERING_API_RATE must be a whole number of requests per minute, at least 1, "
        "got 'x'\n"
    )


def test_app_reports_every_bad_variable_of_every_package(tmp_path):
    done = run(
        [str(ROOT / "app.py")],
        tmp_path,
        STEERING_THREADS="four",
        STEERING_MAX_PROMPT_TOKENS="0",
        STEERING_PORT="web",
        STEERING_API_RATE="x",
    )
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert [line.split()[1] for line in lines] == [
        "STEERING_THREADS",
        "STEERING_MAX_PROMPT_TOKENS",
        "STEERING_PORT",
        "STEERING_API_RATE",
    ]
    assert all(line.startswith("error: ") for line in lines)


@pytest.mark.parametrize(
    "command",
    [["-m", "steering", "info"], ["-m", "steering.engine.bundled", "list"]],
    ids=["steering", "bundled"],
)
def test_the_engine_command_lines_check_settings_first(tmp_path, command):
    done = run(command, tmp_path, STEERING_MAX_PROMPT_TOKENS="many", STEERING_THREADS="-1")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "error: STEERING_THREADS must be a whole number of threads, got '-1'\n"
        "error: STEERING_MAX_PROMPT_TOKENS must be a whole number of tokens, at least 1, "
        "got 'many'\n"
    )
