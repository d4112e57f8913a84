"""One copy of a model whatever its spelling, and a spec the audit cannot record refused before
any work (issue 19 point 8): the context and the Model tab on a real temporary store."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.common import KNOWN_ERRORS
from dashboard.context import AppContext
from dashboard.tabs import model
from steering.engine.models import LoadedModel, load_model
from storage import OBJECT_ID_LEN
from tests.app.support import PASSWORD, login
from tests.tiny import make_tiny


def saved_tiny(folder: Path) -> Path:
    tiny = make_tiny("llama", chat_template=True)
    tiny.model.save_pretrained(folder)
    tiny.tokenizer.save_pretrained(folder)
    return folder


class CountingLoader:
    """The real loader, counting its loads."""

    def __init__(self) -> None:
        self.specs: list[str] = []

    def __call__(self, spec: str, **options) -> LoadedModel:
        self.specs.append(spec)
        return load_model(spec, **options)


@pytest.fixture()
def counted(ctx) -> CountingLoader:
    loader = CountingLoader()
    ctx.loader = loader
    return loader


def test_every_spelling_of_a_folder_is_one_model_in_memory(
    ctx: AppContext, counted, tmp_path, monkeypatch
):
    folder = saved_tiny(tmp_path / "models" / "tiny-llama")
    (tmp_path / "shortcut").symlink_to(folder, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    spellings = ["models/tiny-llama", "./models/tiny-llama/", str(folder), "shortcut"]
    loaded = [ctx.model(spelling) for spelling in spellings]
    assert all(one is loaded[0] for one in loaded)
    key = str(folder.resolve())
    assert counted.specs == [key]  # loaded once, under its one key
    assert loaded[0].spec == key
    assert [s for s in ctx.models if s != "tiny"] == [key]
    assert all(ctx.is_loaded(spelling) for spelling in spellings)


def test_the_model_tab_records_the_one_key_and_keeps_work_across_spellings(
    ctx: AppContext, counted, tmp_path, monkeypatch
):
    folder = saved_tiny(tmp_path / "m")
    monkeypatch.chdir(tmp_path)
    session = login(ctx, "bob", PASSWORD)
    model.load_model_card(ctx, session, "m/")
    session.vector_id = 7  # some work done on this model
    model.load_model_card(ctx, session, str(folder))  # the same model, spelt another way
    assert session.vector_id == 7 and session.model_spec == str(folder.resolve())
    events = ctx.store.audit_events(action="model.load")
    assert [e.object_id for e in events] == [str(folder.resolve())] * 2
    assert len(counted.specs) == 1


def test_a_spec_too_long_for_the_audit_trail_is_refused_before_loading(
    ctx: AppContext, counted, tmp_path
):
    folder = saved_tiny(tmp_path / ("a-model-folder-with-a-long-name-" * 2))
    key = str(folder.resolve())
    assert len(key) > OBJECT_ID_LEN
    session = login(ctx, "bob", PASSWORD)
    events = len(ctx.store.audit_events())
    with pytest.raises(KNOWN_ERRORS) as refused:
        model.load_model_card(ctx, session, str(folder))
    message = str(refused.value)
    assert f"{len(key)} characters long" in message and f"at most {OBJECT_ID_LEN}" in message
    assert "shorter path" in message
    assert counted.specs == []  # nothing was loaded
    assert len(ctx.store.audit_events()) == events
    assert session.model_spec == ctx.default_model  # the session still uses its model


def test_a_missing_file_is_named_and_reported_as_a_failed_load(ctx: AppContext, counted, tmp_path):
    missing = str(tmp_path / "missing.gguf")
    with pytest.raises(KNOWN_ERRORS, match="No GGUF file"):
        ctx.model(missing)
    assert counted.specs == []
    assert "No GGUF file" in ctx.failed[missing]
