"""Whose forwarding headers count (issue 19 point 3).

uvicorn believes ``X-Forwarded-For`` / ``X-Forwarded-Proto`` only from the proxies listed in
``STEERING_TRUSTED_PROXIES``; with none listed it believes nobody, loopback included, and the
sign-in throttle and the audit trail use the socket's peer. Shown against real app processes on
127.0.0.1 with the variable unset: the tests' launcher (which starts the server through the same
``dashboard.web.launch.serve`` as ``app.py``) and ``app.py`` itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dashboard.web.launch import proxy_options
from dashboard.web.settings import TRUSTED_PROXIES
from dashboard.web.settings import settings as web_settings
from dashboard.web.throttle import PAIR_FREE_FAILURES
from storage import Store

from .conftest import BASE_ENV, ROOT, Server, free_port, make_store, start_server
from .helpers import sign_in

WRONG = "not the password"
UNTRUSTED_ENV = {k: v for k, v in BASE_ENV.items() if k != TRUSTED_PROXIES}


def forged(index: int) -> dict[str, str]:
    """A different client address on every try, as an attacker on this machine would write."""
    return {"x-forwarded-for": f"203.0.113.{index}", "x-forwarded-proto": "https"}


def failed_clients(store: Store, name: str) -> list[str]:
    return [
        e.details.get("client") for e in store.audit_events(action="login.failed", object_id=name)
    ]


def test_uvicorn_is_told_exactly_the_trusted_proxies() -> None:
    nobody = proxy_options(web_settings({}))
    assert nobody == {"proxy_headers": False, "forwarded_allow_ips": []}
    listed = proxy_options(web_settings({TRUSTED_PROXIES: "10.0.0.5, 127.0.0.1"}))
    assert listed == {"proxy_headers": True, "forwarded_allow_ips": ["10.0.0.5", "127.0.0.1"]}


@pytest.fixture(scope="module")
def untrusted(tmp_path_factory) -> Iterator[tuple[Server, Store]]:
    """The tests' app with ``STEERING_TRUSTED_PROXIES`` unset (none in this environment either)."""
    data_dir = tmp_path_factory.mktemp("no-proxies")
    store = make_store(data_dir)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(TRUSTED_PROXIES, raising=False)
        patch.delenv("FORWARDED_ALLOW_IPS", raising=False)
        running = start_server(data_dir, UNTRUSTED_ENV)
    yield running, store
    running.stop()
    store.close()


def test_a_forged_forwarded_for_does_not_escape_the_throttle(untrusted) -> None:
    server, store = untrusted
    with server.client() as client:
        for i in range(PAIR_FREE_FAILURES):
            assert sign_in(client, "ann", WRONG, **forged(i)).status_code == 401
        # A new "address" with the right password: still this client's wait, not checked.
        refused = sign_in(client, "ann", **forged(99))
        assert refused.status_code == 429, refused.text
        assert "for this name from your address" in refused.json()["error"]
        time.sleep(refused.json()["retry_after_s"] + 0.05)
        assert sign_in(client, "ann", **forged(100)).status_code == 200
    # Every failure and the wait were recorded under the socket's peer, never a forged value.
    assert failed_clients(store, "ann") == ["127.0.0.1"] * PAIR_FREE_FAILURES
    throttled = store.audit_events(action="login.throttled", object_id="ann")
    assert [e.details["client"] for e in throttled] == ["127.0.0.1"]


def test_a_forged_forwarded_proto_does_not_make_the_cookie_https_only(untrusted) -> None:
    server, _ = untrusted
    with server.client() as client:
        cookie = sign_in(client, "bob", **forged(1)).headers["set-cookie"]
    assert "secure" not in [part.strip().lower() for part in cookie.split(";")]


def test_a_listed_proxy_is_still_believed(server, lab) -> None:
    # The control: the shared app trusts 127.0.0.1 as a proxy (BASE_ENV), so there the address
    # the "proxy" forwards is the one the audit records.
    with server.client() as client:
        proxied = {"x-forwarded-for": "198.51.100.7"}
        assert sign_in(client, "bob", WRONG, **proxied).status_code == 401
    assert failed_clients(lab.store, "bob")[-1] == "198.51.100.7"


def test_app_py_records_the_socket_peer_behind_a_forged_header(tmp_path: Path) -> None:
    # app.py itself, as users start it (no model loaded: sign-in needs none).
    data_dir = tmp_path / "data"
    make_store(data_dir).close()
    port = free_port()
    env = {**os.environ, **UNTRUSTED_ENV, "GRADIO_ANALYTICS_ENABLED": "False"}
    for name in (TRUSTED_PROXIES, "FORWARDED_ALLOW_IPS", "DATABASE_URL", "STEERING_DATA_DIR"):
        env.pop(name, None)
    log = tmp_path / "app.log"
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--no-preload"]
            + ["--data-dir", str(data_dir)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, log.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, "app.py did not answer in time"
            try:
                httpx.get(url + "/login", timeout=2.0)
                break
            except httpx.TransportError:
                time.sleep(0.5)
        with httpx.Client(base_url=url, timeout=30.0) as client:
            assert sign_in(client, "cat", WRONG, **forged(7)).status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=30)
    with Store.open(None, data_dir) as store:
        assert failed_clients(store, "cat") == ["127.0.0.1"]
