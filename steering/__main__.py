"""Command line: ``python -m steering info|build|generate|export|evaluate``.

User errors print one clear message on stderr and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from steering.errors import SteeringError
from steering.evaluate_cli import add_evaluate_command
from steering.progress import stderr_progress_bar


def cmd_info(args: argparse.Namespace) -> int:
    from steering.models import describe, fingerprint, load_model

    loaded = load_model(args.model)
    card = describe(loaded)
    card["fingerprint"] = fingerprint(loaded)
    print(json.dumps(card, indent=2))
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from steering.examples import load_examples
    from steering.models import load_model
    from steering.vectors import build_vector

    examples = load_examples(args.pairs)
    build = [e for e in examples.examples if e.split != "heldout"]
    heldout = [e for e in examples.examples if e.split == "heldout"]
    loaded = load_model(args.model)
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
    )
    path = result.vector.save(args.out)
    if result.recommended_layers:
        sys.stderr.write(f"recommended layers: {result.recommended_layers}\n")
    sys.stderr.write(f"built from {result.pairs} pairs in {result.seconds:.1f} s\n")
    print(path)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from steering.generate import side_by_side
    from steering.models import load_model
    from steering.vectors import ControlVector, parse_layers

    vector = ControlVector.load(args.vector)
    loaded = load_model(args.model)
    layers = parse_layers(args.layers, loaded.num_layers) if args.layers else None
    answers = side_by_side(
        loaded,
        args.prompt,
        vector,
        args.alpha,
        layers=layers,
        max_new_tokens=args.max_new_tokens,
        do_sample=args.seed is not None,
        seed=args.seed,
    )
    print(json.dumps(answers, ensure_ascii=False))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from steering.export import export_gguf
    from steering.vectors import ControlVector

    if args.format != "gguf":
        raise SteeringError(f"Unknown export format '{args.format}': only 'gguf' is supported.")
    vector = ControlVector.load(args.vector)
    print(export_gguf(vector, args.out, strength=args.strength))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m steering", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    model_help = "'default' (bundled SmolLM2), a Hugging Face id, a folder or a .gguf path"

    info = commands.add_parser("info", help="describe a model as JSON")
    info.add_argument("--model", default="default", help=model_help)
    info.set_defaults(run=cmd_info)

    build = commands.add_parser("build", help="build a control vector from example pairs")
    build.add_argument("--model", default="default", help=model_help)
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
    build.set_defaults(run=cmd_build)

    gen = commands.add_parser("generate", help="answers without and with the vector, as JSON")
    gen.add_argument("--model", default="default", help=model_help)
    gen.add_argument("--vector", required=True)
    gen.add_argument("--prompt", required=True)
    gen.add_argument("--alpha", type=float, default=1.0)
    gen.add_argument("--layers", default=None, help="all, A-B or I,J,... (default: the vector's)")
    gen.add_argument("--max-new-tokens", type=int, default=64)
    gen.add_argument(
        "--seed", type=int, default=None, help="sample with this seed (default greedy)"
    )
    gen.set_defaults(run=cmd_generate)

    export = commands.add_parser("export", help="export a vector for llama.cpp")
    export.add_argument("--vector", required=True)
    export.add_argument("--format", default="gguf")
    export.add_argument("--out", required=True)
    export.add_argument("--strength", type=float, default=None, help="recorded in the metadata")
    export.set_defaults(run=cmd_export)

    add_evaluate_command(commands, model_help)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except SteeringError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:
        print(f"error: file not found: {error.filename}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
