"""The browser tests' harness: a real app process on 127.0.0.1 with demo accounts, Debian's
Chromium driven by Playwright, and the steps every journey takes (sign in, pick a tab, choose an
option, take a screenshot). Its fixtures are in ``tests/app/conftest.py``."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"
LONG = 600_000  # ms: model work on two shared CPU cores
PASSWORD_LINE = re.compile(r"(\w+)\s+user: (\S+)\s+password: (\S+)")
EVIL = "<script>window.__pwned = 1</script><b id='evil-bold'>bold</b> **not bold**"


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.data_dir = tmp / "data"
        self.db = f"sqlite:///{tmp / 'lab.db'}"
        self.log = (tmp / "server.log").open("w+", encoding="utf-8")
        env = dict(os.environ, PYTHONUNBUFFERED="1", GRADIO_ANALYTICS_ENABLED="False")
        env.pop("DATABASE_URL", None)
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--port", str(self.port)]
            + ["--data-dir", str(self.data_dir), "--db", self.db],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.passwords = self._wait()

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(encoding="utf-8")

    def _wait(self, timeout: float = 180) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"app.py exited:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url + "login", timeout=2) as response:
                    if response.status == 200:
                        found = PASSWORD_LINE.findall(self.output())
                        return {name: password for _, name, password in found}
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"app.py did not answer within {timeout} s:\n{self.output()}")

    def store(self):
        from storage import Store

        return Store.open(self.db, self.data_dir)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def shot(page, name: str, full: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full)


def login(page, server: Server, name: str) -> None:
    from playwright.sync_api import expect

    page.goto(server.url + "login")
    page.locator("#username").fill(name)
    page.locator("#password").fill(server.passwords[name])
    page.locator("button[type=submit]").click()
    expect(page.locator("#main-panel")).to_be_visible()
    expect(page.locator("#header-user")).to_contain_text(name)


def logout(page) -> None:
    from playwright.sync_api import expect

    page.locator("#logout-button").click()
    expect(page.locator("form[action='/login']")).to_be_visible()


def tab(page, label: str) -> None:
    page.get_by_role("tab", name=label).click()


def choose(page, elem_id: str, option: str | re.Pattern) -> None:
    """Pick an option of a gradio dropdown."""
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option).first.click()
