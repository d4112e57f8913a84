"""The evaluation report as one self-contained HTML file: charts inlined, readable offline.

Every piece of text that came from a user or a model is HTML-escaped; plotly's JavaScript is
inlined once (``include_plotlyjs=True``) so the file needs no network.
"""

from __future__ import annotations

import html
from typing import Any

from markdown_it import MarkdownIt

from dashboard.views.audit import checkpoint_rows
from dashboard.views.common import SCROLL_CUE, vector_origin
from dashboard.views.compare import evaluation_view
from dashboard.views.headline import Headline, headline
from dashboard.views.precision import number_format_markdown
from dashboard.views.review import (
    HISTORY_COLUMNS,
    history_rows,
    lineage_markdown,
)
from steering.evaluation.results import EvaluationReport
from steering.layers import layers_text
from storage import (
    Checkpoint,
    StoredEvaluation,
    StoredSubmission,
    StoredVector,
    UsageCount,
    workflow,
)
from storage.workflow import AgainstEvidence

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:960px;margin:2em auto;
padding:0 1em;color:#111827;line-height:1.45;overflow-wrap:break-word}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #e5e7eb}
.headline{background:#eff6ff;border:1px solid #bfdbfe;padding:.2em 1em;border-radius:6px}
.headline>div{margin:.6em 0}.headline p{margin:0}#recommendation{font-size:1.1em}
#against-evidence{background:#fef3c7;border-left:4px solid #d97706;padding:.4em .8em}
.scroll{max-width:100%;overflow-x:auto;background:linear-gradient(to left,#fff 30%,#fff0) right,
radial-gradient(farthest-side at 100% 50%,#0003,#0000) right;background-repeat:no-repeat;
background-size:2.5em 100%,1em 100%;background-attachment:local,scroll}
.scroll-note{display:none;font-size:.85em;color:#4b5563}
table{border-collapse:collapse;width:100%;font-size:.9em}
th,td{border:1px solid #e5e7eb;padding:4px 8px;text-align:left}td{overflow-wrap:anywhere}
th{background:#f3f4f6}
details{margin-top:1.6em}summary{cursor:pointer;font-size:1.1em}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f9fafb;padding:1em;border-radius:6px;
font-size:.85em}
code{overflow-wrap:anywhere}
.js-plotly-plot,.plot-container{max-width:100%}
@media (max-width:640px){body{margin:1em auto;padding:0 .6em}
.scroll-note{display:block}
.stack table,.stack tbody,.stack tr,.stack td{display:block;width:auto}
.stack thead{display:none}.stack tr{border:1px solid #e5e7eb;margin-bottom:.6em}
.stack td{border:0;border-top:1px solid #f3f4f6}
.stack td::before{content:attr(data-label);display:block;font-size:.8em;color:#4b5563}}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(rows: list[list[Any]], headers: list[str]) -> str:
    """A table in a box that scrolls sideways when it is wider than the page."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f"<div class='scroll'>{table}</div>"


# Shown in a narrow window above a table too wide for it (the box's shadow marks the edge too).
_SCROLL_NOTE = f"<p class='scroll-note'>{_e(SCROLL_CUE)}</p>"


def checkpoint_html(checkpoint: Checkpoint | None) -> str:
    """The "Audit checkpoint" section: the signed head of the audit trail when the report was made.

    A copy of the report kept elsewhere is what reveals a later rewrite of the audit trail even by
    someone holding the database, the signing key and the checkpoint log of this machine.
    """
    if checkpoint is None:
        return (
            "<h2>Audit checkpoint</h2><p>This report carries no checkpoint of the audit trail "
            "(none had been written when it was made).</p>"
        )
    return "\n".join(
        [
            "<h2>Audit checkpoint</h2>",
            "<p>Keep a copy of this report somewhere else: this signed checkpoint of the audit "
            "trail lets anyone detect a later rewrite of the trail.</p>",
            _table(checkpoint_rows(checkpoint), ["", ""]),
            "<p><small>To check the lab against it, save this line as a file and run "
            "<code>python -m storage verify --checkpoints FILE</code>:</small></p>",
            f"<pre>{_e(checkpoint.to_line())}</pre>",
        ]
    )


def usage_html(submission_id: int, usage: list[UsageCount] | None) -> str:
    """The "Use through the API" line: requests per key with this submission (all hours)."""
    if usage is None:
        return ""
    per_key: dict[str, int] = {}
    for count in usage:
        if count.submission_id == submission_id:
            per_key[count.key_name] = per_key.get(count.key_name, 0) + count.count
    if not per_key:
        return "<h2>Use through the API</h2><p>Not used through the API so far.</p>"
    total = sum(per_key.values())
    keys = ", ".join(f"{_e(name)} ({n})" for name, n in sorted(per_key.items()))
    return f"<h2>Use through the API</h2><p>{total} requests so far, by key: {keys}.</p>"


# The evaluation's settings as the report names them (never the stored keys).
_SETTINGS = (
    ("strengths", "strengths tested"),
    ("layers", "layers steered"),
    ("build_rows", "rows used to choose the strength"),
    ("heldout_rows", "held-out rows reported on"),
    ("side_effects", "side effects measured"),
    ("dataset_hash", "example set content hash"),
)


def _setting(key: str, value: Any) -> str:
    if key == "layers" and isinstance(value, list):
        return layers_text(value)
    if key == "strengths" and isinstance(value, list):
        return ", ".join(f"{float(a):g}" for a in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _markdown(text: str, *, stack: bool = False) -> str:
    """The views' Markdown as HTML; raw HTML stays text (user text was escaped by
    :func:`dashboard.views.common.md`). Tables scroll in their own box; with ``stack``, in a
    narrow window each row becomes a card with every cell under its column's name."""
    tokens = _MARKDOWN.parse(text)
    if stack:
        headers: list[str] = []
        column = 0
        for i, token in enumerate(tokens):
            if token.type == "tr_open":
                column = 0
            elif token.type == "th_open":
                headers.append(tokens[i + 1].content)
            elif token.type == "td_open":
                if column < len(headers):
                    token.attrSet("data-label", headers[column])
                column += 1
            elif token.type == "table_close":
                headers = []
    rendered = _MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {})
    # With raw HTML off, a "<table>" in the output is one the renderer wrote.
    box = "scroll stack" if stack else "scroll"
    return rendered.replace("<table>", f"<div class='{box}'><table>").replace(
        "</table>", "</table></div>"
    )


_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def headline_html(box: Headline) -> str:
    """The box at the top of the report: each of its sentences in an element of its own."""
    parts = (
        ("decision", box.decision),
        ("recommendation", box.recommendation),
        ("disagreement", box.disagreement),
        ("against-evidence", box.submitted_against),
        ("purpose", box.purpose),
        ("below-guessing", box.below_guessing),
    )
    inner = "".join(f"<div id='{key}'>{_markdown(text)}</div>" for key, text in parts if text)
    return f"<section class='headline' id='headline'>{inner}</section>"


def evaluation_report_html(
    submission: StoredSubmission,
    vector: StoredVector,
    evaluation: StoredEvaluation,
    *,
    checkpoint: Checkpoint | None = None,
    usage: list[UsageCount] | None = None,
    against_evidence: AgainstEvidence | None = None,
) -> str:
    """The report for one submission, manager first: the headline box (the decision, the
    recommendation and its number, a sentence when they disagree or the submission went against
    the evidence, what the vector is for, why a score can be below guessing), where the
    vector was applied (its gate) in words, the chart, the example set, sample questions, side
    effects and lineage in words; the paper's diagnostics, the gate's figures, the tables and
    the hashes under "Technical details"; then reviews, the audit trail's latest checkpoint
    (``Store.latest_checkpoint()``) and, given ``Store.api_usage()``, API use.

    ``against_evidence`` is ``Store.against_evidence(submission.id)`` (with the builder's
    reason); without it the flag is worked out from the evaluation, without the reason.
    """
    report = EvaluationReport.from_dict(evaluation.results, outcome=evaluation.outcome)
    lineage = vector.lineage
    view = evaluation_view(
        report, submitted=submission.strength, config=evaluation.config, lineage=lineage
    )
    if against_evidence is None:
        concern = workflow.against_evidence(
            submission.strength, evaluation.results, evaluation.outcome
        )
        if concern is not None:
            against_evidence = AgainstEvidence(concern, None)
    box = headline(submission, report, lineage, against_evidence)
    chart = view.figure.to_html(
        full_html=False, include_plotlyjs=True, config={"displaylogo": False}
    )
    table, side = view.table, view.side_effects
    words, hashes = lineage_markdown(lineage, submission.layers)
    settings = [
        [label, _setting(key, evaluation.config[key])]
        for key, label in _SETTINGS
        if key in evaluation.config
    ]
    reviews = history_rows(submission.reviews)
    verdict = f"<p>{_e(view.verdict)}</p>" if view.verdict else ""
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>Evaluation report: submission {submission.id}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Control vector evaluation: submission #{submission.id}</h1>",
        headline_html(box),
        f"<p>Built by {_e(submission.created_by)} · strength {submission.strength:g} on layers "
        f"{_e(layers_text(submission.layers))}</p>",
        "<h2>Accuracy against strength</h2>",
        verdict,
        f"<div id='gate'>{_markdown(view.gate)}</div>" if view.gate else "",
        chart,
        f"<div id='example-set'>{_markdown(view.examples)}</div>",
        "<h2>Sample questions</h2>",
        f"<div id='samples'>{_markdown(view.samples, stack=True)}</div>",
        "<h2>Side effects on everyday prompts</h2>",
        f"<div id='side-effects'>{_markdown(view.effects)}</div>",
        "<h2>Where the vector came from</h2>",
        f"<p>Where the vector came from: {_e(vector_origin(lineage))}</p>",
        _markdown(words),
        f"<div id='number-format'>{_markdown(number_format_markdown(evaluation.results, lineage))}"
        "</div>",
        "<h2>Reviews</h2>",
        _table(reviews, HISTORY_COLUMNS) if reviews else "<p>No reviews yet.</p>",
        "<details id='technical'><summary><b>Technical details</b></summary>",
        "<h3>The paper's diagnostics</h3>",
        _markdown(view.technical),
        "<h3>The gate</h3>" if view.gate_details else "",
        f"<div id='gate-details'>{_markdown(view.gate_details)}</div>" if view.gate_details else "",
        "<h3>Results on held-out questions</h3>",
        _SCROLL_NOTE,
        _table(table.values.tolist(), list(table.columns)),
        "<h3>Side effects per strength</h3>",
        _table(side.values.tolist(), list(side.columns)) if len(side) else "<p>Not measured.</p>",
        "<h3>Evaluation settings</h3>",
        _table(settings, ["", ""]),
        "<h3>Hashes and seeds</h3>",
        _table(hashes, ["", ""]),
        f"<p>Content hash of the submission <code>{_e(submission.content_hash or '')}</code>; "
        f"evaluation #{evaluation.id}, results hash <code>{_e(evaluation.results_hash)}</code>.</p>",
        "</details>",
        usage_html(submission.id, usage),
        checkpoint_html(checkpoint),
        "</body></html>",
    ]
    return "\n".join(part for part in parts if part)
