"""An admin creates API keys in the Admin tab of a real app process: one ticked "May also read the
monitoring figures" reads ``GET /metrics``; one left unticked is refused there (403)."""

from __future__ import annotations

import httpx
import pytest

from tests.app.browser import login, tab
from tests.app.support import PASSWORD

pytestmark = pytest.mark.browser


def create_key(page, name: str, monitoring: bool) -> str:
    """Create a key in the Admin tab; the secret the page shows once."""
    from playwright.sync_api import expect

    page.locator("#admin-key-name textarea, #admin-key-name input").first.fill(name)
    box = page.locator("#admin-key-metrics input")
    if box.is_checked() != monitoring:
        box.click()
    page.locator("#admin-key-create").click()
    status = page.locator("#admin-key-status")
    expect(status).to_contain_text(f"Created the API key {name}")
    return status.locator("code").inner_text().strip()


def test_a_key_made_in_the_admin_tab_reads_metrics_only_when_ticked(server, page):
    from playwright.sync_api import expect

    with server.store() as store:
        store.add_user("ada", "admin", PASSWORD)
    server.passwords["ada"] = PASSWORD
    login(page, server, "ada")
    tab(page, "Admin")
    monitor = create_key(page, "prometheus", monitoring=True)
    expect(page.locator("#admin-key-status")).to_contain_text("monitoring figures (/metrics)")
    caller = create_key(page, "team-search", monitoring=False)
    expect(page.locator("#admin-keys")).to_contain_text("prometheus")

    def metrics(secret: str) -> httpx.Response:
        headers = {"authorization": f"Bearer {secret}"}
        return httpx.get(server.url + "metrics", headers=headers, timeout=30)

    allowed, refused = metrics(monitor), metrics(caller)
    assert allowed.status_code == 200, allowed.text
    assert "cvlab_api_requests_total" in allowed.text
    assert refused.status_code == 403, refused.text
