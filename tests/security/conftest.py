"""Real app processes on 127.0.0.1 for the security tests, with users in a temporary store."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from storage import Store

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"
USERS = (
    ("ann", "builder"),
    ("bob", "reviewer"),
    ("cat", "builder"),
    ("dan", "builder"),
    ("eve", "builder"),
    ("fay", "reviewer"),
    ("gus", "builder"),
    ("hal", "builder"),
    ("ivy", "builder"),
    ("jo", "builder"),
    ("kim", "builder"),
)
START_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A running app process and what the tests need to reach it and its store."""

    url: str
    data_dir: Path
    process: subprocess.Popen

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0, follow_redirects=False, **kwargs)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)


def start_server(data_dir: Path, env: dict[str, str], *extra_args: str) -> Server:
    port = free_port()
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    log = (data_dir / "server.log").open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.security.serve_app",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            *extra_args,
        ],
        cwd=ROOT,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((data_dir / "server.log").read_text()[-3000:])
        try:
            httpx.get(url + "/login", timeout=2.0)
            return Server(url, data_dir, process)
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the app did not start in time")


def make_store(data_dir: Path) -> Store:
    store = Store.open(None, data_dir)
    for name, role in USERS:
        store.add_user(name, role, PASSWORD)
    return store


BASE_ENV = {
    "STEERING_LOGIN_BASE_DELAY_S": "1",
    "STEERING_TRUSTED_PROXIES": "127.0.0.1",
    "STEERING_MAX_UPLOAD_MB": "1",
    "STEERING_DOWNLOAD_TTL_S": "2",
    "STEERING_SESSION_IDLE_MIN": "30",
}


@dataclass
class Lab:
    """The temporary store (opened in the test process too) and its data folder."""

    store: Store
    data_dir: Path


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> Iterator[Lab]:
    data_dir = tmp_path_factory.mktemp("lab")
    with make_store(data_dir) as opened:
        yield Lab(opened, data_dir)


@pytest.fixture(scope="session")
def server(lab) -> Iterator[Server]:
    """The app as configured for most tests (short throttle base, 1 MB uploads, 2 s links)."""
    running = start_server(lab.data_dir, BASE_ENV)
    yield running
    running.stop()
