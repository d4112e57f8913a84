"""A builder's earlier work, read back from the store: example sets, vectors, evaluations.

Work made in the dashboard is stored as it is made (the example set's file, the vector's file and
its lineage, the evaluation's configuration and results), so signing out, reloading or coming back
the next day loses nothing: these functions list what the signed-in user made, newest first, and
put one piece back into their :class:`BrowserSession` so they can continue (compare, evaluate,
submit) exactly where they left off.

No gradio here: the tabs call these and show the result.
"""

from __future__ import annotations

from dataclasses import dataclass

from dashboard.browser_state import BrowserSession
from dashboard.common import SPLIT_SEED, UserError, need_user
from dashboard.context import AppContext
from steering.data.examples import ExampleSet, load_examples, split_examples
from steering.evaluation.results import EvaluationReport
from steering.layers import layers_text
from steering.vectors import ControlVector
from storage import StoredEvaluation, StoredExampleSet, StoredVector

# How many of each kind the lists offer (newest first): enough for a week of work.
LIST_LIMIT = 50
# The held-out share used when a vector's lineage does not record one (the slider's default).
DEFAULT_HELDOUT_FRACTION = 0.3

Choice = tuple[str, int]


# ------------------------------------------------------------------------------------ listing


def example_sets(ctx: AppContext, user: str) -> list[StoredExampleSet]:
    """The example sets ``user`` uploaded or picked, newest first."""
    mine = [s for s in ctx.store.list_example_sets() if s.created_by == user]
    return list(reversed(mine))[:LIST_LIMIT]


def vectors(ctx: AppContext, session: BrowserSession) -> list[StoredVector]:
    """The vectors this user built or imported, newest first."""
    return ctx.store.list_vectors(created_by=need_user(session))[:LIST_LIMIT]


def evaluations(ctx: AppContext, session: BrowserSession) -> list[StoredEvaluation]:
    """The evaluations this user ran, newest first."""
    return ctx.store.list_evaluations(created_by=need_user(session))[:LIST_LIMIT]


def example_set_label(stored: StoredExampleSet) -> str:
    return (
        f"#{stored.id} · {stored.name} · {stored.row_count} rows · "
        f"{stored.created_at:%Y-%m-%d %H:%M}"
    )


def vector_label(stored: StoredVector) -> str:
    """Which data and method made it, and when: what a builder remembers a vector by."""
    lineage = stored.lineage
    source = lineage.get("dataset_name") or (
        "imported file" if lineage.get("source") == "imported" else "examples"
    )
    return f"#{stored.id} · {source} · {stored.created_at:%Y-%m-%d %H:%M}"


def evaluation_label(stored: StoredEvaluation) -> str:
    """The vector it tested, the strengths, and the strength it chose."""
    report = EvaluationReport.from_dict(stored.results, outcome=stored.outcome)
    strengths = ", ".join(f"{r.alpha:g}" for r in report.results)
    chosen = report.chosen_alpha
    picked = f" · chose {chosen:g}" if chosen else " · no strength helped"
    return (
        f"#{stored.id} · vector #{stored.vector_id} · strengths {strengths}{picked} · "
        f"{stored.created_at:%Y-%m-%d %H:%M}"
    )


def example_set_choices(ctx: AppContext, session: BrowserSession) -> list[Choice]:
    return [(example_set_label(s), s.id) for s in example_sets(ctx, need_user(session))]


def vector_choices(ctx: AppContext, session: BrowserSession) -> list[Choice]:
    return [(vector_label(v), v.id) for v in vectors(ctx, session)]


def evaluation_choices(ctx: AppContext, session: BrowserSession) -> list[Choice]:
    return [(evaluation_label(e), e.id) for e in evaluations(ctx, session)]


# ------------------------------------------------------------------------------------ reopening


def _own(what: str, number: int, creator: str, user: str) -> None:
    if creator != user:
        raise UserError(
            f"{what} #{number} was made by {creator}, not you; you can reopen only yours."
        )


def _stored_example_set(ctx: AppContext, set_id: int) -> StoredExampleSet:
    found = next((s for s in ctx.store.list_example_sets() if s.id == int(set_id)), None)
    if found is None:
        raise UserError(f"There is no example set #{set_id}; pick one from the list.")
    return found


