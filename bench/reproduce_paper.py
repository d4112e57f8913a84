"""The paper's protocol (Højer et al., ICLR 2025) on one bundled model and one bundled example set.

``python -m bench.reproduce_paper --model default --set arithmetic --json docs/results/default-arithmetic.json``

All steps use one seeded 50/50 split of the set (``split_examples(heldout_fraction=0.5, seed=0)``:
100 build and 100 held-out rows of the bundled 200). Negatives: the set's ``negative`` column when
every row has one, else the paper's random letter strings. The steered block is the model's middle
block (the paper applies one middle layer); nothing is tuned on held-out rows.

1. vectors from the build rows: R-C (mean difference) at the middle block and at five evenly spaced
   blocks for the layer sweep; R (reading) and PCA-C at the middle block;
2. strength sweep of R-C at the middle block over ``--alphas`` (9 strengths with 0): the strength is
   chosen on the build rows and every strength is reported on the held-out rows
   (``evaluate_heldout``: Wilson intervals, McNemar's exact test, paired bootstrap);
3. R and PCA-C at 0 and at that strength on the held-out rows (when no strength beat 0 on the build
   rows, at the non-zero strength that did best there, and the JSON says so);
4. layer sweep of R-C at that strength, each of the five blocks alone, on the build rows (a build
   decision, so it does not look at held-out rows);
5. side effects of R-C at 0 and at that strength (neutral perplexity, changed neutral answers).

``--condition auto`` (default ``off``, the runs above) gives the R-C vectors a gate (conditional
activation steering, steering.condition): its block and threshold are chosen on the build rows'
prompts against the building half of the bundled everyday prompts, and everything else (split,
strengths, selection rule) is unchanged; every R-C step then runs with the gate deciding, as the
vector would be used. The JSON's ``condition`` records the gate (block, threshold, build balanced
accuracy) and the held-out ``gate`` figures (where it opened on held-out rows and on the held-out
everyday half), the side effects are measured with the gate deciding, and ``deploy_rule`` applies
the lab's rule to the chosen strength: a held-out gain significant after a Bonferroni correction
for the bundled sets, not a gain by disruption, neutral perplexity within 10 % of the unsteered
model's and at most 5 % of everyday answers changed. R and PCA-C stay unconditional.

Prints each table and step time; ``--json`` is rewritten after every step, so a stopped run keeps
what it measured. The model runs in float32 unless ``--dtype`` says otherwise, so that the figures
do not depend on whether the machine has native bfloat16; the JSON's setup records the format.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from steering.build import build_vector
from steering.condition import CONDITION_CHOICES
from steering.data.examples import bundled_example_sets, load_examples, split_examples
from steering.engine.models import fingerprint, load_model
from steering.evaluation.evaluate import evaluate, evaluate_heldout, layer_sweep
from steering.evaluation.results import EvaluationReport, SideEffects, StrengthResult
from steering.evaluation.side_effects import side_effects
from steering.evaluation.strengths import parse_strengths
from steering.evaluation.verdict import CHANGED_LIMIT, PERPLEXITY_LIMIT, disruption_note
from steering.settings import DTYPES
from steering.vectors import ControlVector

ALPHAS = "-8,-4,-2,-1,0,1,2,4,8"
COLUMNS = ("alpha", "correct", "n", "accuracy", "ci_low", "ci_high", "kl", "entropy_bits",
           "mass_correct", "gained", "lost", "mcnemar_p")  # fmt: skip
# The lab's deploy rule (issue 21): how far the gated side effects may go at the chosen strength,
# the verdict's own limits (steering.evaluation.verdict), so the rule is written once.
PERPLEXITY_TOLERANCE = PERPLEXITY_LIMIT - 1
CHANGED_TOLERANCE = CHANGED_LIMIT
SIGNIFICANCE = 0.05
# The sets the protocol is run on per model, which the significance is corrected for (the bundled
# sets also hold arithmetic.csv, the same rows in another format, so they are not counted from it).
PROTOCOL_SETS = ("arithmetic", "deduction", "ioi")


def sweep_layers(num_layers: int, count: int = 5) -> list[int]:
    """``count`` blocks evenly spaced strictly inside the stack (30 blocks: 5, 10, 15, 20, 25)."""
    return sorted({round(num_layers * k / (count + 1)) for k in range(1, count + 1)})


def _table(results: Sequence[StrengthResult], first: str = "alpha") -> str:
    columns = (first,) + COLUMNS[1:] if first != "alpha" else COLUMNS
    lines = [" ".join(f"{c:>12}" for c in columns)]
    for r in results:
        cells = []
        for c in columns:
            value = (",".join(map(str, r.layers)) or "none") if c == "layers" else getattr(r, c)
            if isinstance(value, float):
                value = f"{value:.3f}"
            cells.append(f"{'' if value is None else value:>12}")
        lines.append(" ".join(cells))
    return "\n".join(lines)


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
    except OSError:
        return None
    return out.stdout.strip() or None


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fallback_strength(results: Sequence[StrengthResult]) -> float:
    """The non-zero strength with the most correct build answers (ties to the smallest |alpha|)."""
    tried = [r for r in results if r.alpha != 0.0]
    best = max(tried, key=lambda r: (r.correct or 0, -abs(r.alpha), r.alpha))
    return best.alpha


def deploy_rule(
    report: EvaluationReport, effects: SideEffects, strength: float, sets_tested: int
) -> dict[str, Any]:
    """The lab's deploy rule at ``strength``, each part with the figure it was decided on."""
    at = {r.alpha: r for r in report.results}
    base, steered = at[0.0], at.get(strength)
    if steered is None or strength == 0.0 or report.chosen_alpha in (None, 0.0):
        return {"meets": False, "reason": "no strength beat 0 on the build rows"}
    p = steered.mcnemar_p if steered.mcnemar_p is not None else 1.0
    gain = (steered.correct or 0) - (base.correct or 0)
    perplexity = effects.perplexity
    ratio = perplexity[strength] / perplexity[0.0] if perplexity.get(0.0) else None
    changed = effects.changed_share.get(strength)
    disruption = disruption_note(base, steered)
    parts = {
        "heldout_gain": gain,
        "mcnemar_p": p,
        "corrected_level": SIGNIFICANCE / sets_tested,
        "significant_gain": gain > 0 and p < SIGNIFICANCE / sets_tested,
        "disruption_note": disruption,
        "not_disruption": disruption is None,
        "perplexity_ratio": ratio,
        "perplexity_within": ratio is not None and abs(ratio - 1) <= PERPLEXITY_TOLERANCE,
        "changed_share": changed,
        "changed_within": changed is not None and changed <= CHANGED_TOLERANCE,
    }
    checks = ("significant_gain", "not_disruption", "perplexity_within", "changed_within")
    return {**parts, "meets": all(parts[c] for c in checks)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="a bundled model key or a model spec")
    parser.add_argument("--set", default="arithmetic", help="a bundled example set")
    parser.add_argument("--heldout-fraction", type=float, default=0.5)
    parser.add_argument("--alphas", default=ALPHAS, help="the strength sweep (0 is always added)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--limit", type=int, default=None, help="smoke test: rows per side")
    parser.add_argument("--json", default=None, help="write the measurements here")
    parser.add_argument(
        "--dtype",
        choices=DTYPES,
        default="float32",
        help="number format (default float32, as docs/results.md's runs; auto lets the hardware "
        "decide)",
    )
    parser.add_argument(
        "--condition",
        choices=CONDITION_CHOICES,
        default="off",
        help="auto: give the R-C vectors a gate chosen on the build rows against everyday "
        "prompts (default off, as the first runs in docs/results.md)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    out: dict[str, Any] = {"args": vars(args), "timings": {}}

    def save() -> None:
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(out, indent=1, default=str) + "\n")

    def lap(name: str, since: float) -> float:
        out["timings"][name] = round(time.perf_counter() - since, 1)
        print(f"[{name}: {out['timings'][name]} s]", flush=True)
        save()
        return time.perf_counter()

    t = time.perf_counter()
    loaded = load_model(args.model, dtype=args.dtype)
    path = bundled_example_sets()[args.set]
    examples = load_examples(path)
    build, heldout = split_examples(examples, heldout_fraction=args.heldout_fraction, seed=0)
    if args.limit:
        build, heldout = build[: args.limit], heldout[: args.limit]
    middle = loaded.num_layers // 2
    layers = sweep_layers(loaded.num_layers)
    negatives = "column" if all(e.negative for e in examples.examples) else "random"
    out["setup"] = {
        "model": loaded.name,
        "model_spec": args.model,
        "model_fingerprint": fingerprint(loaded),
        **loaded.precision.lineage(),
        "num_layers": loaded.num_layers,
        "hidden_size": loaded.hidden_size,
        "chat_template": loaded.tokenizer.chat_template is not None,
        "set": args.set,
        "set_file": path.name,
        "set_content_hash": examples.content_hash,
        "set_file_sha256": _file_sha256(path),
        "build_rows": len(build),
        "heldout_rows": len(heldout),
        "middle_layer": middle,
        "sweep_layers": layers,
        "negatives": negatives,
        "condition": args.condition,
        "commit": _commit(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads",
    }
    print(json.dumps(out["setup"], indent=1), flush=True)
    t = lap("load", t)

    vectors: dict[str, ControlVector] = {}
    for label, method, at in (("R-C", "mean_diff", sorted({*layers, middle})),
                              ("R", "reading", [middle]), ("PCA-C", "pca_diff", [middle])):  # fmt: skip
        built = build_vector(
            loaded, build, method=method, negatives=negatives, layers=at,
            condition=args.condition if label == "R-C" else "off",
        )  # fmt: skip
        vectors[label] = built.vector
        if label == "R-C" and args.condition == "auto":
            gate = built.vector.condition
            out["condition"] = {
                "layer": None if gate is None else gate.layer,
                "threshold": None if gate is None else gate.threshold,
                "build_balanced_accuracy": None if gate is None else gate.build_balanced_accuracy,
                "note": built.condition_note,
                "task_prompts": built.vector.metadata.get("condition_task_prompts"),
                "everyday_prompts": built.vector.metadata.get("condition_everyday_prompts"),
            }
            print(built.condition_note, flush=True)
    out["norms"] = {label: v.norms() for label, v in vectors.items()}
    print("norms at the middle block:", {k: round(v[middle], 2) for k, v in out["norms"].items()})
    t = lap("build vectors", t)

    alphas = parse_strengths(args.alphas)
    report = evaluate_heldout(
        loaded, vectors["R-C"], build, heldout, alphas=alphas, layers=[middle],
        batch_size=args.batch_size, side_effects=False,
    )  # fmt: skip
    out["strength_sweep"] = report.to_dict()
    if "condition" in out:
        out["condition"]["heldout"] = None if report.gate is None else report.gate.to_dict()
        print(f"gate on held-out prompts: {out['condition']['heldout']}", flush=True)
    print(f"\nR-C at block {middle}, held-out rows:\n{_table(report.results)}")
    print(f"chosen on build rows: {report.chosen_alpha:g}\n{report.verdict}", flush=True)
    t = lap("strength sweep", t)

    strength = report.chosen_alpha or 0.0
    if strength == 0.0:
        strength = _fallback_strength(report.build_results or ())
        out["strength_note"] = (
            f"No strength beat 0 on the build rows; R, PCA-C, the layer sweep and the side effects "
            f"use {strength:g}, the non-zero strength with the most correct build answers."
        )
    out["strength"] = strength
    methods = {}
    for label in ("R", "PCA-C"):
        rep = evaluate(
            loaded, vectors[label], heldout, alphas=[0.0, strength], layers=[middle],
            batch_size=args.batch_size, side_effects=False, chosen_alpha=strength,
        )  # fmt: skip
        methods[label] = rep.to_dict()
        print(f"\n{label} at block {middle}, held-out rows:\n{_table(rep.results)}\n{rep.verdict}")
    out["methods"] = methods
    t = lap("methods", t)

    sweep = layer_sweep(
        loaded, vectors["R-C"], build, alpha=strength, layer_sets=[[i] for i in layers],
        batch_size=args.batch_size,
    )  # fmt: skip
    out["layer_sweep"] = [r.to_dict() for r in sweep]
    print(f"\nLayer sweep, R-C at strength {strength:g}, build rows:\n{_table(sweep, 'layers')}")
    t = lap("layer sweep", t)

    effects = side_effects(loaded, vectors["R-C"], [0.0, strength], layers=[middle])
    out["side_effects"] = effects.to_dict()
    print(f"\nSide effects: perplexity {effects.perplexity}, changed {effects.changed_share}")
    out["deploy_rule"] = deploy_rule(report, effects, strength, len(PROTOCOL_SETS))
    print(f"deploy rule: {out['deploy_rule']}", flush=True)
    t = lap("side effects", t)

    out["timings"]["total"] = round(time.perf_counter() - started, 1)
    save()
    print(f"\ntotal {out['timings']['total']} s")
    return out


if __name__ == "__main__":
    main()
