"""Sign-in throttling against a real app process (base delay 1 s; 127.0.0.1 is a trusted proxy,
so each test picks its client address with X-Forwarded-For)."""

from __future__ import annotations

import time

import pytest

from .helpers import sign_in

WRONG = "not the password"


def attempt(client, name: str, address: str, password: str | None = None):
    return sign_in(client, name, *([password] if password else []), **{"x-forwarded-for": address})


def audit_count(lab, action: str, name: str) -> int:
    return len(lab.store.audit_events(action=action, object_id=name))


def test_throttle_doubles_after_five_failures_and_refuses_the_right_password(server, lab) -> None:
    address = "10.0.0.1"
    with server.client() as client:
        failed_before = audit_count(lab, "login.failed", "eve")
        for _ in range(5):
            assert attempt(client, "eve", address, WRONG).status_code == 401
        # Sixth try at once, with the right password: refused, and not checked.
        refused = attempt(client, "eve", address)
        assert refused.status_code == 429
        first_wait = refused.json()["retry_after_s"]
        assert 0 < first_wait <= 1.0
        assert refused.headers["retry-after"] == "1"
        assert "wait 1 second" in refused.json()["error"]
        assert attempt(client, "eve", address).status_code == 429  # same wait, not audited again
        assert audit_count(lab, "login.throttled", "eve") == 1

        time.sleep(first_wait + 0.05)
        assert attempt(client, "eve", address, WRONG).status_code == 401  # sixth failure
        second = attempt(client, "eve", address)
        assert second.status_code == 429
        second_wait = second.json()["retry_after_s"]
        assert 1.0 < second_wait <= 2.0  # twice the first
        assert audit_count(lab, "login.throttled", "eve") == 2
        # Every failure was audited once; refused tries were not.
        assert audit_count(lab, "login.failed", "eve") - failed_before == 6

        time.sleep(second_wait + 0.05)
        assert attempt(client, "eve", address).status_code == 200


def test_the_form_says_how_long_to_wait(server) -> None:
    address = "10.0.0.4"
    with server.client() as client:
        form = {"username": "ivy", "password": WRONG}
        for _ in range(5):
            client.post("/login", data=form, headers={"x-forwarded-for": address})
        page = client.post("/login", data=form, headers={"x-forwarded-for": address})
    assert page.status_code == 429
    assert page.headers["content-type"].startswith("text/html")
    assert (
        "Too many failed sign-ins for this name from your address: wait 1 second and try again."
        in page.text
    )


def test_a_colleague_elsewhere_is_not_locked_out_by_ten_wrong_tries(server) -> None:
    with server.client() as client:
        statuses = [attempt(client, "fay", "10.0.0.2", WRONG).status_code for _ in range(10)]
        assert statuses[:5] == [401] * 5 and 429 in statuses[5:]
        assert attempt(client, "fay", "10.0.0.3").status_code == 200


@pytest.mark.slow
def test_one_address_gets_at_most_100_failed_tries_an_hour(server) -> None:
    address = "10.0.9.9"
    with server.client() as client:
        for i in range(100):  # 20 names x 5: no name reaches its own wait
            assert attempt(client, f"guess{i // 5}", address, WRONG).status_code == 401
        capped = attempt(client, "gus", address)
        assert capped.status_code == 429
        assert "from your address" in capped.json()["error"]
        assert capped.json()["retry_after_s"] > 3000  # the hour's oldest failure must age out
        assert attempt(client, "gus", "10.0.9.8").status_code == 200
