"""The event gate's rules without a server: which values name files, uploads used once by their
own sign-in, and session hashes owned by the sign-in that used them first."""

from __future__ import annotations

from dashboard.web.event_gate import handles_named
from dashboard.web.file_refs import file_references, path_of_file_url
from dashboard.web.session_owners import SessionOwners
from dashboard.web.upload_ledger import UploadLedger

META = {"_type": "gradio.FileData"}


def test_every_file_reference_is_found_however_deep_and_in_whatever_spelling() -> None:
    body = {
        "data": [
            "plain text",
            {"path": "/a", "meta": META},
            [[{"path": "/b"}]],  # no meta: Gradio's older FileData, still a reference
            {"headers": ["x"], "data": [[{"url": "http://h/gradio_api/file=/c%20d"}]]},
            {"meta": META},  # names no path at all
            {"path": 7},
            "/gradio_api/file=/e",
            {"path": "/f", "url": "/gradio_api/file/%2e%2e/g"},
            {"path": "/h", "url": "blob:http://h/1"},
        ],
        "event_data": {"value": {"path": "/i"}},
    }
    found = list(file_references(body))
    assert sorted(p for p in found if p is not None) == [
        "../g",
        "/a",
        "/b",
        "/c d",
        "/e",
        "/f",
        "/h",
        "/i",
    ]
    assert found.count(None) == 4  # no path beside a url, meta alone, a number, a blob: url
    assert list(file_references({"data": ["text", 3, None, {"value": "x"}]})) == []


def test_a_deeply_nested_body_is_walked_without_recursion() -> None:
    body: object = {"path": "/deep"}
    for _ in range(5000):
        body = [body]
    assert list(file_references(body)) == ["/deep"]


def test_file_urls_are_decoded_once_and_other_urls_name_nothing() -> None:
    assert path_of_file_url("http://127.0.0.1:7860/gradio_api/file=/x/a%2Fb?y=1") == "/x/a/b"
    assert path_of_file_url("/gradio_api/file=%252e") == "%2e"
    assert path_of_file_url("https://elsewhere.example/x.csv") is None
    assert path_of_file_url(None) is None


def test_an_upload_is_used_once_by_its_own_sign_in_and_all_or_nothing() -> None:
    ledger = UploadLedger()
    ledger.record("ann-1", ["/up/a", "/up/b"])
    assert not ledger.take("ann-2", ["/up/a"])  # the same user's other sign-in
    assert not ledger.take("ann-1", ["/up/a", "/etc/passwd"])
    assert not ledger.take("ann-1", ["/up/a", None])
    assert ledger.unused("ann-1") == ["/up/a", "/up/b"]  # refused takes used nothing
    assert ledger.take("ann-1", ["/up/a", "/up/a"])
    assert not ledger.take("ann-1", ["/up/a"])
    ledger.give_back("ann-1", ["/up/a"])
    assert ledger.unused("ann-1") == ["/up/b", "/up/a"]
    ledger.forget("ann-1")
    assert ledger.unused("ann-1") == []


def test_the_ledger_forgets_the_oldest_uploads_past_its_capacity() -> None:
    ledger = UploadLedger(capacity=3)
    ledger.record("s", ["/1", "/2", "/3", "/4"])
    assert ledger.unused("s") == ["/2", "/3", "/4"]
    assert not ledger.take("s", ["/1"])


def test_a_handle_belongs_to_the_first_sign_in_that_names_it() -> None:
    owners = SessionOwners()
    assert owners.claim("bob-1", ["hash", "event"])
    assert owners.claim("bob-1", ["hash"])
    assert not owners.claim("ann-1", ["mine", "hash"])
    assert owners.owner("mine") is None  # a refused claim claims nothing
    assert owners.claim("ann-1", ["mine"])
    assert sorted(owners.handles_of("bob-1")) == ["event", "hash"]


def test_owners_forget_the_least_recently_used_past_capacity() -> None:
    owners = SessionOwners(capacity=2)
    owners.claim("a", ["1"])
    owners.claim("a", ["2"])
    owners.claim("a", ["1"])  # used again: now the newest
    owners.claim("a", ["3"])
    assert owners.owner("2") is None and owners.owner("1") == "a"


def test_handles_are_read_from_the_path_query_and_body() -> None:
    def named(method: str, route: str, query: bytes = b"", body: object = None) -> list[str]:
        return list(handles_named(method, route, query, body))

    assert named("GET", "/gradio_api/heartbeat/h1") == ["h1"]
    assert named("GET", "/gradio_api/queue/data", b"session_hash=h1&session_hash=h2") == [
        "h1",
        "h2",
    ]
    assert named("GET", "/gradio_api/call/v2/api/e1") == ["e1"]
    assert named("GET", "/gradio_api/call/api/e1") == ["e1"]
    assert named("POST", "/gradio_api/call/api") == []  # an api name is not a handle
    assert named("POST", "/gradio_api/stream/e1/close") == ["e1"]
    assert named("GET", "/gradio_api/stream/h1/run/3/playlist.m3u8") == ["h1"]
    assert named("GET", "/gradio_api/upload_progress", b"upload_id=u1") == ["u1"]
    body = {"session_hash": "h1", "event_id": "e1", "fn_index": 2}
    assert named("POST", "/gradio_api/cancel", body=body) == ["h1", "e1"]