def use_example_set(
    session: BrowserSession, example_set: ExampleSet, stored_id: int, heldout_fraction: float
) -> None:
    """Make ``example_set`` the session's, split as every build of it is split (seeded)."""
    build, heldout = split_examples(example_set, heldout_fraction=heldout_fraction, seed=SPLIT_SEED)
    session.example_set, session.example_set_id = example_set, stored_id
    session.build_rows, session.heldout_rows = build, heldout
    session.heldout_fraction = float(heldout_fraction)


def reopen_example_set(
    ctx: AppContext, session: BrowserSession, set_id: int | None, heldout_fraction: float
) -> ExampleSet:
    """Read the stored file of one of the user's example sets again and make it the session's."""
    user = need_user(session)
    if set_id is None:
        raise UserError("Pick one of your earlier example sets from the list.")
    stored = _stored_example_set(ctx, int(set_id))
    _own("Example set", stored.id, stored.created_by, user)
    data = ctx.store.files.read(stored.file_sha256)
    # The rows its builder chose to skip are skipped again: the same rows, the same content hash.
    skip = stored.skipped_rows or ()
    example_set = load_examples(data, filename=stored.filename, name=stored.name, skip_rows=skip)
    use_example_set(session, example_set, stored.id, heldout_fraction)
    return example_set


@dataclass(frozen=True)
class ReopenedVector:
    stored: StoredVector
    vector: ControlVector
    example_set: ExampleSet | None  # reopened with it, when it was built from one

    @property
    def layers_text(self) -> str:
        return layers_text(self.stored.lineage.get("recommended_layers") or self.vector.layers)


def reopen_vector(
    ctx: AppContext, session: BrowserSession, vector_id: int | None
) -> ReopenedVector:
    """Put one of the user's vectors back into the session, with the example set it came from.

    The example set is split as it was for the build (the held-out share is in the lineage), so
    an evaluation of the reopened vector tests it on the same held-out rows.
    """
    user = need_user(session)
    if vector_id is None:
        raise UserError("Pick one of your earlier vectors from the list.")
    stored = ctx.store.get_vector(int(vector_id))
    _own("Vector", stored.id, stored.created_by, user)
    model = session.model_spec or ctx.default_model
    # The lineage names the loaded model's own spec, which may differ from the name it was
    # asked for (a bundled key, a cached path); either one matching is the same model.
    names = {model} | ({ctx.model(model).spec} if ctx.is_loaded(model) else set())
    built_on = stored.lineage.get("model_id")
    if built_on and built_on not in names:
        raise UserError(
            f"Vector #{stored.id} was made for the model '{built_on}', but '{model}' is loaded. "
            f"Load '{built_on}' on tab 1 (Model) first, then reopen the vector."
        )
    vector = ControlVector.from_bytes(ctx.store.read_vector_file(stored.id))
    reopened_set = None
    if stored.example_set_id is not None and stored.example_set_id != session.example_set_id:
        fraction = float(stored.lineage.get("heldout_fraction") or DEFAULT_HELDOUT_FRACTION)
        reopened_set = reopen_example_set(ctx, session, stored.example_set_id, fraction)
    session.forget_work()
    session.vector, session.vector_id = vector, stored.id
    recommended = stored.lineage.get("recommended_layers") or vector.layers
    session.recommended = [int(i) for i in recommended]
    return ReopenedVector(stored, vector, reopened_set)


@dataclass(frozen=True)
class ReopenedEvaluation:
    stored: StoredEvaluation
    report: EvaluationReport
    vector: ReopenedVector | None  # reopened with it, when another vector was in the session


def reopen_evaluation(
    ctx: AppContext, session: BrowserSession, evaluation_id: int | None
) -> ReopenedEvaluation:
    """Put one of the user's evaluations (and the vector it tested) back into the session.

    From there it can be submitted exactly as right after running it.
    """
    user = need_user(session)
    if evaluation_id is None:
        raise UserError("Pick one of your earlier evaluations from the list.")
    stored = ctx.store.get_evaluation(int(evaluation_id))
    _own("Evaluation", stored.id, stored.created_by, user)
    vector = None
    if session.vector_id != stored.vector_id:
        vector = reopen_vector(ctx, session, stored.vector_id)
    report = EvaluationReport.from_dict(stored.results, outcome=stored.outcome)
    session.evaluation, session.evaluation_id = report, stored.id
    session.evaluation_layers = [int(i) for i in stored.config.get("layers") or session.recommended]
    return ReopenedEvaluation(stored, report, vector)
