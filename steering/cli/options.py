"""Options several commands share: the number format a model is loaded in."""

from __future__ import annotations

import argparse

from steering.settings import DTYPES


def add_dtype_option(parser: argparse.ArgumentParser) -> None:
    """``--dtype {auto,float32,bfloat16}``; unset, ``STEERING_DTYPE`` decides (default auto)."""
    parser.add_argument(
        "--dtype",
        choices=DTYPES,
        default=None,
        help="number format to load the model in: auto (bfloat16 on CUDA and on CPUs with native "
        "bfloat16, else float32), float32 or bfloat16 (default: $STEERING_DTYPE, else auto)",
    )
