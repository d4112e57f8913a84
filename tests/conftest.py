"""Shared fixtures: tiny randomly initialised models built from configs, in-process, no files.

torch is imported inside the fixtures so that storage-only runs stay quick to start.

The suite runs float32 (``STEERING_DTYPE=float32``, inherited by the app processes the tests
start), so that its figures do not depend on whether this machine has native bfloat16; the
agreement tests (tests/steering/test_precision_agreement.py) ask for their formats explicitly.
"""

from __future__ import annotations

import os

import pytest

os.environ["STEERING_DTYPE"] = "float32"


@pytest.fixture(scope="session")
def tiny_llama():
    """A 4-layer Llama with a byte-level tokenizer and a chat template."""
    from tests.tiny import make_tiny

    return make_tiny("llama", chat_template=True)


@pytest.fixture(scope="session")
def tiny_gpt2():
    """A 3-layer GPT-2 (absolute positions) without a chat template."""
    from tests.tiny import make_tiny

    return make_tiny("gpt2", chat_template=False)


@pytest.fixture
def cpu():
    """``cpu(text)`` makes the engine read ``text`` as this machine's /proc/cpuinfo (undone after)."""
    from steering.engine import precision

    def use(text: str) -> None:
        precision.use_cpuinfo(lambda: text)

    yield use
    precision.use_cpuinfo(None)
