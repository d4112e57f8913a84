"""Heavy jobs are records: a page opened while one runs (a reload, a new sign-in) shows it with
its progress, then its result without a click; a restart's interruption is said once; a second
job is still refused; progress is written now and then, not at every step.

The running evaluation is held inside the tiny model's forward pass by an event the test
releases, so "while it runs" is a state the test controls, not a race against the clock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import gradio as gr
import pytest

from dashboard import events, jobs
from dashboard.common import UserError
from dashboard.tabs import build, compare, examples
from dashboard.ui import build_ui
from dashboard.web import SignedInUser
from tests.app.handlers import by_id, handler_of, processed
from tests.app.support import PASSWORD, builder_with_vector, login

RUNNING = "is still running; its result will appear here."
FINISHED = "has finished: its result is below."
INTERRUPTED = "was interrupted when the app restarted, so it has no result; run it again."


@pytest.fixture()
def demo(ctx) -> gr.Blocks:
    return build_ui(ctx)


@pytest.fixture()
def signed_in(monkeypatch):
    """Make ``session`` the one every event's request signs in as (what the cookie does)."""

    def sign_in(session) -> None:
        user = SignedInUser(session.user, session.role, session.owner)
        monkeypatch.setattr(events, "current_user", lambda request: user)

    return sign_in


def ticker(demo: gr.Blocks, status_id: str):
    """The timer handler that follows jobs in the status line ``status_id``, and its timer."""
    (found,) = [
        fn
        for fn in demo.fns.values()
        if any(event == "tick" for _, event in fn.targets)
        and getattr(fn.outputs[0], "elem_id", None) == status_id
    ]
    return found, found.outputs[1]


class HeldModel:
    """Holds every forward pass through a block until released; says when one is waiting."""

    def __init__(self, model) -> None:
        self.model = model
        self.waiting, self.released = threading.Event(), threading.Event()
        self.handle = None

    def hold(self) -> None:
        self.handle = self.model.register_forward_pre_hook(self._hold)

    def _hold(self, *_: object) -> None:
        if not self.released.is_set():
            self.waiting.set()
            assert self.released.wait(120), "the test never released the model"

    def release(self) -> None:
        self.released.set()
        if self.handle is not None:
            self.handle.remove()


@pytest.fixture()
def held(ctx) -> Iterator[HeldModel]:
    holding = HeldModel(ctx.model("tiny").model.model.layers[0])  # every pass goes through it
    yield holding
    holding.release()


def test_a_reload_during_an_evaluation_shows_it_running_then_its_result(
    demo, ctx, examples_file, signed_in, held
):
    first = builder_with_vector(ctx, examples_file)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            compare.evaluate(ctx, first, "0, 0.5", max_questions=3, side_effects=False)
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            failures.append(error)

    held.hold()
    worker = threading.Thread(target=run)
    worker.start()
    assert held.waiting.wait(60)
    job = ctx.store.latest_job("bob", [jobs.EVALUATION])
    assert job is not None and job.state == "running" and job.estimate_s is not None

    # The page is loaded again: a new sign-in, a fresh browser session, nothing in it yet.
    second = login(ctx, "bob", PASSWORD)
    signed_in(second)
    tick, timer = ticker(demo, "eval-status")
    load = handler_of(demo, None, "load", output="eval-status")
    loaded = load.fn(second)
    shown = by_id(load, loaded)
    assert shown["eval-status"].startswith("**Your evaluation (started ")
    assert RUNNING in shown["eval-status"] and "% done" in shown["eval-status"]
    assert loaded[timer].active is True
    processed(demo, load, loaded)  # one value per output, as the page needs

    # A second job is still refused while it runs, and leaves no record.
    examples.upload_examples(ctx, second, examples_file)
    with pytest.raises(UserError, match="your evaluation started .* is still running"):
        build.build(ctx, second, layers="1-2")
    assert [j.id for j in ctx.store.list_jobs(created_by="bob", kinds=["evaluation"])] == [job.id]
    assert len(ctx.store.list_jobs(kinds=["build"])) == 1  # the first session's build only

    still = tick.fn(second)
    assert RUNNING in by_id(tick, still)["eval-status"] and timer not in still
    processed(demo, tick, still)

    held.release()
    worker.join(120)
    assert not failures, failures
    ended = ctx.store.get_job(job.id)
    (stored,) = ctx.store.list_evaluations(created_by="bob")
    assert (ended.state, ended.result_id) == ("done", stored.id)

    done = tick.fn(second)
    values = by_id(tick, done)
    assert values["eval-status"].startswith("Your evaluation (started ")
    assert values["eval-status"].endswith(FINISHED)
    assert values["eval-verdict"], "the result appears without a click"
    assert done[timer].active is False
    assert (second.evaluation_id, second.vector_id) == (stored.id, stored.vector_id)
    processed(demo, tick, done)


