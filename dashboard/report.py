"""The evaluation report as one self-contained HTML file: charts inlined, readable offline.

Every piece of text that came from a user or a model is HTML-escaped; plotly's JavaScript is
inlined once (``include_plotlyjs=True``) so the file needs no network.
"""

from __future__ import annotations

import html
import json
from typing import Any

from dashboard import views
from steering.evaluation.results import EvaluationReport
from steering.layers import layers_text
from storage import Checkpoint, StoredEvaluation, StoredSubmission, StoredVector, UsageCount

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:960px;margin:2em auto;
padding:0 1em;color:#111827;line-height:1.45}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #e5e7eb}
table{border-collapse:collapse;width:100%;font-size:.9em;overflow-x:auto;display:block}
th,td{border:1px solid #e5e7eb;padding:4px 8px;text-align:left}
th{background:#f3f4f6}.verdict{font-size:1.1em;background:#eff6ff;padding:.8em 1em;border-radius:6px}
pre{white-space:pre-wrap;background:#f9fafb;padding:1em;border-radius:6px;font-size:.85em}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(rows: list[list[Any]], headers: list[str]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


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
            _table(views.checkpoint_rows(checkpoint), ["", ""]),
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


def evaluation_report_html(
    submission: StoredSubmission,
    vector: StoredVector,
    evaluation: StoredEvaluation,
    *,
    checkpoint: Checkpoint | None = None,
    usage: list[UsageCount] | None = None,
) -> str:
    """The report for one submission: verdict, chart, tables, side effects, samples, lineage,
    the audit trail's latest checkpoint (``Store.latest_checkpoint()``) and, given
    ``Store.api_usage()``, how often the API served it and to which keys."""
    view = views.evaluation_view(EvaluationReport.from_dict(evaluation.results))
    chart = view.figure.to_html(
        full_html=False, include_plotlyjs=True, config={"displaylogo": False}
    )
    table, side = view.table, view.side_effects
    lineage = vector.lineage
    lineage_rows = [
        [key, json.dumps(value) if isinstance(value, (list, dict)) else value]
        for key, value in sorted(lineage.items())
        if key != "norms"
    ]
    reviews = views.history_rows(submission.reviews)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>Evaluation report: submission {submission.id}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Control vector evaluation: submission #{submission.id}</h1>",
        f"<p>Status <b>{_e(submission.status)}</b> · built by {_e(submission.created_by)} · "
        f"strength {submission.strength:g} on layers {_e(layers_text(submission.layers))} · "
        f"content hash <code>{_e(submission.content_hash or '')}</code></p>",
        f"<p>Where the vector came from: {_e(views.vector_origin(lineage))}</p>",
        f"<p class='verdict'>{_e(view.verdict)}</p>",
        "<h2>Accuracy against strength</h2>",
        chart,
        "<h2>Results on held-out questions</h2>",
        _table(table.values.tolist(), list(table.columns)),
        "<h2>Side effects on neutral text</h2>",
        _table(side.values.tolist(), list(side.columns)) if len(side) else "<p>Not measured.</p>",
        "<h2>Sample answers</h2>",
        f"<pre>{_e(view.samples)}</pre>",
        "<h2>Evaluation settings</h2>",
        _table([[k, json.dumps(v)] for k, v in sorted(evaluation.config.items())], ["", ""]),
        "<h2>Vector lineage</h2>",
        _table(lineage_rows, ["", ""]),
        "<h2>Reviews</h2>",
        _table(reviews, views.HISTORY_COLUMNS) if reviews else "<p>No reviews yet.</p>",
        usage_html(submission.id, usage),
        checkpoint_html(checkpoint),
        f"<p><small>Evaluation #{evaluation.id}, results hash "
        f"<code>{_e(evaluation.results_hash)}</code>.</small></p>",
        "</body></html>",
    ]
    return "\n".join(parts)
