"""The security headers are on every response: pages, API, files, redirects, 401s and 404s."""

from __future__ import annotations

from dashboard.web.headers import SECURITY_HEADERS

from .helpers import call, signed_in

EXPECTED = {name.decode(): value.decode() for name, value in SECURITY_HEADERS}


def assert_headers(response) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (response.url, name)


def test_expected_values() -> None:
    assert EXPECTED == {
        "x-frame-options": "DENY",
        "content-security-policy": "frame-ancestors 'none'",
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
    }


def test_headers_on_every_kind_of_response(server) -> None:
    with server.client() as outsider:
        responses = [
            outsider.get("/login"),
            outsider.get("/", headers={"accept": "text/html"}),  # 303
            outsider.get("/config"),  # 401
            outsider.get("/v1/x"),  # 401
            outsider.post("/login", data={"username": "ann", "password": "wrong one"}),  # 401
        ]
    with signed_in(server, "ann") as ann:
        _, (produced,) = call(ann, "make_file", [])
        _, (link,) = call(ann, "offer_link", [])
        responses += [
            ann.get("/", headers={"accept": "text/html"}),
            ann.get("/config"),
            ann.get("/gradio_api/info"),
            ann.get(produced["url"].removeprefix(server.url)),
            ann.get(link),
            ann.get(link),  # 404 once used
            ann.get("/no/such/page"),  # Gradio's 404
            ann.post("/gradio_api/upload", content=b"x" * (2 * 1024 * 1024)),  # 413
        ]
    statuses = {r.status_code for r in responses}
    assert {200, 303, 401, 404, 413} <= statuses
    for response in responses:
        assert_headers(response)
