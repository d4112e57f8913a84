"""What the dashboard's buttons do, as plain functions (no gradio), unit-tested without a browser.

Every handler takes the process-wide :class:`AppContext` and the caller's :class:`Session`; every
action that changes something or produces something for the user writes an audit event with the
signed-in user as actor. Errors a user can cause surface as ``SteeringError``, ``StorageError`` or
:class:`UserError`, whose messages are shown as they are.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from dashboard import charts
from dashboard.context import AppContext
from dashboard.session import Session
from steering.errors import SteeringError
from steering.models import describe
from steering.vectors import ControlVector, build_vector, parse_layers
from storage import StorageError

Progress = Callable[[int, int, str], None]

METHOD_HELP = {
    "mean_diff": "R-C (default): average of 'good minus flawed' activations; the paper's best.",
    "reading": "R: average of the good examples only; needs no negatives.",
    "pca_diff": "PCA-C: main direction of the good-vs-flawed differences.",
}
NEGATIVES_HELP = {
    "column": "Use the 'negative' column of the examples (flawed reasoning).",
    "random": "Random letter strings, as in the paper; for sets without negatives.",
}
POSITION_HELP = {
    "last": "Read the last token of each example (default, as in the paper).",
    "mean": "Average over the completion's tokens.",
}


class UserError(Exception):
    """Something the user can fix in the dashboard itself (sign in first, build a vector first)."""


def _examples_module():
    import steering.examples as module  # imported late: it may land after this module

    return module


def known_errors() -> tuple[type[BaseException], ...]:
    """The exception types whose message is meant for the user."""
    errors: list[type[BaseException]] = [SteeringError, StorageError, UserError]
    try:
        errors.append(_examples_module().ExampleSetError)
    except (ImportError, AttributeError):
        pass
    return tuple(errors)


def _need_user(session: Session) -> str:
    if not session.signed_in:
        raise UserError("Please sign in first.")
    return str(session.user)


def _need_vector(session: Session) -> None:
    if session.vector is None or session.vector_id is None:
        raise UserError("Build a vector first (tab 3, Build).")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _quiet(_done: int, _total: int, _what: str = "") -> None:
    return None


# ---------------------------------------------------------------------------------- sign in


def login(ctx: AppContext, name: str, password: str) -> Session:
    """A new session for the user, or UserError; the store audits successes and failures."""
    name = (name or "").strip()
    if not name or not password:
        raise UserError("Enter your user name and password.")
    user = ctx.store.check_login(name, password)
    if user is None:
        raise UserError("Wrong user name or password (or the account is deactivated).")
    return Session(user=user.name, role=user.role, model_spec=ctx.default_model)


# ---------------------------------------------------------------------------------- model


def load_model_card(
    ctx: AppContext, session: Session, spec: str, progress: Progress = _quiet
) -> pd.DataFrame:
    """Load (or reuse) the model named by ``spec`` and describe it as a two-column table."""
    user = _need_user(session)
    spec = (spec or "").strip() or ctx.default_model
    progress(0, 1, "Loading the model (the first load of the bundled model takes about a minute)")
    loaded = ctx.model(spec)
    progress(1, 1, "Model ready")
    if session.model_spec != spec:
        session.model_spec = spec
        # A vector is tied to the model it was built on.
        session.vector, session.vector_id, session.scores, session.recommended = None, None, [], []
        session.evaluation, session.evaluation_id = None, None
    card = describe(loaded)
    ctx.store.record_event(user, "model.load", "model", spec[:200], {"name": card["name"]})
    return model_card_table(card)


def model_card_table(card: dict[str, Any]) -> pd.DataFrame:
    labels = [
        ("name", "Model"),
        ("layers", "Layers (decoder blocks)"),
        ("hidden_size", "Hidden size"),
        ("parameters", "Parameters"),
        ("device", "Device"),
        ("dtype", "Number format"),
        ("chat_template", "Chat template"),
        ("load_seconds", "Load time (s)"),
        ("source", "Loaded from"),
    ]
    rows = []
    for key, label in labels:
        value = card.get(key, "")
        if key == "parameters":
            value = f"{int(value) / 1e6:.1f} million"
        elif key == "chat_template":
            value = "yes" if value else "no"
        rows.append([label, str(value)])
    return pd.DataFrame(rows, columns=["", "value"])


def _loaded(ctx: AppContext, session: Session):
    return ctx.model(session.model_spec or ctx.default_model)


# ---------------------------------------------------------------------------------- examples


@dataclass
class ExamplesView:
    preview: pd.DataFrame
    errors: pd.DataFrame
    summary: str
    heldout_prompts: list[str]


ERROR_COLUMNS = ["row", "column", "what to fix"]


def bundled_sets() -> list[str]:
    try:
        return sorted(_examples_module().bundled_example_sets())
    except ImportError:
        return []


def pick_bundled(
    ctx: AppContext, session: Session, name: str, heldout_fraction: float = 0.3
) -> ExamplesView:
    """Use one of the bundled example sets."""
    module = _examples_module()
    sets = module.bundled_example_sets()
    if name not in sets:
        raise UserError(f"Choose one of the bundled sets: {', '.join(sorted(sets))}.")
    path = Path(sets[name])
    return _accept_examples(ctx, session, path.read_bytes(), path.name, name, heldout_fraction)


def upload_examples(
    ctx: AppContext, session: Session, path: str | None, heldout_fraction: float = 0.3
) -> ExamplesView:
    """Validate an uploaded file; on any problem nothing is stored and every row error is listed."""
    if not path:
        raise UserError("Choose a CSV, JSONL, JSON or Excel file to upload.")
    file = Path(path)
    return _accept_examples(
        ctx, session, file.read_bytes(), file.name, file.stem[:200], heldout_fraction
    )


def _accept_examples(
    ctx: AppContext,
    session: Session,
    data: bytes,
    filename: str,
    name: str,
    heldout_fraction: float,
) -> ExamplesView:
    user = _need_user(session)
    module = _examples_module()
    try:
        example_set = module.load_examples(data, filename=filename, name=name)
    except module.ExampleSetError as error:
        rows = [[e.row, e.column or "", e.message] for e in getattr(error, "errors", [])]
        count = len(rows)
        summary = (
            f"**{_md(filename)} was not accepted: {count} problem{'s' if count != 1 else ''} "
            "found. Nothing was stored.** Fix the rows listed below and upload the file again."
            if rows
            else f"**{_md(filename)} was not accepted: {_md(str(error))} Nothing was stored.**"
        )
        return ExamplesView(
            pd.DataFrame(columns=["row", "prompt", "positive", "negative", "answer"]),
            pd.DataFrame(rows, columns=ERROR_COLUMNS),
            summary,
            [],
        )
    build, heldout = module.split_examples(example_set, heldout_fraction=heldout_fraction, seed=0)
    stored = ctx.store.add_example_set(
        example_set.name or name,
        data,
        filename,
        example_set.content_hash,
        len(example_set.examples),
        user,
    )
    session.example_set, session.example_set_id = example_set, stored.id
    session.build_rows, session.heldout_rows = list(build), list(heldout)
    negatives = "with" if example_set.has_negatives else "without"
    summary = (
        f"**{_md(example_set.name or name)}**: {len(example_set.examples)} rows ({negatives} a "
        f"'negative' column). Split (seed 0): **{len(build)} build rows** to make the vector, "
        f"**{len(heldout)} held-out rows** to test it."
    )
    return ExamplesView(
        preview_table(example_set),
        pd.DataFrame(columns=ERROR_COLUMNS),
        summary,
        [e.prompt for e in heldout],
    )


def preview_table(example_set: Any, limit: int = 200) -> pd.DataFrame:
    rows = []
    for e in example_set.examples[:limit]:
        choices = getattr(e, "choices", None)
        rows.append(
            {
                "row": e.row,
                "split": getattr(e, "split", None) or "",
                "prompt": e.prompt,
                "positive": e.positive,
                "negative": e.negative or "",
                "answer": getattr(e, "answer", None) or "",
                "choices": " | ".join(choices) if choices else "",
            }
        )
    table = pd.DataFrame(rows)
    empty = [c for c in ("split", "negative", "choices") if c in table and not table[c].any()]
    return table.drop(columns=empty)


def split_summary_default(session: Session) -> str:
    if session.example_set is None:
        return "No example set yet: pick a bundled set or upload a file."
    return f"{len(session.build_rows)} build rows, {len(session.heldout_rows)} held-out rows."


# ---------------------------------------------------------------------------------- build


@dataclass
class BuildView:
    figure: Any
    summary: str
    layers_text: str


def layers_text(layers: Sequence[int]) -> str:
    """``[12, 13, 14]`` -> ``"12-14"``; ``[3, 7]`` -> ``"3,7"``."""
    layers = sorted(layers)
    if not layers:
        return ""
    if len(layers) > 1 and layers == list(range(layers[0], layers[-1] + 1)):
        return f"{layers[0]}-{layers[-1]}"
    return ",".join(str(i) for i in layers)


def build(
    ctx: AppContext,
    session: Session,
    method: str = "mean_diff",
    negatives: str = "column",
    position: str = "last",
    layers: str = "all",
    progress: Progress = _quiet,
    max_rows: int | None = None,
) -> BuildView:
    """Read activations on the build rows, make the vector, score layers on held-out rows, store.

    ``max_rows`` (a quick first try) uses only the first rows of each split; the vector's lineage
    records how many, so the build stays reproducible from the stored example set.
    """
    user = _need_user(session)
    if session.example_set is None:
        raise UserError("Choose an example set first (tab 2, Examples).")
    if negatives == "column" and method != "reading" and not session.example_set.has_negatives:
        raise UserError(
            "This example set has no 'negative' column: choose 'random' negatives "
            "(random letter strings, as in the paper)."
        )
    loaded = _loaded(ctx, session)
    build_rows, heldout_rows = list(session.build_rows), list(session.heldout_rows)
    if max_rows:
        build_rows, heldout_rows = build_rows[: int(max_rows)], heldout_rows[: int(max_rows)]
    result = build_vector(
        loaded,
        build_rows,
        method=method,
        negatives=negatives,
        position=position,
        layers=layers,
        seed=0,
        heldout=heldout_rows,
        progress=lambda done, total: progress(done, total, "Reading activations"),
        lineage={
            "created_by": user,
            "dataset_hash": session.example_set.content_hash,
            "dataset_name": session.example_set.name or "",
            "split_seed": 0,
            "heldout_rows_scored": len(heldout_rows),
        },
    )
    vector = result.vector
    stored = ctx.store.add_vector(
        vector.to_bytes(), _jsonable(vector.metadata), user, session.example_set_id
    )
    session.vector, session.vector_id = vector, stored.id
    session.scores, session.recommended = list(result.scores), list(result.recommended_layers)
    session.evaluation, session.evaluation_id = None, None
    figure = charts.separation_chart(result.scores, result.recommended_layers)
    best = layers_text(result.recommended_layers) or layers_text(vector.layers)
    summary = (
        f"Vector #{stored.id} built from {result.pairs} build rows in {result.seconds:.1f} s "
        f"({method}, {negatives} negatives, {position} token). "
    )
    if result.recommended_layers:
        summary += (
            f"**Recommended layers: {best}** (they separate good from flawed held-out "
            "examples best). Use them on the Compare tab."
        )
    return BuildView(figure, summary, best)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# ---------------------------------------------------------------------------------- compare


def _steer_layers(session: Session, layers: str | None) -> list[int]:
    spec = (layers or "").strip() or layers_text(session.recommended) or "all"
    chosen = parse_layers(spec, max(session.vector.layers) + 1)
    missing = [i for i in chosen if i not in session.vector.directions]
    if missing:
        raise UserError(
            f"The vector was built without layer(s) {missing}; it covers "
            f"{layers_text(session.vector.layers)}."
        )
    return chosen


def compare(
    ctx: AppContext,
    session: Session,
    prompt: str,
    strength: float,
    layers: str | None = None,
    max_new_tokens: int = 48,
) -> tuple[str, str]:
    """The unsteered and steered answers to one prompt, from one batched call."""
    from steering.generate import side_by_side

    user = _need_user(session)
    _need_vector(session)
    if not (prompt or "").strip():
        raise UserError("Type a question, or pick one of the held-out questions.")
    chosen = _steer_layers(session, layers)
    answers = side_by_side(
        _loaded(ctx, session),
        prompt,
        session.vector,
        float(strength),
        layers=chosen,
        max_new_tokens=int(max_new_tokens),
    )
    ctx.store.record_event(
        user,
        "generate",
        "vector",
        session.vector_id,
        {"prompt_sha256": _sha(prompt), "strength": float(strength), "layers": chosen},
    )
    return answers["unsteered"], answers["steered"]


def parse_strengths(text: str) -> list[float]:
    """``"0, 0.25, 0.5"`` -> ``[0.0, 0.25, 0.5]`` (0 is always included as the baseline)."""
    values: list[float] = []
    for part in re.split(r"[,\s;]+", text or ""):
        if not part:
            continue
        try:
            value = float(part)
        except ValueError as error:
            raise UserError(
                f"Strength '{part}' is not a number: write them like 0, 0.25, 0.5, 1."
            ) from error
        if not math.isfinite(value):
            raise UserError("Strengths must be finite numbers.")
        values.append(value)
    if 0.0 not in values:
        values.insert(0, 0.0)
    if len(values) < 2:
        raise UserError("Give at least one strength besides 0, e.g. 0, 0.5, 1.")
    return sorted(set(values))


@dataclass
class EvaluationView:
    figure: Any
    verdict: str
    table: pd.DataFrame
    side_effects: pd.DataFrame
    samples: str
    chosen_alpha: float | None


def evaluate(
    ctx: AppContext,
    session: Session,
    strengths: str = "0, 0.25, 0.5, 1",
    layers: str | None = None,
    max_questions: int | None = None,
    side_effects: bool = True,
    progress: Progress = _quiet,
) -> EvaluationView:
    """Held-out evaluation at several strengths; stored with its configuration."""
    from steering.evaluate import evaluate_heldout

    user = _need_user(session)
    _need_vector(session)
    alphas = parse_strengths(strengths)
    chosen = _steer_layers(session, layers)
    build_rows, heldout_rows = list(session.build_rows), list(session.heldout_rows)
    if max_questions:
        limit = max(1, int(max_questions))
        build_rows, heldout_rows = build_rows[:limit], heldout_rows[:limit]
    if not heldout_rows:
        raise UserError("The example set has no held-out rows to evaluate on.")
    report = evaluate_heldout(
        _loaded(ctx, session),
        session.vector,
        build_rows,
        heldout_rows,
        alphas=tuple(alphas),
        layers=chosen,
        progress=lambda done, total: progress(done, total, "Scoring held-out questions"),
        side_effects=side_effects,
    )
    results = _jsonable(report.to_dict())
    config = {
        "strengths": alphas,
        "layers": chosen,
        "build_rows": len(build_rows),
        "heldout_rows": len(heldout_rows),
        "side_effects": bool(side_effects),
        "dataset_hash": session.example_set.content_hash,
    }
    stored = ctx.store.add_evaluation(session.vector_id, config, results, user)
    session.evaluation, session.evaluation_id = results, stored.id
    session.evaluation_layers = chosen
    return evaluation_view(results)


def evaluation_view(results: dict[str, Any]) -> EvaluationView:
    """Chart, verdict, tables and samples from a stored evaluation's results."""
    rows = list(results.get("results") or [])
    chosen = results.get("chosen_alpha")
    side = results.get("side_effects") or {}
    samples = samples_text(results.get("samples") or [])
    neutral = neutral_answers_text(side)
    if neutral:
        samples += "\n\n--- Neutral prompts (side effects) ---\n\n" + neutral
    return EvaluationView(
        charts.accuracy_chart(rows, chosen),
        str(results.get("verdict") or ""),
        results_table(rows),
        side_effects_table(side),
        samples,
        chosen,
    )


