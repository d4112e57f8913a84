"""The offline HTML report, manager first: recommendation, warning, chart, samples, side effects,
lineage in words; diagnostics, tables and hashes only under "Technical details"."""

from __future__ import annotations

import dataclasses
import json
import re

from dashboard.report import evaluation_report_html
from steering.evaluation.results import Verdict
from steering.layers import layers_text
from tests.app.support import REASON, approved, sample_report


def _page(ctx, sid: int, **kwargs) -> str:
    sub = ctx.store.get_submission(sid)
    return evaluation_report_html(
        sub,
        ctx.store.get_vector(sub.vector_id),
        ctx.store.get_evaluation(sub.evaluation_id),
        **kwargs,
    )


def _text(html_part: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html_part)).strip()


def test_the_first_screen_is_the_headline_box_then_the_chart(ctx, examples_file):
    sid = approved(ctx, examples_file)
    page = _page(ctx, sid, against_evidence=ctx.store.against_evidence(sid))
    body = page[page.index("<body>") :]
    order = [
        body.index("<section class='headline' id='headline'>"),
        body.index("Decision: approved"),
        body.index("Recommendation: not enough evidence."),
        body.index("Submitted against the evidence"),
        body.index("</section>"),
        body.index("Accuracy against strength"),
        body.index("Sample questions"),
        body.index("Side effects on everyday prompts"),
        body.index("<details id='technical'>"),
    ]
    assert order == sorted(order)
    recommendation = body[body.index("id='recommendation'") :]
    recommendation = _text(recommendation[: recommendation.index("</div>")])
    assert "7 of 10 held-out questions (70%) correctly, against 5 of 10 held-out questions " in (
        recommendation
    )
    warning = body[body.index("id='against-evidence'") :]
    warning = _text(warning[: warning.index("</div>")])
    assert "does not recommend deploying the vector" in warning and REASON in warning


def test_without_the_stored_flag_the_report_still_warns(ctx, examples_file):
    sid = approved(ctx, examples_file)
    page = _page(ctx, sid)  # the flag worked out from the evaluation, the reason not at hand
    assert "Submitted against the evidence" in page
    assert "Their reason is in the submit event of the audit trail." in page


def test_the_chart_carries_the_guessing_line(ctx, examples_file):
    sid = approved(ctx, examples_file)
    page = _page(ctx, sid)
    assert '"name":"guessing' not in page  # the sample report records no answer options
    evaluation = ctx.store.get_evaluation(ctx.store.get_submission(sid).evaluation_id)
    with_chance = dataclasses.replace(
        evaluation,
        results={**evaluation.results, "chance": 1 / 3, "options": [3, 3]},
    )
    sub = ctx.store.get_submission(sid)
    page = evaluation_report_html(sub, ctx.store.get_vector(sub.vector_id), with_chance)
    assert '"name":"guessing (33%)"' in page
    assert "Each question has 3 answer options, so guessing gets 33% right." in page


def test_details_are_folded_and_lineage_is_in_words(ctx, examples_file):
    sid = approved(ctx, examples_file)
    page = _page(ctx, sid)
    before, technical = page.split("<details id='technical'>", 1)
    technical = technical[: technical.index("</details>")]
    # Diagnostics only in the fold, each explained, KL in nats.
    for label in ("KL (nats)", "entropy (bits)", "P(correct)", "perplexity of neutral text"):
        assert label in technical
    assert "<th>KL (nats)</th>" not in before
    assert "<td>0.0312</td>" in technical
    # Raw lineage keys never show; the steered layers are named as a range.
    readable = _text(re.sub(r"<script.*?</script>", " ", page, flags=re.S))
    for raw in ("method_paper_name", "model_fingerprint", "split_seed", "dataset_hash"):
        assert raw not in readable
    sub = ctx.store.get_submission(sid)
    assert f"it is steered on layers {layers_text(sub.layers)}" in readable
    assert "model fingerprint" in technical and "seed of the build / held-out split" in technical


def test_samples_are_marked_and_counts_are_whole(ctx, examples_file):
    sid = approved(ctx, examples_file)
    page = _page(ctx, sid)
    samples = page[page.index("<div id='samples'>") :]
    samples = samples[: samples.index("</div>")]
    assert re.search(r"<td data-label=\"correct answer\">3</td>", samples)  # stacks when narrow
    assert "✗ wrong: 4" in samples and "✗ wrong: 42" in samples
    readable = re.sub(r"<script.*?</script>", " ", page, flags=re.S)
    assert not re.search(r">\d+\.0<", readable)  # counts as "2", never "2.0"


def test_a_submission_that_follows_the_evidence_has_no_warning(ctx, examples_file):
    sid = approved(ctx, examples_file)
    sub = ctx.store.get_submission(sid)
    evaluation = ctx.store.get_evaluation(sub.evaluation_id)
    improving = dataclasses.replace(
        evaluation,
        results=json.loads(
            json.dumps(dataclasses.replace(sample_report(), outcome=Verdict.IMPROVES).to_dict())
        ),
    )
    page = evaluation_report_html(sub, ctx.store.get_vector(sub.vector_id), improving)
    assert "Recommendation: deploy." in page
    assert "against the evidence" not in page