def test_a_build_finished_while_the_page_was_away_comes_back_with_its_vector(
    demo, ctx, examples_file, signed_in
):
    first = builder_with_vector(ctx, examples_file)
    job = ctx.store.latest_job("bob", [jobs.BUILD])
    assert job is not None and (job.state, job.result_id) == ("done", first.vector_id)
    second = login(ctx, "bob", PASSWORD)
    signed_in(second)
    tick, timer = ticker(demo, "build-status")
    done = tick.fn(second)
    status = by_id(tick, done)["build-status"]
    assert status.startswith("Your build (started ") and FINISHED in status
    assert second.vector_id == first.vector_id and done[timer].active is False
    processed(demo, tick, done)


def test_an_interrupted_job_is_said_once_on_the_next_visit(demo, ctx, signed_in):
    session = login(ctx, "bob", PASSWORD)
    signed_in(session)
    job = ctx.store.start_job("bob", jobs.EVALUATION, estimate_s=30)
    ctx.store.interrupt_open_jobs()  # what the next start-up does
    load = handler_of(demo, None, "load", output="eval-status")
    first = by_id(load, load.fn(session))
    said = first["eval-status"]
    assert said.startswith("**Your evaluation started ") and said.endswith(f" ago {INTERRUPTED}**")
    assert ctx.store.get_job(job.id).told is True
    again = load.fn(login(ctx, "bob", PASSWORD))
    assert "eval-status" not in by_id(load, again)
    processed(demo, load, again)  # nothing to say: still one (unchanged) value per output


def test_a_job_that_fails_keeps_the_message_the_user_saw(ctx):
    with pytest.raises(UserError):
        with jobs.tracked_job(ctx.store, "bob", jobs.BUILD):
            raise UserError("row 3: column 'positive' is empty")
    with pytest.raises(RuntimeError):
        with jobs.tracked_job(ctx.store, "bob", jobs.GENERATION):
            raise RuntimeError("CUDA out of memory at 0x7f")
    generation, build_job = ctx.store.list_jobs(created_by="bob")
    assert (build_job.state, build_job.error) == ("failed", "row 3: column 'positive' is empty")
    assert generation.state == "failed"
    # A message not meant for users is not shown to them; the type says what broke.
    assert generation.error == (
        "an unexpected error stopped it (RuntimeError); the server log has details"
    )


def test_answers_and_evaluations_are_records_naming_what_they_made(ctx, examples_file):
    session = builder_with_vector(ctx, examples_file)
    compare.compare(ctx, session, compare.AnswerRequest("What is 2 plus 3?", 0.5, None, 8))
    compare.evaluate(ctx, session, "0, 0.5", max_questions=3, side_effects=False)
    evaluation, generation, built = ctx.store.list_jobs(created_by="bob")
    assert [j.kind for j in (evaluation, generation, built)] == [
        "evaluation",
        "generation",
        "build",
    ]
    assert {j.state for j in (evaluation, generation, built)} == {"done"}
    assert built.result_id == session.vector_id
    assert evaluation.result_id == session.evaluation_id
    assert generation.result_id is None
    assert evaluation.estimate_s is not None and evaluation.progress == 1


class Writes:
    """A stand-in store that keeps each progress update it is asked to write."""

    def __init__(self) -> None:
        self.updates: list[dict] = []

    def update_job(self, job_id: int, **values: object) -> bool:
        self.updates.append(values)
        return True


def test_progress_is_written_at_most_each_second_and_at_each_new_phase(ctx):
    times = iter([0.0, 0.0, 0.0, 0.4, 0.9, 1.0, 1.5, 1.6, 2.0, 2.7])
    store = Writes()
    job = ctx.store.start_job("bob", jobs.EVALUATION)
    record = jobs.JobRecord(store, job, clock=lambda: next(times), every_s=1.0)  # type: ignore[arg-type]
    record.expect(20.0)  # t = 0: the estimate, written at once
    calls = [("Build questions", 12.0)] * 5 + [("Held-out questions", 6.0)] * 3
    for phase, left in calls:  # t = 0.0, 0.4, 0.9, 1.0, 1.5 | 1.6, 2.0, 2.7
        record.progress(phase, left)
    written = [(u["phase"], u["progress"]) for u in store.updates]
    # Written: the estimate; the first call; 1 s after it; the new phase; 1.1 s after that.
    assert written == [
        ("", 0.0),
        ("Build questions", 0.0),
        ("Build questions", pytest.approx(1.0 / 13.0)),
        ("Held-out questions", pytest.approx(1.6 / 7.6)),
        ("Held-out questions", pytest.approx(2.7 / 8.7)),
    ]
    assert {u["estimate_s"] for u in store.updates} == {20.0}
