"""``python -m steering generate``: one prompt answered without and with the vector, as JSON."""

from __future__ import annotations

import argparse
import json

from steering.cli.options import add_dtype_option


def cmd_generate(args: argparse.Namespace) -> int:
    from steering.engine.generate import side_by_side
    from steering.engine.models import load_model
    from steering.layers import parse_layers
    from steering.vectors import ControlVector

    vector = ControlVector.load(args.vector)
    loaded = load_model(args.model, dtype=args.dtype)
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


def add_generate_command(subparsers: argparse._SubParsersAction, model_help: str) -> None:
    """Register ``generate`` on the main CLI's subcommands."""
    gen = subparsers.add_parser("generate", help="answers without and with the vector, as JSON")
    gen.add_argument("--model", default="default", help=model_help)
    add_dtype_option(gen)
    gen.add_argument("--vector", required=True)
    gen.add_argument("--prompt", required=True)
    gen.add_argument("--alpha", type=float, default=1.0)
    gen.add_argument("--layers", default=None, help="all, A-B or I,J,... (default: the vector's)")
    gen.add_argument("--max-new-tokens", type=int, default=64)
    gen.add_argument(
        "--seed", type=int, default=None, help="sample with this seed (default greedy)"
    )
    gen.set_defaults(run=cmd_generate)
