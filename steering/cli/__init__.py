"""Command line: ``python -m steering info|build|generate|export|import|evaluate``.

User errors print one clear message on stderr and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from steering.cli.build import add_build_command
from steering.cli.evaluate import add_evaluate_command
from steering.cli.export import add_export_command
from steering.cli.generate import add_generate_command
from steering.cli.info import add_info_command
from steering.errors import SteeringError
from steering.settings import SettingsError, settings

# Each command lives in its own module; this one only assembles them and catches user errors
# (the docstring above is the ``--help`` description, kept as users know it).
MODEL_HELP = "'default' (bundled SmolLM2), a Hugging Face id, a folder or a .gguf path"


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m steering`` parser with every command registered."""
    parser = argparse.ArgumentParser(prog="python -m steering", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    add_info_command(commands, MODEL_HELP)
    add_build_command(commands, MODEL_HELP)
    add_generate_command(commands, MODEL_HELP)
    add_export_command(commands, MODEL_HELP)
    add_evaluate_command(commands, MODEL_HELP)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a user error prints ``error: ...`` on stderr and returns 2."""
    try:
        settings()  # the environment first: every bad variable is named before any work
    except SettingsError as error:
        for problem in error.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except SteeringError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:
        print(f"error: file not found: {error.filename}", file=sys.stderr)
        return 2
