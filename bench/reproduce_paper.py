"""Reproduce the paper's protocol (Højer et al., ICLR 2025) on the bundled model, sized for a CPU.

``python -m bench.reproduce_paper [--set arithmetic] [--build-rows 16] [--heldout-rows 32]
[--layer 15] [--json OUT]``

Steps, all on one example set split by ``split_examples(seed=0)`` into build and held-out rows:

1. vectors at the middle layer from the build rows: R, R-C and PCA-C with the set's negative column,
   and R-C with random-string negatives (R-C also at layers 5,10,15,20,25 for the layer sweep);
2. a layer sweep of R-C (column) at strength 1 on the build rows (layer choice is a build decision);
3. a strength sweep of R-C (column) at the middle layer, chosen on build rows and reported on
   held-out rows with Wilson intervals, McNemar's exact test and a paired bootstrap
   (``evaluate_heldout``);
4. every vector at strengths {0, 1}: strength chosen on build rows, reported on held-out rows;
5. side effects of R-C (column) at strength 0 and 1 (neutral perplexity and changed answers).

Prints the tables and the elapsed time of each step; ``--json`` writes everything.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

import pandas as pd

from steering.build import build_vector
from steering.data.examples import bundled_example_sets, load_examples, split_examples
from steering.engine.models import load_model
from steering.evaluation.evaluate import evaluate_heldout, layer_sweep
from steering.evaluation.results import StrengthResult
from steering.evaluation.side_effects import side_effects

# The fields each printed table shows (labels and units: steering.evaluation.results).
SHOWN = ["alpha", "correct", "n", "accuracy", "ci_low", "ci_high", "accuracy_norm", "kl",
         "entropy_bits", "mass_correct", "mass_incorrect", "gained", "lost", "mcnemar_p",
         "diff_low", "diff_high"]  # fmt: skip


def _frame(results: Sequence[StrengthResult]) -> pd.DataFrame:
    return pd.DataFrame([r.to_dict() for r in results])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="arithmetic")
    parser.add_argument("--build-rows", type=int, default=16)
    parser.add_argument("--heldout-rows", type=int, default=32)
    parser.add_argument("--layer", type=int, default=15)
    parser.add_argument("--sweep-layers", default="5,10,15,20,25")
    parser.add_argument("--alphas", default="-1,-0.5,0,0.5,1", help="the strength sweep")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--side-alphas", default="0,1", help="strengths for side effects")
    parser.add_argument(
        "--steps", default="layers,strength,methods,side", help="which of steps 2-5 to run"
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    out: dict = {"args": vars(args)}

    def lap(name: str, since: float) -> float:
        timings[name] = round(time.perf_counter() - since, 1)
        print(f"[{name}: {timings[name]} s]", flush=True)
        return time.perf_counter()

    t = time.perf_counter()
    loaded = load_model("default")
    examples = load_examples(bundled_example_sets()[args.set])
    build_all, heldout_all = split_examples(examples, heldout_fraction=0.3, seed=0)
    build, heldout = build_all[: args.build_rows], heldout_all[: args.heldout_rows]
    print(
        f"{loaded.name}: {args.set} (content hash {examples.content_hash[:16]}), "
        f"{len(build)} build rows, {len(heldout)} held-out rows"
    )
    out["dataset"] = {"name": args.set, "content_hash": examples.content_hash}
    t = lap("load", t)

    sweep_layers = [int(x) for x in args.sweep_layers.split(",")]
    has_negatives = all(e.negative for e in build)
    recipes = [("R", "reading", "column"), ("R-C", "mean_diff", "column"),
               ("PCA-C", "pca_diff", "column"), ("R-C random", "mean_diff", "random")]  # fmt: skip
    if not has_negatives:  # the set has no negative column: random negatives only
        recipes = [("R", "reading", "random"), ("R-C random", "mean_diff", "random"),
                   ("PCA-C random", "pca_diff", "random")]  # fmt: skip
    steps = set(args.steps.split(","))
    if not steps & {"methods"}:  # the other steps need only the main R-C vector
        recipes = recipes[1:2]
    vectors = {}
    for label, method, negatives in recipes:
        layers = sweep_layers if label.startswith("R-C") else [args.layer]
        result = build_vector(loaded, build, method=method, negatives=negatives, layers=layers)
        vectors[label] = result.vector
        print(f"built {label}: norm at layer {args.layer} = "
              f"{result.vector.norms()[args.layer]:.2f} ({result.seconds:.1f} s)")  # fmt: skip
    out["norms"] = {k: v.norms() for k, v in vectors.items()}
    t = lap("build vectors", t)

    main_label = "R-C" if "R-C" in vectors else "R-C random"
    main_vector = vectors[main_label]
    if "layers" in steps:
        t = _layer_step(loaded, main_vector, main_label, build, sweep_layers, args, out, lap, t)
    if "strength" in steps:
        t = _strength_step(loaded, main_vector, main_label, build, heldout, args, out, lap, t)
    if "methods" in steps:
        t = _methods_step(loaded, vectors, build, heldout, args, out, lap, t)
    if "side" in steps:
        side_alphas = [float(a) for a in args.side_alphas.split(",")]
        effects = side_effects(loaded, main_vector, side_alphas, layers=[args.layer])
        print(
            f"\nSide effects of {main_label}: perplexity {effects.perplexity}, "
            f"changed neutral answers {effects.changed_share}"
        )
        out["side_effects"] = effects.to_dict()
        t = lap("side effects", t)

    timings["total"] = round(time.perf_counter() - started, 1)
    out["timings"] = timings
    print(f"\ntotal {timings['total']} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(out, handle, indent=2, default=str)
    return out


def _layer_step(loaded, main_vector, main_label, build, sweep_layers, args, out, lap, t):
    sweep = layer_sweep(
        loaded, main_vector, build, alpha=1.0, layer_sets=[[i] for i in sweep_layers],
        batch_size=args.batch_size,
    )  # fmt: skip
    print(f"\nLayer sweep, {main_label} at strength 1, build rows:")
    table = _frame(sweep)[["layers"] + SHOWN[:-2]]
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    out["layer_sweep"] = [r.to_dict() for r in sweep]
    return lap("layer sweep", t)


def _strength_step(loaded, main_vector, main_label, build, heldout, args, out, lap, t):
    alphas = [float(a) for a in args.alphas.split(",")]
    report = evaluate_heldout(
        loaded, main_vector, build, heldout, alphas=alphas, layers=[args.layer],
        batch_size=args.batch_size, side_effects=False,
    )  # fmt: skip
    print(f"\nStrength sweep, {main_label} at layer {args.layer}, held-out rows:")
    print(_frame(report.results)[SHOWN].to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"chosen on build rows: {report.chosen_alpha:g}\n{report.verdict}")
    out["strength_sweep"] = report.to_dict()
    return lap("strength sweep", t)


def _methods_step(loaded, vectors, build, heldout, args, out, lap, t):
    methods = []
    for label, vector in vectors.items():
        rep = evaluate_heldout(
            loaded, vector, build, heldout, alphas=[0.0, 1.0], layers=[args.layer],
            batch_size=args.batch_size, side_effects=False,
        )  # fmt: skip
        build_by_alpha = {r.alpha: r for r in rep.build_results or ()}
        steered = rep.result_at(1.0)
        methods.append(
            {
                "vector": label,
                "build_acc_0": build_by_alpha[0.0].accuracy,
                "build_acc_1": build_by_alpha[1.0].accuracy,
                "chosen_alpha": rep.chosen_alpha,
                "heldout_acc_0": rep.baseline.accuracy,
                "heldout_acc_1": steered.accuracy,
                "gained": steered.gained,
                "lost": steered.lost,
                "mcnemar_p": steered.mcnemar_p,
                "kl": steered.kl,
                "verdict": rep.verdict,
            }
        )
        print(f"{label}: {rep.verdict}", flush=True)
    table = pd.DataFrame(methods)
    print("\nMethods at strength 1, layer", args.layer)
    print(table.drop(columns="verdict").to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    out["methods"] = methods
    return lap("methods", t)


if __name__ == "__main__":
    main()
