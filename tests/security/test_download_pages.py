"""A download link that no longer works answers 404 in one wording, whether it was used up, has
expired or is someone else's, so it tells nothing about other people's links: a page in the
app's style with a way back to Downloads for a browser, JSON only for a client asking for JSON
and not for HTML."""

from __future__ import annotations

import time

from dashboard.web.gone_page import DOWNLOADS_URL, GONE

from .helpers import call, signed_in

BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
SCRIPT = {"accept": "application/json"}
BOTH = {"accept": "application/json, text/html"}


def test_used_expired_and_foreign_links_get_the_same_html_page(server) -> None:
    with signed_in(server, "ann") as ann, signed_in(server, "bob") as bob:
        _, (used,) = call(ann, "offer_link", [])
        assert ann.get(used, headers=BROWSER).status_code == 200
        _, (foreign,) = call(ann, "offer_link", [])
        _, (expired,) = call(ann, "offer_link", [])
        time.sleep(3.0)  # STEERING_DOWNLOAD_TTL_S=2 for this server: the link has expired
        _, (fresh,) = call(ann, "offer_link", [])
        answers = [
            ann.get(used, headers=BROWSER),
            bob.get(fresh, headers=BROWSER),  # ann's live link, asked for by bob
            ann.get(expired, headers=BROWSER),
            ann.get(used),  # no Accept header at all: a page too
        ]
        for answer in answers:
            assert answer.status_code == 404
            assert answer.headers["content-type"].startswith("text/html")
            assert GONE in answer.text
            assert f'href="{DOWNLOADS_URL}"' in answer.text and "Back to Downloads" in answer.text
            assert answer.headers["x-frame-options"] == "DENY"  # the app's headers still apply
        # One page for all three: nothing in it says which case it was.
        assert len({answer.text for answer in answers}) == 1
        # Bob's refusal did not use up ann's link.
        assert ann.get(fresh).status_code == 200


def test_a_client_asking_for_json_only_gets_json(server) -> None:
    with signed_in(server, "ann") as ann:
        _, (link,) = call(ann, "offer_link", [])
        assert ann.get(link).status_code == 200
        refused = ann.get(link, headers=SCRIPT)
        assert refused.status_code == 404
        assert refused.headers["content-type"].startswith("application/json")
        assert refused.json() == {"error": GONE}
        # Accepting HTML as well: a browser, so the page.
        assert ann.get(link, headers=BOTH).headers["content-type"].startswith("text/html")
