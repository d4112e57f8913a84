"""``python -m steering export``: write a vector in llama.cpp's GGUF control-vector format."""

from __future__ import annotations

import argparse

from steering.errors import SteeringError


def cmd_export(args: argparse.Namespace) -> int:
    from steering.export import export_gguf
    from steering.vectors import ControlVector

    if args.format != "gguf":
        raise SteeringError(f"Unknown export format '{args.format}': only 'gguf' is supported.")
    vector = ControlVector.load(args.vector)
    print(export_gguf(vector, args.out, strength=args.strength))
    return 0


def add_export_command(subparsers: argparse._SubParsersAction) -> None:
    """Register ``export`` on the main CLI's subcommands."""
    export = subparsers.add_parser("export", help="export a vector for llama.cpp")
    export.add_argument("--vector", required=True)
    export.add_argument("--format", default="gguf")
    export.add_argument("--out", required=True)
    export.add_argument("--strength", type=float, default=None, help="recorded in the metadata")
    export.set_defaults(run=cmd_export)
