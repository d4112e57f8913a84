"""Gradio's file cache lives under the data folder and starts empty at each start-up.

Gradio copies every returned file and every upload into a cache folder (``GRADIO_TEMP_DIR``,
read when a Blocks and its components are created) and serves it from there for as long as the
process lives; left in the system temp folder it would survive restarts. Call
:func:`prepare_file_cache` before building the Blocks.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CACHE_DIR_NAME = "gradio-cache"


def cache_folder(data_dir: str | Path) -> Path:
    """Where Gradio's cache goes for this data folder."""
    return Path(data_dir) / CACHE_DIR_NAME


def prepare_file_cache(data_dir: str | Path) -> Path:
    """Empty (or create) the cache folder and point Gradio at it; returns the folder."""
    folder = cache_folder(data_dir)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = str(folder.resolve())
    return folder.resolve()
