"""Compare, side by side: one question answered without and with the vector in one batched call,
both answers marked against the example set's correct answer when it has one."""

from __future__ import annotations

from dataclasses import dataclass

from dashboard import jobs
from dashboard.browser_state import BrowserSession
from dashboard.common import UserError, loaded_model, need_user, sha256_text
from dashboard.context import AppContext
from dashboard.tabs.compare.vector import (
    finite_strength,
    need_vector,
    need_vector_id,
    steer_layers,
)
from dashboard.views.common import md
from dashboard.views.compare import gate_markdown
from steering.data.examples import Example
from steering.engine.generate import Answer, side_by_side_answers
from steering.errors import SteeringError
from steering.evaluation.answers import answer_kind, expected_form, extract_answer, is_correct
from steering.evaluation.strengths import parse_strengths


@dataclass(frozen=True)
class AnswerRequest:
    """What one side-by-side comparison asks for (the one parameter list of :func:`compare`
    and :func:`compare_answers`)."""

    prompt: str
    strength: float
    layers: str | None = None  # blank or None: the recommended layers
    max_new_tokens: int = 48


def compare(ctx: AppContext, session: BrowserSession, request: AnswerRequest) -> tuple[str, str]:
    """The unsteered and steered answers' texts (those of :func:`compare_answers`)."""
    answers = compare_answers(ctx, session, request)
    return answers["unsteered"].text, answers["steered"].text


def compare_answers(
    ctx: AppContext, session: BrowserSession, request: AnswerRequest
) -> dict[str, Answer]:
    """Both answers to one prompt from one batched call, each knowing whether the token limit
    cut it; audited as a ``generate`` event.

    Everything the audit event records is checked before generating, so a refusal costs no
    model time and finished work is never lost to a failed audit write.
    """
    user = need_user(session)
    vector = need_vector(session)
    if not (request.prompt or "").strip():
        raise UserError("Type a question, or pick one of the held-out questions.")
    strength = finite_strength(request.strength)
    chosen = steer_layers(session, request.layers)
    vector_id = need_vector_id(session)
    with jobs.tracked_job(ctx.store, user, jobs.GENERATION):
        answers = side_by_side_answers(
            loaded_model(ctx, session),
            request.prompt,
            vector,
            strength,
            layers=chosen,
            max_new_tokens=int(request.max_new_tokens),
        )
    details = {"prompt_sha256": sha256_text(request.prompt), "strength": strength, "layers": chosen}
    ctx.store.record_event(user, "generate", "vector", vector_id, details)
    return answers


def offered_strengths(strengths_to_test: str) -> tuple[list[float], float | None]:
    """The side-by-side strengths: the non-zero ones of "Strengths to test", and the middle one
    to start with (of a vector's suggestions, the one adding it at 5 % of the residual stream).

    Nothing is offered while the text is not a list of strengths (it is being typed).
    """
    try:
        steered = [a for a in parse_strengths(strengths_to_test) if a != 0]
    except SteeringError:
        return [], None
    return steered, steered[(len(steered) - 1) // 2]


def known_question(session: BrowserSession, prompt: str) -> tuple[Example, str] | None:
    """The example-set row with exactly this question and a known answer, and its split."""
    wanted = (prompt or "").strip()
    for rows, split in ((session.heldout_rows, "held-out"), (session.build_rows, "build")):
        for example in rows:
            if example.prompt.strip() == wanted and (example.answer or "").strip():
                return example, split
    return None


def shown_answer(answer: Answer) -> str:
    """The answer as the text box shows it: said so when the token limit stopped it."""
    if answer.cut:
        return f"{answer.text} … (stopped at the {answer.limit}-token limit)"
    return answer.text


def applied_markdown(session: BrowserSession, answer: Answer) -> str:
    """Whether the session's vector was applied to ``answer`` and why (empty: unconditional)."""
    condition = session.vector.condition if session.vector is not None else None
    return gate_markdown(answer.gate, condition.threshold if condition is not None else None)


def yardstick(session: BrowserSession, prompt: str, answers: dict[str, Answer]) -> str:
    """Both answers marked right or wrong against the example set's correct answer (Markdown).

    The answer is read from each text the way the evaluation reads generated answers
    (``steering.evaluation.answers``), so a mark here means what it means in the evaluation.
    """
    known = known_question(session, prompt)
    if known is None:
        return (
            "This question is not in the example set, so there is no correct answer to mark "
            "the answers against. Pick a held-out question to see right and wrong."
        )
    example, split = known
    answer = str(example.answer)
    choices = tuple(example.choices) if example.choices else None
    lines = [f"**Correct answer: {md(answer)}** (row {example.row}, a {split} question)."]
    for key, label in (("unsteered", "Without the vector"), ("steered", "With the vector")):
        found = extract_answer(answers[key].text, answer, choices)
        right = is_correct(found, answer)
        read = "no answer found" if found is None else f"answer read: {md(found)}"
        cut = " (stopped at the token limit before finishing)" if answers[key].cut else ""
        mark = "✓ right" if right else "✗ wrong"
        lines.append(f"- {label}: **{mark}** ({read}){cut}")
    lines.append(f"\n{how_marked(answer)}")
    return "\n".join(lines)


def how_marked(answer: str) -> str:
    """What makes an answer count as right, in words (the rule of ``steering.evaluation.answers``)."""
    form = md(expected_form(answer))
    kind = answer_kind(answer)
    if kind == "number":
        return (
            f"An answer counts as right when its number is {form}: the number after "
            '"the answer is" when it says so, else the last number it writes.'
        )
    if kind == "letter":
        return (
            f"An answer counts as right when the option it picks is {form} (a capital or a "
            "small letter alike)."
        )
    return (
        f'An answer counts as right when it names "{form}"; capitals, punctuation and a '
        'leading "a", "an" or "the" make no difference.'
    )
