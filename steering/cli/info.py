"""``python -m steering info``: describe a model as JSON (the model card plus its fingerprint)."""

from __future__ import annotations

import argparse
import json

from steering.cli.options import add_dtype_option


def cmd_info(args: argparse.Namespace) -> int:
    from steering.engine.models import describe, fingerprint, load_model

    loaded = load_model(args.model, dtype=args.dtype)
    card = describe(loaded)
    card["fingerprint"] = fingerprint(loaded)
    print(json.dumps(card, indent=2))
    return 0


def add_info_command(subparsers: argparse._SubParsersAction, model_help: str) -> None:
    """Register ``info`` on the main CLI's subcommands."""
    info = subparsers.add_parser("info", help="describe a model as JSON")
    info.add_argument("--model", default="default", help=model_help)
    add_dtype_option(info)
    info.set_defaults(run=cmd_info)
