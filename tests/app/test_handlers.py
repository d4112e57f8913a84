"""The dashboard's handlers without a browser: a tiny model, a temporary store."""

from __future__ import annotations

import csv
import io

import gguf
import pytest

import app as app_main
from dashboard import handlers as h
from dashboard.context import AppContext
from dashboard.session import Session
from steering.vectors import ControlVector
from storage import PermissionDeniedError, Store
from tests.tiny import make_tiny

PASSWORD = "correct horse battery"


def _rows(n: int = 12) -> list[dict[str, str]]:
    rows = []
    for i in range(n):
        a, b = i + 2, 3 * i + 1
        rows.append(
            {
                "prompt": f"What is {a} plus {b}?",
                "positive": f"{a} plus {b} is {a + b}. The answer is {a + b}.",
                "negative": f"{a} plus {b} is {a + b + 1}. The answer is {a + b + 1}.",
                "answer": str(a + b),
                "choices": f"{a + b}|{a + b + 1}|{a + b - 1}",
            }
        )
    return rows


def _csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


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
def examples_file(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text(_csv(_rows()), encoding="utf-8")
    return path


def _builder_with_vector(ctx, examples_file) -> Session:
    session = h.login(ctx, "bob", PASSWORD)
    h.upload_examples(ctx, session, str(examples_file))
    h.build(ctx, session)
    return session


def _fake_evaluation(ctx, session, sample_answer: str = "42") -> None:
    """Attach stored evaluation results of the evaluation contract's shape."""
    results = {
        "results": [
            {"alpha": 0.0, "accuracy": 0.5, "ci_low": 0.3, "ci_high": 0.7, "n": 10, "correct": 5},
            {"alpha": 0.5, "accuracy": 0.7, "ci_low": 0.4, "ci_high": 0.9, "n": 10, "correct": 7},
        ],
        "verdict": "At strength 0.5 the model answered 7 of 10 correctly, against 5 without.",
        "chosen_alpha": 0.5,
        "side_effects": {
            "perplexity": {"0.0": 10.0, "0.5": 11.04},
            "changed_share": {"0.0": 0.0, "0.5": 0.5},
            "answers": [{"prompt": "Capital of France?", "answers": {"0.0": "Paris", "0.5": "P"}}],
        },
        "samples": [{"prompt": "What is 2 plus 1?", "steered": sample_answer}],
    }
    layers = session.recommended
    evaluation = ctx.store.add_evaluation(session.vector_id, {"layers": layers}, results, "bob")
    session.evaluation, session.evaluation_id = results, evaluation.id
    session.evaluation_layers = layers


def _approved_submission(ctx, examples_file, sample_answer: str = "42") -> int:
    builder = _builder_with_vector(ctx, examples_file)
    _fake_evaluation(ctx, builder, sample_answer)
    h.submit(ctx, builder)
    reviewer = h.login(ctx, "rita", PASSWORD)
    sid = ctx.store.list_submissions()[-1].id
    h.show_submission(ctx, reviewer, sid)
    h.decide(ctx, reviewer, "approve", "Looks good.")
    return sid


# ------------------------------------------------------------------------------ sign in


def test_login_checks_the_store_and_audits(ctx):
    session = h.login(ctx, "bob", PASSWORD)
    assert (session.user, session.role, session.is_reviewer) == ("bob", "builder", False)
    with pytest.raises(h.UserError, match="Wrong user name or password"):
        h.login(ctx, "bob", "not the password")
    actions = [e.action for e in ctx.store.audit_events()]
    assert actions[-2:] == ["login", "login.failed"]


def test_handlers_refuse_without_sign_in(ctx, examples_file):
    with pytest.raises(h.UserError, match="sign in"):
        h.upload_examples(ctx, Session(), str(examples_file))


def test_demo_users_only_on_a_local_address(tmp_path):
    with Store.open(data_dir=tmp_path / "remote") as store:
        with pytest.raises(SystemExit, match="python -m storage add-user NAME --role builder"):
            app_main.ensure_users(store, "0.0.0.0")
        assert store.list_users() == []
    with Store.open(data_dir=tmp_path / "local") as store:
        created = app_main.ensure_users(store, "127.0.0.1")
        assert [(name, role) for name, role, _ in created] == [
            ("demo-builder", "builder"),
            ("demo-reviewer", "reviewer"),
        ]
        name, _, password = created[0]
        assert store.check_login(name, password) is not None
        assert app_main.ensure_users(store, "127.0.0.1") is None  # users exist: nothing created


def test_options_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("STEERING_HOST", "0.0.0.0")
    monkeypatch.setenv("STEERING_PORT", "9001")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///x.db")
    monkeypatch.setenv("STEERING_DATA_DIR", "/tmp/lab")
    monkeypatch.setenv("STEERING_MODEL", "some/model")
    args = app_main.build_parser().parse_args([])
    assert (args.host, args.port, args.db, args.data_dir, args.model) == (
        "0.0.0.0",
        9001,
        "sqlite:///x.db",
        "/tmp/lab",
        "some/model",
    )
    assert app_main.build_parser().parse_args(["--port", "8000"]).port == 8000


# ------------------------------------------------------------------------------ model


def test_model_card_describes_the_loaded_model(ctx):
    session = h.login(ctx, "bob", PASSWORD)
    card = dict(h.load_model_card(ctx, session, "tiny").values.tolist())
    assert card["Layers (decoder blocks)"] == "4"
    assert card["Hidden size"] == "32"
    assert card["Device"] == "cpu"
    assert ctx.store.audit_events(action="model.load")[-1].actor == "bob"


def test_unreachable_model_gives_a_message_not_a_traceback(ctx, tmp_path):
    session = h.login(ctx, "bob", PASSWORD)
    with pytest.raises(h.known_errors()) as raised:
        h.load_model_card(ctx, session, str(tmp_path / "missing.gguf"))
    assert "No GGUF file" in str(raised.value)


# ------------------------------------------------------------------------------ examples


def test_upload_previews_splits_and_stores(ctx, examples_file):
    session = h.login(ctx, "bob", PASSWORD)
    view = h.upload_examples(ctx, session, str(examples_file))
    assert len(view.preview) == 12 and view.errors.empty
    assert "8 build rows" in view.summary and "4 held-out rows" in view.summary
    assert len(view.heldout_prompts) == 4
    stored = ctx.store.list_example_sets()
    assert [(s.row_count, s.created_by) for s in stored] == [(12, "bob")]
    assert stored[0].content_hash == session.example_set.content_hash


def test_invalid_upload_lists_row_errors_and_stores_nothing(ctx, tmp_path):
    rows = _rows(4)
    rows[1]["positive"] = ""
    rows[3]["prompt"] = ""
    path = tmp_path / "bad.csv"
    path.write_text(_csv(rows), encoding="utf-8")
    session = h.login(ctx, "bob", PASSWORD)
    view = h.upload_examples(ctx, session, str(path))
    assert sorted(view.errors["row"].tolist()) == [2, 4]
    assert "Nothing was stored" in view.summary
    assert ctx.store.list_example_sets() == []
    assert session.example_set is None


def test_bundled_set_is_offered_and_used(ctx, examples_file, monkeypatch):
    module = h._examples_module()
    monkeypatch.setattr(module, "bundled_example_sets", lambda: {"arithmetic": examples_file})
    assert h.bundled_sets() == ["arithmetic"]
    session = h.login(ctx, "bob", PASSWORD)
    view = h.pick_bundled(ctx, session, "arithmetic")
    assert len(view.preview) == 12
    with pytest.raises(h.UserError, match="bundled sets"):
        h.pick_bundled(ctx, session, "nope")


# ------------------------------------------------------------------------------ build, compare


def test_build_stores_the_vector_with_lineage(ctx, examples_file):
    session = _builder_with_vector(ctx, examples_file)
    assert session.vector.layers == [0, 1, 2, 3]
    assert session.recommended and 0 not in session.recommended
    stored = ctx.store.get_vector(session.vector_id)
    assert stored.created_by == "bob"
    assert stored.lineage["dataset_hash"] == session.example_set.content_hash
    assert stored.lineage["created_by"] == "bob"
    assert stored.example_set_id == session.example_set_id
    file = ControlVector.from_bytes(ctx.store.read_vector_file(session.vector_id))
    assert file.content_hash() == session.vector.content_hash()


def test_build_chart_marks_recommended_layers(ctx, examples_file):
    session = h.login(ctx, "bob", PASSWORD)
    h.upload_examples(ctx, session, str(examples_file))
    view = h.build(ctx, session)
    bars = view.figure.data[0]
    assert list(bars.x) == [0, 1, 2, 3]
    colours = dict(zip(bars.x, bars.marker.color, strict=True))
    assert {i for i, c in colours.items() if c == "#ea580c"} == set(session.recommended)
    assert view.layers_text == h.layers_text(session.recommended)


def test_build_needs_examples_and_random_negatives_without_column(ctx):
    session = h.login(ctx, "bob", PASSWORD)
    with pytest.raises(h.UserError, match="example set first"):
        h.build(ctx, session)


def test_compare_gives_two_answers_and_audits(ctx, examples_file):
    session = _builder_with_vector(ctx, examples_file)
    plain, steered = h.compare(ctx, session, "What is 2 plus 3?", 4.0, "1-2", 6)
    assert isinstance(plain, str) and isinstance(steered, str)
    event = ctx.store.audit_events(action="generate")[-1]
    assert event.actor == "bob" and event.details["layers"] == [1, 2]
    with pytest.raises(h.UserError, match="Type a question"):
        h.compare(ctx, session, "  ", 1.0)


def test_strengths_parse_with_baseline():
    assert h.parse_strengths("0.5, 1") == [0.0, 0.5, 1.0]
    assert h.parse_strengths("1 0 -0.5") == [-0.5, 0.0, 1.0]
    with pytest.raises(h.UserError, match="not a number"):
        h.parse_strengths("0, lots")


def test_layers_text():
    assert h.layers_text([12, 13, 14]) == "12-14"
    assert h.layers_text([3, 7]) == "3,7"
    assert h.layers_text([]) == ""


def test_evaluation_is_stored_and_charted(ctx, examples_file):
    pytest.importorskip("steering.evaluate")
    session = _builder_with_vector(ctx, examples_file)
    view = h.evaluate(ctx, session, "0, 1", None, 4, side_effects=False)
    stored = ctx.store.get_evaluation(session.evaluation_id)
    assert stored.created_by == "bob" and stored.vector_id == session.vector_id
    assert [r["alpha"] for r in stored.results["results"]] == [0.0, 1.0]
    assert view.verdict and len(view.table) == 2
    assert len(view.figure.data) >= 2  # band and line


def test_accuracy_chart_has_band_and_chosen_strength():
    rows = [
        {"alpha": 0.0, "accuracy": 0.4, "ci_low": 0.2, "ci_high": 0.6, "n": 10, "correct": 4},
        {"alpha": 1.0, "accuracy": 0.6, "ci_low": 0.3, "ci_high": 0.8, "n": 10, "correct": 6},
    ]
    figure = h.charts.accuracy_chart(rows, 1.0)
    band, line = figure.data[0], figure.data[1]
    assert list(band.y) == [0.6, 0.8, 0.3, 0.2]
    assert list(line.y) == [0.4, 0.6]
    assert any(s.x0 == 1.0 for s in figure.layout.shapes)


# ------------------------------------------------------------------------------ submit, review


def test_submit_needs_an_evaluation(ctx, examples_file):
    session = _builder_with_vector(ctx, examples_file)
    with pytest.raises(h.UserError, match="evaluation first"):
        h.submit(ctx, session)


def test_builder_is_never_offered_approval_of_own_submission(ctx, examples_file):
    builder = _builder_with_vector(ctx, examples_file)
    _fake_evaluation(ctx, builder)
    message = h.submit(ctx, builder)
    sid = ctx.store.list_submissions()[-1].id
    assert f"Submission #{sid}" in message
    view = h.show_submission(ctx, builder, sid)
    assert not view.can_decide and "another reviewer" in view.note
    with pytest.raises(PermissionDeniedError):
        h.decide(ctx, builder, "approve", "mine")  # and the store refuses anyway
    reviewer = h.login(ctx, "rita", PASSWORD)
    view = h.show_submission(ctx, reviewer, sid)
    assert view.can_decide and not view.can_revoke
    assert "0.5" in view.summary and len(view.table) == 2


def test_review_approve_then_revoke(ctx, examples_file):
    sid = _approved_submission(ctx, examples_file)
    reviewer = h.login(ctx, "rita", PASSWORD)
    view = h.show_submission(ctx, reviewer, sid)
    assert view.can_revoke and not view.can_decide
    assert view.history["decision"].tolist() == ["approve"]
    assert "revoked" in h.decide(ctx, reviewer, "revoke", "Superseded.")
    actions = [e.action for e in ctx.store.audit_events(object_type="submission")]
    assert actions == [
        "submission.create",
        "submission.submit",
        "submission.approve",
        "submission.revoke",
    ]


def test_stale_decision_is_refused(ctx, examples_file):
    builder = _builder_with_vector(ctx, examples_file)
    _fake_evaluation(ctx, builder)
    h.submit(ctx, builder)
    sid = ctx.store.list_submissions()[-1].id
    ctx.store.add_user("rex", "reviewer", PASSWORD)
    first, second = h.login(ctx, "rita", PASSWORD), h.login(ctx, "rex", PASSWORD)
    h.show_submission(ctx, first, sid)
    h.show_submission(ctx, second, sid)
    h.decide(ctx, first, "approve", "ok")
    with pytest.raises(h.known_errors(), match="changed by rita"):
        h.decide(ctx, second, "reject", "no")


# ------------------------------------------------------------------------------ downloads


def test_downloads_of_an_approved_vector(ctx, examples_file):
    sid = _approved_submission(ctx, examples_file)
    session = h.login(ctx, "bob", PASSWORD)
    sub = ctx.store.get_submission(sid)
    st_path = h.download_safetensors(ctx, session, sid)
    assert st_path.name == f"control-vector-{sid}-strength-0.5.safetensors"
    vector = ControlVector.load(st_path)
    assert vector.layers == list(sub.layers)
    assert vector.metadata["approved_strength"] == "0.5"
    assert vector.metadata["approved_by"] == "rita"

    gguf_path = h.download_gguf(ctx, session, sid)
    assert gguf_path.name == f"control-vector-{sid}-strength-0.5.gguf"
    reader = gguf.GGUFReader(gguf_path)
    names = sorted(t.name for t in reader.tensors)
    assert names == sorted(f"direction.{i}" for i in sub.layers)
    strength = reader.fields["controlvector.strength"]
    assert float(strength.parts[strength.data[0]][0]) == pytest.approx(0.5)
    exports = ctx.store.audit_events(action="vector.export")
    assert [(e.actor, e.details["format"]) for e in exports] == [
        ("bob", "safetensors"),
        ("bob", "gguf"),
    ]


def test_only_approved_vectors_download(ctx, examples_file):
    builder = _builder_with_vector(ctx, examples_file)
    _fake_evaluation(ctx, builder)
    h.submit(ctx, builder)
    sid = ctx.store.list_submissions()[-1].id
    with pytest.raises(h.UserError, match="only approved"):
        h.download_gguf(ctx, builder, sid)
    assert h.approved_choices(ctx) == []


def test_report_is_self_contained_and_escapes_model_text(ctx, examples_file):
    sid = _approved_submission(ctx, examples_file, sample_answer="<script>alert(1)</script>")
    session = h.login(ctx, "rita", PASSWORD)
    path = h.download_report(ctx, session, sid)
    text = path.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script>alert(1)</script>" not in text
    assert "Plotly.newPlot" in text and len(text) > 1_000_000  # plotly.js inlined: works offline
    assert "<script src=" not in text
    assert "7 of 10" in text


def test_side_effects_per_strength():
    side = {
        "perplexity": {"0.0": 10.0, "1.0": 12.345, "0.5": 11.0},
        "changed_share": {"0.0": 0.0, "0.5": 0.25, "1.0": 0.5},
        "answers": [{"prompt": "Say hi", "answers": {"0.0": "Hi", "1.0": "<b>Hey</b>"}}],
    }
    table = h.side_effects_table(side)
    assert table.values.tolist() == [["0", 10.0, "0%"], ["0.5", 11.0, "25%"], ["1", 12.35, "50%"]]
    assert "strength 1: <b>Hey</b>" in h.neutral_answers_text(side)
    assert h.side_effects_table({}).empty


def test_samples_are_plain_text():
    text = h.samples_text([{"steered": "<b>bold</b> **x**"}])
    assert text == "steered: <b>bold</b> **x**"  # for a text box: shown literally


def test_markdown_escape_of_user_text():
    assert h._md("<img src=x onerror=alert(1)>") == "\\<img src=x onerror=alert\\(1\\)\\>"


# ------------------------------------------------------------------------------ audit


def test_audit_table_filters_verifies_and_exports(ctx, examples_file):
    session = _builder_with_vector(ctx, examples_file)
    table = h.audit_table(ctx, session, actor="bob")
    assert set(table["actor"]) == {"bob"}
    assert {"login", "example_set.add", "vector.add"} <= set(table["action"])
    only = h.audit_table(ctx, session, action="vector.add")
    assert only["action"].tolist() == ["vector.add"]
    assert "Intact" in h.verify_audit(ctx, session)
    path = h.export_audit_csv(ctx, session)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 1 + len(table)
    assert ctx.store.audit_events(action="audit.export")[-1].actor == "bob"


def test_ui_builds(ctx):
    from dashboard.ui import build_ui

    demo = build_ui(ctx, demo_users=True)
    assert demo.title == "Control-vector lab"


def test_strength_zero_is_not_submitted(ctx, examples_file):
    builder = _builder_with_vector(ctx, examples_file)
    _fake_evaluation(ctx, builder)
    before = len(ctx.store.list_submissions())
    with pytest.raises(h.UserError, match="Strength 0 means no steering"):
        h.submit(ctx, builder, strength=0.0)
    assert len(ctx.store.list_submissions()) == before
