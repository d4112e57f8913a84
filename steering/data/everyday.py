"""Everyday prompts: ordinary requests that are not the task, for conditional steering's gate.

A gate that applies a control vector only to prompts that look like the task has to be measured
on prompts that do not: ``assets/everyday/prompts.jsonl`` holds several hundred hand-written
everyday prompts (advice, how-to, cooking, travel, writing, small talk, recommendations,
explanations of everyday things, opinions, jokes ...), none in the style of the bundled task sets
(no arithmetic word problems, no deduction stories, no name-completion sentences). The gate is
fitted on the ``build`` half and its false alarms are counted on the ``heldout`` half.

Each line is ``{"family": "<topic id>", "text": "<prompt>"}``. A family is a handful of prompts
on one topic or in one pattern, and it is the unit of the split: the halves share no family, so a
gate cannot look good on the held-out half by recognising a template or topic it was fitted on.

The split: the family ids, sorted, are shuffled with ``random.Random(EVERYDAY_SPLIT_SEED)``; each
family in that order goes to the half with fewer prompts so far (``build`` on a tie), so the
halves differ by at most one family's size. Each half keeps the file's order. ``random.Random``
does not depend on hash randomisation, so every process gets the same split.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from steering.errors import SteeringError

EVERYDAY_FILE = Path(__file__).resolve().parents[2] / "assets" / "everyday" / "prompts.jsonl"
EVERYDAY_SPLIT_SEED = 0

Half = Literal["build", "heldout"]
HALVES: tuple[Half, ...] = ("build", "heldout")
_KEYS = frozenset({"family", "text"})


@dataclass(frozen=True)
class EverydayPrompt:
    """One prompt of the set and the family it belongs to."""

    family: str
    text: str


def read_everyday_file(path: Path) -> tuple[EverydayPrompt, ...]:
    """Parse an everyday-prompts JSONL file; raise SteeringError naming the file and bad line.

    Blank lines are ignored; every other line must be an object with exactly the string fields
    ``family`` and ``text``, both non-empty, and no prompt may appear twice.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SteeringError(f"cannot read the everyday prompts file {path}: {exc}") from None
    prompts: list[EverydayPrompt] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        prompt = _parse_line(path, number, line)
        if prompt.text in first_line:
            raise SteeringError(
                f"{path}, line {number}: the prompt repeats line {first_line[prompt.text]}; "
                "remove one of them"
            )
        first_line[prompt.text] = number
        prompts.append(prompt)
    if not prompts:
        raise SteeringError(f"the everyday prompts file {path} has no prompts")
    return tuple(prompts)


def _parse_line(path: Path, number: int, line: str) -> EverydayPrompt:
    where = f"{path}, line {number}"
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise SteeringError(f"{where} is not valid JSON ({exc.msg})") from None
    if not isinstance(value, dict) or set(value) != _KEYS:
        raise SteeringError(
            f'{where} must be an object with exactly the keys "family" and "text", '
            'like {"family": "packing-for-a-trip", "text": "What should I pack?"}'
        )
    for key in ("family", "text"):
        if not isinstance(value[key], str) or not value[key].strip():
            raise SteeringError(f'{where}: "{key}" must be a non-empty string')
    return EverydayPrompt(family=value["family"].strip(), text=value["text"].strip())


def split_families(prompts: Sequence[EverydayPrompt], seed: int) -> dict[str, Half]:
    """Family id -> half: sorted ids shuffled by ``seed``, each to the half with fewer prompts."""
    sizes: dict[str, int] = {}
    for prompt in prompts:
        sizes[prompt.family] = sizes.get(prompt.family, 0) + 1
    order = sorted(sizes)
    random.Random(seed).shuffle(order)
    filled = dict.fromkeys(HALVES, 0)
    assigned: dict[str, Half] = {}
    for family in order:
        half: Half = "build" if filled["build"] <= filled["heldout"] else "heldout"
        assigned[family] = half
        filled[half] += sizes[family]
    return assigned


@functools.cache
def _bundled() -> tuple[EverydayPrompt, ...]:
    return read_everyday_file(EVERYDAY_FILE)


@functools.cache
def _bundled_halves() -> dict[str, Half]:
    return split_families(_bundled(), EVERYDAY_SPLIT_SEED)


def everyday_prompts(half: Half | None = None) -> list[str]:
    """The bundled everyday prompts in file order: all of them, or one half of the split."""
    if half is not None and half not in HALVES:
        raise SteeringError(f"the half must be 'build' or 'heldout', not {half!r}")
    halves = _bundled_halves()
    return [p.text for p in _bundled() if half is None or halves[p.family] == half]


def everyday_families() -> dict[str, str]:
    """Prompt text -> family id, for every bundled everyday prompt."""
    return {p.text: p.family for p in _bundled()}
