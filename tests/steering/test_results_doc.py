"""docs/results.md names the example sets its runs used: those hashes must be the committed sets'
(content hash and file sha256), and every run's JSON in docs/results/ must name the same set."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from steering.data.examples import load_examples

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(
    r"^\| (\w+) \| `(assets/examples/[\w.]+)` \| `([0-9a-f]{64})` \| `([0-9a-f]{64})` \|$"
)


def _data_rows() -> list[tuple[str, str, str, str]]:
    text = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    return [m.groups() for line in text.splitlines() if (m := ROW.match(line))]


def test_the_hashes_in_results_md_are_the_committed_sets():
    rows = _data_rows()
    assert {name for name, *_ in rows} == {"arithmetic", "deduction", "ioi"}
    for _name, path, content_hash, file_sha in rows:
        assert load_examples(ROOT / path).content_hash == content_hash, path
        assert hashlib.sha256((ROOT / path).read_bytes()).hexdigest() == file_sha, path


def test_every_committed_run_used_the_sets_named_in_results_md():
    by_set = {name: (content, sha) for name, _path, content, sha in _data_rows()}
    runs = sorted((ROOT / "docs" / "results").glob("*.json"))
    assert runs
    for run in runs:
        setup = json.loads(run.read_text())["setup"]
        assert by_set[setup["set"]] == (setup["set_content_hash"], setup["set_file_sha256"]), run


# The conditional runs' table (issue 21): each row's figures are the ones in its JSON.
CONDITIONAL_HEADER = (
    "| model | set | gate: block, threshold (build balanced accuracy) | chosen on build rows | "
    "held-out difference there | McNemar p | neutral perplexity ratio | neutral answers changed | "
    "gate opened on held-out task questions | gate opened on held-out everyday requests | "
    "meets the deploy rule |"
)


def _p(value: float) -> str:
    return "<0.001" if value < 0.001 else f"{value:.3f}" if value < 0.01 else f"{value:.2f}"


def conditional_cells(run: dict) -> list[str]:
    """The table's cells for one run, from its JSON alone."""
    setup, sweep, gate = run["setup"], run["strength_sweep"], run["condition"]
    at = {r["alpha"]: r for r in sweep["results"]}
    chosen = sweep["chosen_alpha"] or 0.0
    base, steered = at[0.0], at[chosen]
    strength = run["strength"]
    side = run["side_effects"]
    ratio = side["perplexity"][f"{strength:g}"] / side["perplexity"]["0"]
    changed = side["changed_share"][f"{strength:g}"]
    held = gate["heldout"]
    chosen_cell = f"{chosen:g}" if chosen else f"0 (side effects at {strength:g})"
    return [
        setup["model_spec"],
        setup["set"],
        f"{gate['layer']}, {gate['threshold']:.3f} ({gate['build_balanced_accuracy']:.0%})",
        chosen_cell,
        f"{steered['correct'] - base['correct']:+d}",
        _p(steered["mcnemar_p"]),
        f"{ratio:.2f}",
        f"{changed:.1%}",
        f"{round(held['task_open_rate'] * held['task_rows'])}/{held['task_rows']}",
        f"{round(held['everyday_open_rate'] * held['everyday_rows'])}/{held['everyday_rows']}",
        "yes" if run["deploy_rule"]["meets"] else "no",
    ]


def _conditional_rows() -> list[list[str]]:
    lines = (ROOT / "docs" / "results.md").read_text(encoding="utf-8").splitlines()
    if CONDITIONAL_HEADER not in lines:
        return []
    rows = []
    for line in lines[lines.index(CONDITIONAL_HEADER) + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def _finished_conditional_runs() -> dict[str, dict]:
    runs = {}
    for path in sorted((ROOT / "docs" / "results").glob("*-conditional.json")):
        run = json.loads(path.read_text())
        if "total" in run.get("timings", {}):  # a stopped run has no total and no row
            runs[path.stem] = run
    return runs


def test_the_conditional_table_has_each_finished_run_with_its_json_figures():
    runs = _finished_conditional_runs()
    rows = _conditional_rows()
    assert len(rows) == len(runs)
    for row in rows:
        name = f"{row[0]}-{row[1]}-conditional"
        assert name in runs, f"docs/results.md has a row for {name} but no finished JSON"
        assert row == conditional_cells(runs[name]), name


def test_conditional_runs_record_the_gate_and_the_deploy_rule():
    for name, run in _finished_conditional_runs().items():
        assert run["setup"]["condition"] == "auto", name
        gate = run["condition"]
        assert gate["layer"] in range(run["setup"]["num_layers"]), name
        assert 0.5 <= gate["build_balanced_accuracy"] <= 1.0, name
        assert run["strength_sweep"]["gate"] == gate["heldout"], name
        rule = run["deploy_rule"]
        parts = ("significant_gain", "not_disruption", "perplexity_within", "changed_within")
        assert rule["meets"] == all(rule.get(k, False) for k in parts), name
