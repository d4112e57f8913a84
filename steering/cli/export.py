"""``python -m steering export`` and ``import``: vectors to and from llama.cpp's control-vector GGUF."""

from __future__ import annotations

import argparse
import sys

from steering.cli.options import add_dtype_option
from steering.errors import SteeringError


def cmd_export(args: argparse.Namespace) -> int:
    from steering.export import BLOCK_ZERO_NOTICE, export_gguf, gguf_condition_warning
    from steering.layers import parse_layers
    from steering.vectors import ControlVector

    if args.format != "gguf":
        raise SteeringError(f"Unknown export format '{args.format}': only 'gguf' is supported.")
    vector = ControlVector.load(args.vector)
    layers = None
    if args.layers is not None:
        # Block indices are checked against the vector's own layers (the model is not loaded).
        layers = parse_layers(args.layers, max(vector.layers) + 1)
    elif 0 in vector.directions:
        print(f"note: {BLOCK_ZERO_NOTICE}", file=sys.stderr)
    written = export_gguf(vector, args.out, layers=layers, strength=args.strength)
    warning = gguf_condition_warning(vector)
    if warning is not None:
        print(f"warning: {warning}", file=sys.stderr)
    print(written)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from steering.engine.models import fingerprint, load_model
    from steering.export import import_gguf

    loaded = load_model(args.model, dtype=args.dtype)
    vector = import_gguf(
        args.gguf,
        num_layers=loaded.num_layers,
        hidden_size=loaded.hidden_size,
        model_id=loaded.spec,
        model_fingerprint=fingerprint(loaded),
    )
    vector.metadata["model_name"] = loaded.name
    vector.metadata["model_architecture"] = loaded.model.config.model_type or "unknown"
    vector.metadata.update(loaded.precision.lineage())  # the format it was checked against
    if vector.metadata.get("import_note"):
        print(f"note: {vector.metadata['import_note']}", file=sys.stderr)
    print(vector.save(args.out))
    return 0


def add_export_command(subparsers: argparse._SubParsersAction, model_help: str) -> None:
    """Register ``export`` and ``import`` on the main CLI's subcommands."""
    export = subparsers.add_parser("export", help="export a vector for llama.cpp")
    export.add_argument("--vector", required=True)
    export.add_argument("--format", default="gguf")
    export.add_argument("--out", required=True)
    export.add_argument(
        "--layers",
        default=None,
        help="A-B or I,J,... (default: the vector's layers without block 0, which llama.cpp "
        "cannot steer)",
    )
    export.add_argument("--strength", type=float, default=None, help="recorded in the metadata")
    export.set_defaults(run=cmd_export)

    imp = subparsers.add_parser(
        "import", help="read a llama.cpp control-vector GGUF (repeng, llama-cvector-generator)"
    )
    imp.add_argument("--gguf", required=True, help="the control-vector .gguf file")
    imp.add_argument("--model", default="default", help=model_help)
    add_dtype_option(imp)
    imp.add_argument("--out", required=True, help="where to write the .safetensors vector")
    imp.set_defaults(run=cmd_import)
