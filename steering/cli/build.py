"""``python -m steering build``: build a control vector from an example-pair file."""

from __future__ import annotations

import argparse
import sys

from steering.cli.options import add_dtype_option
from steering.progress import stderr_progress_bar


def cmd_build(args: argparse.Namespace) -> int:
    from steering.build import build_vector
    from steering.data.examples import load_examples
    from steering.engine.models import load_model

    examples = load_examples(args.pairs)
    build = [e for e in examples.examples if e.split != "heldout"]
    heldout = [e for e in examples.examples if e.split == "heldout"]
    loaded = load_model(args.model, dtype=args.dtype)
    result = build_vector(
        loaded,
        build,
        method=args.method,
        negatives=args.negatives,
        position=args.position,
        layers=args.layers,
        batch_size=args.batch_size,
        seed=args.seed,
        heldout=heldout,
        progress=stderr_progress_bar("reading activations"),
        lineage={"dataset_hash": examples.content_hash, "dataset_name": examples.name},
        condition=args.condition,
    )
    path = result.vector.save(args.out)
    sys.stderr.write(result.condition_note + "\n")
    if result.recommended_layers:
        sys.stderr.write(f"recommended layers: {result.recommended_layers}\n")
    sys.stderr.write(
        f"built from {result.pairs} pairs in {result.seconds:.1f} s ({loaded.precision.reason})\n"
    )
    print(path)
    return 0


def add_build_command(subparsers: argparse._SubParsersAction, model_help: str) -> None:
    """Register ``build`` on the main CLI's subcommands."""
    build = subparsers.add_parser("build", help="build a control vector from example pairs")
    build.add_argument("--model", default="default", help=model_help)
    add_dtype_option(build)
    build.add_argument("--pairs", required=True, help="CSV, JSONL, JSON or XLSX example pairs")
    build.add_argument("--out", required=True, help="where to write the .safetensors vector")
    build.add_argument(
        "--method", default="mean_diff", choices=["reading", "mean_diff", "pca_diff"]
    )
    build.add_argument("--negatives", default="column", choices=["column", "random"])
    build.add_argument("--position", default="last", choices=["last", "mean"])
    build.add_argument("--layers", default="all", help="all, A-B or I,J,...")
    build.add_argument("--batch-size", type=int, default=16)
    build.add_argument("--seed", type=int, default=0)
    build.add_argument(
        "--condition",
        default="auto",
        choices=["auto", "off"],
        help="auto: steer only prompts like the build rows' (a gate; needs 16 build rows); "
        "off: steer every prompt",
    )
    build.set_defaults(run=cmd_build)