RESULT_COLUMNS = [
    ("alpha", "strength"),
    ("accuracy", "accuracy"),
    ("ci_low", "95% low"),
    ("ci_high", "95% high"),
    ("correct", "correct"),
    ("n", "questions"),
    ("mcnemar_p", "p (vs no vector)"),
    ("kl", "KL (bits)"),
    ("entropy_bits", "entropy (bits)"),
    ("mass_correct", "P(correct)"),
    ("mass_incorrect", "P(incorrect)"),
]


def results_table(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    table = []
    for row in rows:
        out = {}
        for key, label in RESULT_COLUMNS:
            value = row.get(key)
            if isinstance(value, float):
                value = round(value, 4)
            out[label] = "" if value is None else value
        table.append(out)
    return pd.DataFrame(table, columns=[label for _, label in RESULT_COLUMNS])


def side_effects_table(side: dict[str, Any]) -> pd.DataFrame:
    """One row per strength: perplexity of neutral text and share of neutral answers changed."""
    perplexity = side.get("perplexity") or {}
    changed = side.get("changed_share") or {}
    if not isinstance(perplexity, dict) or not isinstance(changed, dict):
        return pd.DataFrame(columns=SIDE_COLUMNS)
    rows = []
    for key in sorted(set(perplexity) | set(changed), key=_as_float):
        ppl, share = perplexity.get(key), changed.get(key)
        rows.append(
            [
                f"{_as_float(key):g}",
                "" if ppl is None else round(float(ppl), 2),
                "" if share is None else f"{float(share):.0%}",
            ]
        )
    return pd.DataFrame(rows, columns=SIDE_COLUMNS)


SIDE_COLUMNS = ["strength", "perplexity of neutral text", "neutral answers changed"]


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def neutral_answers_text(side: dict[str, Any], limit: int = 4) -> str:
    """The neutral prompts' answers at each strength, as plain text."""
    blocks = []
    for item in list(side.get("answers") or [])[:limit]:
        if not isinstance(item, dict):
            continue
        lines = [f"prompt: {item.get('prompt', '')}"]
        for alpha, answer in (item.get("answers") or {}).items():
            lines.append(f"strength {_as_float(alpha):g}: {answer}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def samples_text(samples: Sequence[dict[str, Any]], limit: int = 8) -> str:
    """Sample answers as plain text (shown in a text box: never rendered as HTML or markdown)."""
    blocks = []
    for sample in list(samples)[:limit]:
        lines = []
        for key, value in sample.items():
            if isinstance(value, (dict, list)):
                value = json.dumps(value, ensure_ascii=False)
            lines.append(f"{key}: {value}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) if blocks else "(no sample answers)"


# ---------------------------------------------------------------------------------- submit


def submit(
    ctx: AppContext, session: Session, strength: float | None = None, layers: str | None = None
) -> str:
    """Freeze vector + strength + layers + evaluation and send it for review."""
    user = _need_user(session)
    _need_vector(session)
    if session.evaluation_id is None or session.evaluation is None:
        raise UserError("Run the held-out evaluation first: reviewers need the evidence.")
    if strength is None:
        strength = session.evaluation.get("chosen_alpha")
    if strength is None:
        raise UserError("Choose a strength to submit.")
    if float(strength) == 0:
        raise UserError(
            "Strength 0 means no steering, so there is nothing to approve. The evaluation found no "
            "strength that did better on the build rows; to submit anyway, type the strength you "
            "want reviewed."
        )
    chosen = _steer_layers(session, layers) if (layers or "").strip() else session.evaluation_layers
    draft = ctx.store.create_submission(
        session.vector_id, float(strength), chosen, session.evaluation_id, user
    )
    sent = ctx.store.submit(draft.id, user, draft.version)
    return (
        f"Submission #{sent.id} sent for review: vector #{sent.vector_id} at strength "
        f"{sent.strength:g} on layers {layers_text(sent.layers)}. A reviewer other than you "
        "must approve it."
    )


# ---------------------------------------------------------------------------------- review


def submission_choices(ctx: AppContext, status: str | None = None) -> list[tuple[str, int]]:
    """``(label, id)`` pairs for a dropdown, newest first."""
    subs = ctx.store.list_submissions(status=status or None)
    return [
        (
            f"#{s.id} · {s.status} · by {s.created_by} · strength {s.strength:g} · "
            f"{s.updated_at:%Y-%m-%d %H:%M}",
            s.id,
        )
        for s in reversed(subs)
    ]


@dataclass
class SubmissionView:
    summary: str
    figure: Any
    table: pd.DataFrame
    side_effects: pd.DataFrame
    samples: str
    history: pd.DataFrame
    can_decide: bool  # approve / reject offered
    can_revoke: bool
    note: str


def show_submission(ctx: AppContext, session: Session, submission_id: int | None) -> SubmissionView:
    """The full evidence of one submission, and which decisions this user may take on it."""
    _need_user(session)
    if submission_id is None:
        raise UserError("Choose a submission from the list.")
    sub = ctx.store.get_submission(int(submission_id))
    vector = ctx.store.get_vector(sub.vector_id)
    results: dict[str, Any] = {}
    if sub.evaluation_id is not None:
        results = ctx.store.get_evaluation(sub.evaluation_id).results
    view = evaluation_view(results)
    session.shown_submission, session.shown_version = sub.id, sub.version
    lineage = vector.lineage
    intact = ctx.store.check_submission(sub.id)
    summary = "\n".join(
        [
            f"### Submission #{sub.id}: {sub.status}",
            f"- **Built by** {_md(sub.created_by)} on {sub.created_at:%Y-%m-%d %H:%M} UTC",
            f"- **Model** {_md(str(lineage.get('model_name') or lineage.get('model_id', '')))}",
            f"- **Method** {_md(str(lineage.get('method', '')))}, negatives "
            f"{_md(str(lineage.get('negatives', '')))}, example set "
            f"{_md(str(lineage.get('dataset_name', '')))}",
            f"- **Strength** {sub.strength:g} on layers {layers_text(sub.layers)}",
            f"- **Content** {'matches' if intact else 'DOES NOT MATCH'} the hash frozen at submission"
            f" (`{(sub.content_hash or '')[:16]}`)",
            "",
            f"**Verdict:** {_md(view.verdict) or 'no evaluation attached'}",
        ]
    )
    is_creator = sub.created_by == session.user
    can_decide = session.is_reviewer and not is_creator and sub.status == "submitted"
    can_revoke = session.is_reviewer and sub.status == "approved"
    if sub.status == "submitted" and is_creator:
        note = "You created this submission: another reviewer must approve or reject it."
    elif sub.status == "submitted" and not session.is_reviewer:
        note = "Only reviewers can approve or reject submissions."
    elif sub.status != "submitted" and not can_revoke:
        note = f"This submission is {sub.status}; there is nothing to decide."
    else:
        note = ""
    history = pd.DataFrame(
        [
            [f"{r.created_at:%Y-%m-%d %H:%M}", r.reviewer, r.decision, r.comment]
            for r in sub.reviews
        ],
        columns=["when (UTC)", "reviewer", "decision", "comment"],
    )
    return SubmissionView(
        summary,
        view.figure,
        view.table,
        view.side_effects,
        view.samples,
        history,
        can_decide,
        can_revoke,
        note,
    )


def decide(ctx: AppContext, session: Session, decision: str, comment: str) -> str:
    """Approve, reject or revoke the submission on screen, at the version the user saw."""
    user = _need_user(session)
    if session.shown_submission is None or session.shown_version is None:
        raise UserError("Open a submission first.")
    sid, version = session.shown_submission, session.shown_version
    if decision == "revoke":
        sub = ctx.store.revoke(sid, comment, user, version)
    else:
        sub = ctx.store.review(sid, decision, comment, user, version)
    session.shown_version = sub.version
    return f"Submission #{sub.id} is now **{sub.status}**."


# ---------------------------------------------------------------------------------- audit


AUDIT_COLUMNS = ["seq", "when (UTC)", "actor", "action", "object", "details"]


def audit_table(
    ctx: AppContext,
    session: Session,
    actor: str = "",
    action: str = "",
    object_type: str = "",
    limit: int = 500,
) -> pd.DataFrame:
    """The newest audit events matching the filters (empty filter = any)."""
    _need_user(session)
    events = ctx.store.audit_events(
        actor=actor.strip() or None,
        action=action.strip() or None,
        object_type=object_type.strip() or None,
        limit=limit,
        newest_first=True,
    )
    rows = [
        [
            e.seq,
            f"{e.ts:%Y-%m-%d %H:%M:%S}",
            e.actor,
            e.action,
            f"{e.object_type} {e.object_id}",
            json.dumps(e.details, ensure_ascii=False, default=str)[:300],
        ]
        for e in events
    ]
    return pd.DataFrame(rows, columns=AUDIT_COLUMNS)


def verify_audit(ctx: AppContext, session: Session) -> str:
    _need_user(session)
    result = ctx.store.verify()
    if result.ok:
        return (
            f"**Intact.** All {result.count} audit entries check out; each one carries the hash "
            f"of the one before. Head: entry {result.head_seq}, hash `{result.head_hash[:16]}`."
        )
    return (
        f"**Tampered with.** {_md(result.message)} (first broken entry: "
        f"{result.first_broken_seq}, reason: {result.reason})."
    )


def export_audit_csv(ctx: AppContext, session: Session) -> Path:
    user = _need_user(session)
    target = _export_folder(ctx, user) / "audit-trail.csv"
    ctx.store.export_audit("csv", target, actor=user)
    return target


def _export_folder(ctx: AppContext, user: str) -> Path:
    folder = ctx.export_dir / _sha(user)[:12]
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# ---------------------------------------------------------------------------------- downloads


def approved_choices(ctx: AppContext) -> list[tuple[str, int]]:
    return submission_choices(ctx, "approved")


def _strength_tag(strength: float) -> str:
    return f"{strength:g}".replace("-", "m")


def _approved(ctx: AppContext, submission_id: int | None):
    if submission_id is None:
        raise UserError("Choose an approved submission.")
    sub = ctx.store.get_submission(int(submission_id))
    if sub.status != "approved":
        raise UserError(f"Submission #{sub.id} is {sub.status}; only approved vectors download.")
    return sub


def _approved_vector(ctx: AppContext, sub) -> ControlVector:
    vector = ControlVector.from_bytes(ctx.store.read_vector_file(sub.vector_id)).select(
        list(sub.layers)
    )
    approvals = [r for r in sub.reviews if r.decision == "approve"]
    vector.metadata.update(
        {
            "approved_strength": sub.strength,
            "submission_id": sub.id,
            "approved_by": approvals[-1].reviewer if approvals else "",
            "layers": list(sub.layers),
        }
    )
    return vector


def download_safetensors(ctx: AppContext, session: Session, submission_id: int | None) -> Path:
    user = _need_user(session)
    sub = _approved(ctx, submission_id)
    vector = _approved_vector(ctx, sub)
    path = _export_folder(ctx, user) / (
        f"control-vector-{sub.id}-strength-{_strength_tag(sub.strength)}.safetensors"
    )
    vector.save(path)
    ctx.store.record_event(
        user, "vector.export", "submission", sub.id, {"format": "safetensors", "file": path.name}
    )
    return path


def download_gguf(ctx: AppContext, session: Session, submission_id: int | None) -> Path:
    from steering.export import export_gguf

    user = _need_user(session)
    sub = _approved(ctx, submission_id)
    vector = _approved_vector(ctx, sub)
    path = _export_folder(ctx, user) / (
        f"control-vector-{sub.id}-strength-{_strength_tag(sub.strength)}.gguf"
    )
    export_gguf(vector, path, strength=sub.strength)
    ctx.store.record_event(
        user, "vector.export", "submission", sub.id, {"format": "gguf", "file": path.name}
    )
    return path


def download_report(ctx: AppContext, session: Session, submission_id: int | None) -> Path:
    from dashboard.report import evaluation_report_html

    user = _need_user(session)
    if submission_id is None:
        raise UserError("Choose a submission.")
    sub = ctx.store.get_submission(int(submission_id))
    if sub.evaluation_id is None:
        raise UserError(f"Submission #{sub.id} has no evaluation attached.")
    evaluation = ctx.store.get_evaluation(sub.evaluation_id)
    vector = ctx.store.get_vector(sub.vector_id)
    html = evaluation_report_html(sub, vector, evaluation)
    path = _export_folder(ctx, user) / f"evaluation-report-submission-{sub.id}.html"
    path.write_text(html, encoding="utf-8")
    ctx.store.record_event(
        user, "report.export", "submission", sub.id, {"format": "html", "file": path.name}
    )
    return path


# ---------------------------------------------------------------------------------- text


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")


def _md(text: str) -> str:
    """User-provided text made inert inside markdown: no HTML, no formatting."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))
