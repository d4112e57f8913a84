"""Dashboard test fixtures: a temporary store with a builder and a reviewer, a tiny model.

Also records each test's outcome on its node, so browser fixtures can screenshot failures.
"""

from __future__ import annotations

import pytest

from dashboard.context import AppContext
from storage import Store
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
