"""Dashboard test fixtures: a temporary store with a builder and a reviewer, a tiny model.

Also records each test's outcome on its node, so browser fixtures can screenshot failures.
"""

from __future__ import annotations

import pytest

from dashboard.context import AppContext
from storage import Store
from tests.app.browser import CHROMIUM, CHROMIUM_ARGS, Server, require_chromium, shot
from tests.app.support import PASSWORD, csv_text, rows
from tests.tiny import make_tiny


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture()
def ctx(tmp_path):
    store = Store.open(data_dir=tmp_path / "data")
    store.add_user("bob", "builder", PASSWORD)
    store.add_user("rita", "reviewer", PASSWORD)
    context = AppContext(store=store, default_model="tiny", export_dir=tmp_path / "exports")
    context.models["tiny"] = make_tiny("llama")
    yield context
    store.close()


@pytest.fixture()
def examples_file(tmp_path) -> str:
    path = tmp_path / "pairs.csv"
    path.write_text(csv_text(rows()), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
    running = Server(tmp_path_factory.mktemp("app"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser, request):
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        shot(page, f"failed-{request.node.name}")
    context.close()
