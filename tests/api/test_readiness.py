"""Readiness: ``/healthz`` while the process serves, ``/readyz`` once the store answers and the
preloaded default model is loaded; ``/v1/models`` lists the default model from the start, and a
chat request for it while it loads gets 503 ``model_loading`` with Retry-After.

The loading states are seen in-process (tests/api/inprocess.py, with a model load the test holds
open); that both probes need no sign-in and no key is checked on the real app (app.py)."""

from __future__ import annotations

import threading

import httpx
import pytest

from dashboard.api.settings import ApiSettings
from steering.errors import ModelLoadError
from storage import Store
from tests.api.inprocess import SPEC, serve, tiny_model, wait_until


@pytest.fixture()
def store(tmp_path):
    with Store.open(None, tmp_path / "data") as opened:
        yield opened


class HeldLoad:
    """A model loader that waits until the test lets the load finish."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.finish = threading.Event()

    def __call__(self, spec: str, dtype: str | None = None):
        self.started.set()
        assert self.finish.wait(timeout=60), "the test never let the load finish"
        return tiny_model()


def listed(api, secret: str) -> list[str]:
    answer = httpx.get(api.url + "/v1/models", headers=api.headers(secret))
    return [m["id"] for m in answer.json()["data"]]


def test_while_the_default_model_loads_it_is_listed_and_asking_for_it_is_503(store, tmp_path):
    load = HeldLoad()
    with serve(store, ApiSettings(), loader=load, data_dir=tmp_path) as api:
        secret = api.key("early")
        assert load.started.wait(timeout=30)
        health = httpx.get(api.url + "/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        ready = httpx.get(api.url + "/readyz")
        assert ready.status_code == 503
        assert ready.json() == {
            "status": "not_ready",
            "reason": "the default model is still loading",
        }
        assert int(ready.headers["retry-after"]) >= 1
        assert listed(api, secret) == [SPEC]  # known from the start, loaded or not
        loading = api.chat(secret)
        assert loading.status_code == 503
        assert loading.json()["error"]["code"] == "model_loading"
        assert int(loading.headers["retry-after"]) >= 1
        assert api.chat(secret, model="gpt-4").status_code == 404  # unknown names stay 404
        load.finish.set()
        wait_until(lambda: httpx.get(api.url + "/readyz").status_code == 200, "ready")
        assert httpx.get(api.url + "/readyz").json() == {"status": "ready"}
        assert listed(api, secret) == [SPEC]
        assert api.chat(secret).status_code == 200


def test_without_preload_it_is_ready_at_once_and_the_first_request_starts_the_load(store, tmp_path):
    load = HeldLoad()
    with serve(store, ApiSettings(), loader=load, preload=False, data_dir=tmp_path) as api:
        secret = api.key("lazy")
        ready = httpx.get(api.url + "/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        assert listed(api, secret) == [SPEC]
        assert not load.started.is_set()
        first = api.chat(secret)
        assert first.status_code == 503
        assert first.json()["error"]["code"] == "model_loading"
        assert load.started.wait(timeout=30)
        load.finish.set()
        wait_until(lambda: api.ctx.is_loaded(SPEC), "the load")
        assert api.chat(secret).status_code == 200


def test_a_default_model_that_failed_to_load_is_not_ready_and_unavailable(store, tmp_path):
    def broken(spec: str, dtype: str | None = None):
        raise ModelLoadError("the weights are missing")

    with serve(store, ApiSettings(), loader=broken, data_dir=tmp_path) as api:
        wait_until(lambda: SPEC in api.ctx.failed, "the failed load")
        ready = httpx.get(api.url + "/readyz")
        assert ready.status_code == 503
        assert ready.json() == {
            "status": "not_ready",
            "reason": "the default model could not be loaded",
        }
        refused = api.chat(api.key("hopeful"))
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "model_unavailable"
        assert "weights" not in refused.text  # the load error stays in the server's log
        assert int(refused.headers["retry-after"]) >= 1


def test_a_store_that_does_not_answer_is_not_ready(store, tmp_path, monkeypatch):
    with serve(store, ApiSettings(), data_dir=tmp_path) as api:
        wait_until(lambda: httpx.get(api.url + "/readyz").status_code == 200, "ready")

        def down(name: str) -> bool:
            raise OSError("disk gone: /secret/path/lab.db")

        monkeypatch.setattr(store, "api_switch", down)
        ready = httpx.get(api.url + "/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"status": "not_ready", "reason": "the store does not answer"}


def test_the_real_apps_probes_need_no_sign_in_and_no_key(api_lab):
    with api_lab.server.client() as anonymous:  # no cookie, no key
        for path, body in (("/healthz", {"status": "ok"}), ("/readyz", {"status": "ready"})):
            answer = anonymous.get(path, headers={"accept": "text/html"})
            assert answer.status_code == 200, path  # not a redirect to /login, not a 401
            assert answer.json() == body
            assert answer.headers["x-frame-options"] == "DENY"  # behind the security headers
        assert anonymous.get("/config").status_code == 401  # the gate still guards the rest


def test_the_default_model_is_listed_by_the_name_its_load_gives_it(api_lab, tmp_path):
    from steering.engine.bundled import bundled_model
    from steering.engine.models import model_name

    assert model_name(api_lab.model.spec) == api_lab.model.name  # a folder: its own name
    assert model_name("default") == bundled_model("default").name
    assert model_name(str(tmp_path / "x.Q4.gguf")) == "x.Q4.gguf"
    assert model_name("org/some-model") == "org/some-model"  # a hub id
