"""Markdown tables for ``docs/results.md`` from the protocol runs' JSON in ``docs/results/``.

``python -m bench.results_tables [docs/results]`` prints, per model and set: the setup, the strength
sweep on held-out rows (with the build rows' counts), R and PCA-C at the chosen strength, the layer
sweep and the side effects; then one summary row per run. Numbers are printed as measured.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _p(value: float | None) -> str:
    if value is None:
        return ""
    return "<0.001" if value < 0.001 else f"{value:.3f}" if value < 0.01 else f"{value:.2f}"


def _f(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _ci(r: dict[str, Any]) -> str:
    return f"{r['ci_low']:.2f}-{r['ci_high']:.2f}"


def _strength_rows(run: dict[str, Any]) -> list[str]:
    sweep = run["strength_sweep"]
    build = {r["alpha"]: r for r in sweep.get("build_results") or []}
    lines = [
        "| strength | build correct | held-out correct | accuracy | 95% CI | gained | lost | "
        "McNemar p | KL (nats) | P(correct) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sweep["results"]:
        b = build.get(r["alpha"], {})
        mark = "**" if r["alpha"] == sweep["chosen_alpha"] else ""
        lines.append(
            f"| {mark}{r['alpha']:g}{mark} | {b.get('correct', '')}/{b.get('n', '')} | "
            f"{r['correct']}/{r['n']} | {r['accuracy']:.2f} | {_ci(r)} | {r['gained']} | "
            f"{r['lost']} | {_p(r['mcnemar_p'])} | {_f(r['kl'])} | {_f(r['mass_correct'])} |"
        )
    return lines


def _method_rows(run: dict[str, Any]) -> list[str]:
    lines = [
        "| vector | norm at the middle block | correct at 0 | correct at the strength | gained | "
        "lost | McNemar p | KL (nats) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    middle = str(run["setup"]["middle_layer"])
    sweep = run["strength_sweep"]
    rows = [("R-C", sweep)] + list(run.get("methods", {}).items())
    for label, report in rows:
        at = {r["alpha"]: r for r in report["results"]}
        base, steered = at[0.0], at.get(run["strength"])
        if steered is None:
            continue
        norm = run["norms"][label][middle]
        lines.append(
            f"| {label} | {norm:.2f} | {base['correct']}/{base['n']} | "
            f"{steered['correct']}/{steered['n']} | {steered['gained']} | {steered['lost']} | "
            f"{_p(steered['mcnemar_p'])} | {_f(steered['kl'])} |"
        )
    return lines


def _layer_rows(run: dict[str, Any]) -> list[str]:
    lines = [
        "| block | build correct | gained | lost | McNemar p | KL (nats) |",
        "|---|---|---|---|---|---|",
    ]
    for r in run.get("layer_sweep", []):
        layers = ",".join(map(str, r.get("layers") or [])) or "none"
        lines.append(
            f"| {layers} | {r['correct']}/{r['n']} | {r['gained']} | {r['lost']} | "
            f"{_p(r['mcnemar_p'])} | {_f(r['kl'])} |"
        )
    return lines


def _side_rows(run: dict[str, Any]) -> list[str]:
    side = run.get("side_effects") or {}
    ppl, changed = side.get("perplexity") or {}, side.get("changed_share") or {}
    lines = ["| strength | neutral perplexity | neutral answers changed |", "|---|---|---|"]
    for key in sorted(ppl, key=float):
        lines.append(f"| {float(key):g} | {ppl[key]:.2f} | {changed.get(key, 0):.0%} |")
    return lines


def run_section(run: dict[str, Any]) -> str:
    s = run["setup"]
    t = run["timings"]
    parts = [
        f"### {s['model']} · {s['set']}",
        "",
        f"{s['build_rows']} build and {s['heldout_rows']} held-out rows of `{s['set_file']}` "
        f"(content hash `{s['set_content_hash'][:16]}`), negatives: {s['negatives']}, steered "
        f"block {s['middle_layer']} of {s['num_layers']}, commit `{(s.get('commit') or '')[:8]}`. "
        f"Wall time {t.get('total', sum(v for k, v in t.items() if k != 'total')):.0f} s "
        f"(build {t.get('build vectors', 0):.0f} s, strength sweep {t.get('strength sweep', 0):.0f} s, "
        f"methods {t.get('methods', 0):.0f} s, layer sweep {t.get('layer sweep', 0):.0f} s, side "
        f"effects {t.get('side effects', 0):.0f} s).",
        "",
        "R-C over the strengths (chosen on build rows, in bold; reported on held-out rows):",
        "",
        *_strength_rows(run),
        "",
        f"Verdict: *{run['strength_sweep']['verdict']}*",
        "",
    ]
    if run.get("strength_note"):
        parts += [run["strength_note"], ""]
    if run.get("methods"):
        parts += [
            f"Methods at strength {run['strength']:g}, held-out rows:",
            "",
            *_method_rows(run),
            "",
        ]
    if run.get("layer_sweep"):
        parts += [
            f"Layer sweep, R-C at strength {run['strength']:g}, build rows:",
            "",
            *_layer_rows(run),
            "",
        ]
    if run.get("side_effects"):
        parts += ["Side effects of R-C:", "", *_side_rows(run), ""]
    return "\n".join(parts)


def summary_rows(runs: list[dict[str, Any]]) -> str:
    """Per run: baseline, the chosen strength's held-out difference (the honest number), and the
    best of all strengths on held-out rows (picked after the fact, so its p is not a test)."""
    lines = [
        "| model | set | baseline (held-out) | chosen on build rows | held-out difference there | "
        "McNemar p | best held-out difference of all strengths | its p (uncorrected) | wall time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        s, sweep = run["setup"], run["strength_sweep"]
        at = {r["alpha"]: r for r in sweep["results"]}
        base, chosen = at[0.0], at.get(sweep["chosen_alpha"] or 0.0, at[0.0])
        best = max(
            sweep["results"], key=lambda r: (r["correct"] - base["correct"], -abs(r["alpha"]))
        )
        lines.append(
            f"| {s['model_spec']} | {s['set']} | {base['correct']}/{base['n']} | "
            f"{sweep['chosen_alpha']:g} | {chosen['correct'] - base['correct']:+d} | "
            f"{_p(chosen['mcnemar_p'])} | {best['correct'] - base['correct']:+d} at "
            f"{best['alpha']:g} | {_p(best['mcnemar_p'])} | "
            f"{run['timings'].get('total', 0) / 60:.0f} min |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    folder = Path((argv or sys.argv[1:] or ["docs/results"])[0])
    runs = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    # The unconditional runs only: the gated ones (--condition auto) have their own table in
    # docs/results.md, and listing both here would show two rows per model and set.
    runs = [
        r for r in runs if "strength_sweep" in r and r["setup"].get("condition", "off") == "off"
    ]
    print(summary_rows(runs))
    for run in runs:
        print()
        print(run_section(run))


if __name__ == "__main__":
    main()
