"""Built-in example-set generators: the bundled sets in ``assets/examples/``.

The sets are generated, not hand-written, so that they are reproducible from a seed, can be
regenerated after a wording change, and have exactly the columns of the pair format in the
README's "Example pairs" section. ``python -m steering.data.tasks`` rewrites the files; the files
themselves are committed so that the app never needs to run this module.

The sets:

- ``arithmetic``: one- and two-step word problems of four kinds (addition, subtraction,
  multiplication, two steps). ``positive`` is correct step-by-step reasoning, ``negative`` is
  plausible reasoning with one slip (wrong operation, near miss, skipped step), ``choices`` are the
  correct answer and the flawed reasoning's answer.
- ``deduction``: bAbI task 15 ("basic deduction"). No ``negative`` column, so that the random-string
  negative strategy of the paper is exercised.
- ``ioi``: indirect-object identification (Wang et al., 2022). ``positive`` is the indirect object's
  name, ``negative`` the subject's.

Measured baselines (multiple-choice accuracy of the bundled SmolLM2-135M-Instruct Q4_1, float32 on
CPU, without steering, by the scoring rule of product.md: chat-template prompt + candidate, summed
log-probability of the candidate's tokens; first 100 rows of each set, seed 0):

- ``arithmetic``: 112/200 = 56% (acc_norm 52%; 2 choices, chance 50%), all 200 rows. By kind,
  on 15 rows each of an earlier draw: subtraction 93%, two-step 93%, addition 40%,
  multiplication 7%: the model leans towards the shorter number, which is right for subtraction
  and wrong for multiplication. An earlier draft with four near-miss numbers as choices sat at
  chance (33/100, 4 choices), the model picking the shortest number almost always.
- ``deduction``: 26/100 = 26% (4 choices, chance 25%).
- ``ioi``: 35/100 = 35% (2 choices, chance 50%): the model prefers the repeated name (the giver).
  Dropping the instruction line gave 24% and question phrasings 33-37% (30 rows each).

``arithmetic`` sits inside the 35-85% band, so a vector's effect can show in either direction;
``deduction`` and ``ioi`` are at or below chance for this small model.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets" / "examples"
DEFAULT_ROWS = 200
COLUMNS = ("prompt", "positive", "negative", "answer", "choices", "split")

Record = dict[str, object]

# --------------------------------------------------------------------------- arithmetic

_NAMES = (
    "Anna", "Ben", "Carla", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jack", "Kira",
    "Leo", "Maya", "Nora", "Omar", "Paula", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera",
    "Will", "Yara", "Zoe",
)  # fmt: skip
_ITEMS = (
    "apples", "books", "stickers", "marbles", "pencils", "cookies", "stamps", "shells",
    "cards", "balloons", "coins", "eggs",
)  # fmt: skip

ARITHMETIC_SUFFIX = "Answer with the number only."


@dataclass(frozen=True)
class _Problem:
    """One arithmetic problem before it is turned into a row."""

    question: str
    steps: str  # correct reasoning without the final sentence
    answer: int
    wrong_steps: str  # flawed reasoning without the final sentence
    wrong: int


def _slip(rng: random.Random, value: int) -> int:
    """A near miss that a careless solver would write: off by one, by ten, or a swapped digit."""
    options = [value + 1, value - 1, value + 10, value - 10, value + 2]
    if value >= 10:
        digits = str(value)
        options.append(int(digits[::-1]))
    options = [o for o in options if o != value and o >= 0]
    return rng.choice(options)


def _addition(rng: random.Random, name: str, items: str) -> _Problem:
    a, b = rng.randint(2, 30), rng.randint(2, 30)
    wrong = _slip(rng, a + b)
    return _Problem(
        question=f"{name} has {a} {items} and gets {b} more. How many {items} does {name} have now?",
        steps=f"{name} starts with {a} {items} and gets {b} more, so {a} + {b} = {a + b}.",
        answer=a + b,
        wrong_steps=f"{name} starts with {a} {items} and gets {b} more, so {a} + {b} = {wrong}.",
        wrong=wrong,
    )


def _subtraction(rng: random.Random, name: str, items: str) -> _Problem:
    a = rng.randint(8, 40)
    b = rng.randint(2, a - 2)
    # The classic flaw: adding what should be taken away.
    wrong = a + b
    return _Problem(
        question=f"{name} had {a} {items} and gave {b} away. How many {items} does {name} have left?",
        steps=f"{name} had {a} {items} and gave {b} away, so {a} - {b} = {a - b}.",
        answer=a - b,
        wrong_steps=f"{name} had {a} {items} and gave {b} away, so {a} + {b} = {a + b}.",
        wrong=wrong,
    )


def _multiplication(rng: random.Random, name: str, items: str) -> _Problem:
    a, b = rng.randint(2, 9), rng.randint(2, 9)
    # The classic flaw: adding the factors instead of multiplying them.
    return _Problem(
        question=f"{name} has {a} bags with {b} {items} in each bag. How many {items} does {name} have?",
        steps=f"There are {a} bags with {b} {items} each, so {a} x {b} = {a * b}.",
        answer=a * b,
        wrong_steps=f"There are {a} bags with {b} {items} each, so {a} + {b} = {a + b}.",
        wrong=a + b if a + b != a * b else a * b + 1,
    )


def _two_step(rng: random.Random, name: str, items: str) -> _Problem:
    a, b = rng.randint(5, 30), rng.randint(2, 20)
    c = rng.randint(1, a + b - 1)
    # The classic flaw: forgetting the second step.
    return _Problem(
        question=(
            f"{name} has {a} {items}, buys {b} more and then gives {c} to a friend. "
            f"How many {items} does {name} have now?"
        ),
        steps=(
            f"{name} starts with {a} {items}. After buying {b} more, {name} has {a} + {b} = {a + b}. "
            f"After giving away {c}, {name} has {a + b} - {c} = {a + b - c}."
        ),
        answer=a + b - c,
        wrong_steps=(
            f"{name} starts with {a} {items}. After buying {b} more, {name} has {a} + {b} = {a + b}."
        ),
        wrong=a + b if c else a + b + 1,
    )


ARITHMETIC_KINDS: dict[str, Callable[[random.Random, str, str], _Problem]] = {
    "addition": _addition,
    "subtraction": _subtraction,
    "multiplication": _multiplication,
    "two_step": _two_step,
}


def _number_choices(rng: random.Random, answer: int, wrong: int) -> list[str]:
    """The correct answer against the flawed reasoning's answer, in random order.

    Two candidates make the multiple-choice question the same contrast the vector is built from
    (correct against flawed reasoning). Four near-miss numbers left the bundled model at chance,
    mostly picking the shortest number (see the measured baselines above).
    """
    picked = [str(answer), str(wrong)]
    rng.shuffle(picked)
    return picked


def arithmetic_row(rng: random.Random, kind: str) -> Record:
    """One arithmetic row of the given kind (see ARITHMETIC_KINDS)."""
    name, items = rng.choice(_NAMES), rng.choice(_ITEMS)
    problem = ARITHMETIC_KINDS[kind](rng, name, items)
    return {
        "prompt": f"{problem.question} {ARITHMETIC_SUFFIX}",
        "positive": f"{problem.steps} The answer is {problem.answer}.",
        "negative": f"{problem.wrong_steps} The answer is {problem.wrong}.",
        "answer": str(problem.answer),
        "choices": _number_choices(rng, problem.answer, problem.wrong),
    }


# All four kinds: their flawed answers are sometimes longer (subtraction: a + b), sometimes
# shorter (multiplication: a + b) than the correct one, so a preference for short numbers cannot
# pass for arithmetic.
BUNDLED_ARITHMETIC_KINDS = ("addition", "subtraction", "multiplication", "two_step")


def arithmetic(
    n: int = DEFAULT_ROWS, seed: int = 0, kinds: Sequence[str] = BUNDLED_ARITHMETIC_KINDS
) -> list[Record]:
    """Arithmetic word problems with flawed-reasoning negatives, ``kinds`` in rotation."""
    rng = random.Random(f"arithmetic-{seed}")
    kinds = list(kinds)
    return _unique_rows(arithmetic_row(rng, kinds[i % len(kinds)]) for i in range(10 * n))[:n]


# --------------------------------------------------------------------------- deduction (bAbI 15)

# bAbI task 15 uses exactly these four animals; the plural is needed for the rules.
ANIMALS = {"mouse": "mice", "sheep": "sheep", "wolf": "wolves", "cat": "cats"}
_BABI_NAMES = (
    "Gertrude", "Winona", "Jessica", "Emily", "Bernhard", "Julius", "Lily", "Brian", "Greg",
    "Yann", "Frank", "Harriet", "Ivo", "Mabel", "Otto", "Petra",
)  # fmt: skip


def _article(noun: str) -> str:
    return "an" if noun[0] in "aeiou" else "a"


def deduction_row(rng: random.Random) -> Record:
    """One bAbI-15 story: four fear rules, four animal facts, one question."""
    animals = list(ANIMALS)
    fears = {a: rng.choice([b for b in animals if b != a]) for a in animals}
    names = rng.sample(_BABI_NAMES, 4)
    kinds = [rng.choice(animals) for _ in names]
    rules = [f"{ANIMALS[a].capitalize()} are afraid of {ANIMALS[fears[a]]}." for a in animals]
    facts = [f"{n} is {_article(k)} {k}." for n, k in zip(names, kinds, strict=True)]
    rng.shuffle(rules)
    rng.shuffle(facts)
    who = rng.randrange(len(names))
    name, kind = names[who], kinds[who]
    answer = fears[kind]
    story = " ".join(rules + facts)
    return {
        "prompt": f"{story} What is {name} afraid of? Answer with one word.",
        "positive": (
            f"{name} is {_article(kind)} {kind}, and {ANIMALS[kind]} are afraid of "
            f"{ANIMALS[answer]}. So {name} is afraid of {ANIMALS[answer]}. The answer is {answer}."
        ),
        "answer": answer,
        "choices": list(animals),
    }


def deduction(n: int = DEFAULT_ROWS, seed: int = 0) -> list[Record]:
    """bAbI-15-style deduction without negatives (the random-string strategy applies)."""
    rng = random.Random(f"deduction-{seed}")
    return _unique_rows(deduction_row(rng) for _ in range(10 * n))[:n]


# --------------------------------------------------------------------------- IOI

IOI_NAMES = (
    "Mary", "John", "Alice", "Bob", "Sarah", "Tom", "Laura", "James", "Kate", "Michael", "Emma",
    "David", "Anna", "Paul", "Lisa", "Mark", "Julia", "Peter", "Rachel", "Daniel",
)  # fmt: skip
_IOI_PLACES = ("store", "park", "school", "hospital", "office", "restaurant", "station", "garden")
_IOI_OBJECTS = ("drink", "book", "ring", "letter", "bone", "basket", "necklace", "kiss", "snack")
# Templates from Wang et al. (2022); {io} is the indirect object, {s} the subject who gives.
_IOI_TEMPLATES = (
    "When {a} and {b} went to the {place}, {s} gave a {obj} to",
    "After {a} and {b} went to the {place}, {s} gave a {obj} to",
    "While {a} and {b} were working at the {place}, {s} gave a {obj} to",
    "Then, {a} and {b} had a long day at the {place}. {s} gave a {obj} to",
    "When {a} and {b} got a {obj} at the {place}, {s} decided to give it to",
    "Friends {a} and {b} found a {obj} at the {place}. {s} gave it to",
)
IOI_INSTRUCTION = "Complete the sentence with the right name."


def ioi_row(rng: random.Random) -> Record:
    """One IOI sentence; the order of the two names is random (ABB and BAB patterns)."""
    io, s = rng.sample(IOI_NAMES, 2)
    a, b = (io, s) if rng.random() < 0.5 else (s, io)
    template = rng.choice(_IOI_TEMPLATES)
    sentence = template.format(
        a=a, b=b, s=s, place=rng.choice(_IOI_PLACES), obj=rng.choice(_IOI_OBJECTS)
    )
    return {
        "prompt": f"{IOI_INSTRUCTION}\n{sentence}",
        "positive": io,
        "negative": s,
        "answer": io,
        "choices": [a, b],
    }


def ioi(n: int = DEFAULT_ROWS, seed: int = 0) -> list[Record]:
    """Indirect-object identification: the positive is the recipient, the negative the giver."""
    rng = random.Random(f"ioi-{seed}")
    return _unique_rows(ioi_row(rng) for _ in range(10 * n))[:n]


# --------------------------------------------------------------------------- writing

GENERATORS: dict[str, Callable[[int, int], list[Record]]] = {
    "arithmetic": arithmetic,
    "deduction": deduction,
    "ioi": ioi,
}


def _unique_rows(rows: Iterator[Record]) -> list[Record]:
    """Drop repeats of (prompt, positive, negative): the loader rejects duplicate rows."""
    seen: set[tuple[object, ...]] = set()
    out: list[Record] = []
    for row in rows:
        key = (row["prompt"], row["positive"], row.get("negative"))
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def to_jsonl(rows: list[Record]) -> str:
    """JSONL text with a fixed key order, so regenerating gives a byte-identical file."""
    lines = [
        json.dumps({k: row[k] for k in COLUMNS if row.get(k) is not None}, ensure_ascii=False)
        for row in rows
    ]
    return "\n".join(lines) + "\n"


def write_jsonl(rows: list[Record], path: Path) -> Path:
    path.write_text(to_jsonl(rows), encoding="utf-8", newline="\n")
    return path


def write_csv(rows: list[Record], path: Path) -> Path:
    """CSV as a spreadsheet user would write it: choices joined with '|'."""
    columns = [k for k in COLUMNS if any(row.get(k) is not None for row in rows)]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            cells = []
            for key in columns:
                value = row.get(key)
                if isinstance(value, list):
                    value = "|".join(value)
                cells.append("" if value is None else str(value))
            writer.writerow(cells)
    return path


def write_bundled(out_dir: Path = ASSETS_DIR, seed: int = 0, n: int = DEFAULT_ROWS) -> list[Path]:
    """Write every bundled set as JSONL, plus ``arithmetic.csv`` as a spreadsheet-style example."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [
        write_jsonl(gen(n, seed), out_dir / f"{name}.jsonl") for name, gen in GENERATORS.items()
    ]
    written.append(write_csv(arithmetic(n, seed), out_dir / "arithmetic.csv"))
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Regenerate the bundled example sets.")
    parser.add_argument("--out", type=Path, default=ASSETS_DIR, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows per set")
    args = parser.parse_args(argv)
    for path in write_bundled(args.out, args.seed, args.rows):
        print(path)


if __name__ == "__main__":
    main()
