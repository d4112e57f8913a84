"""The bundled everyday prompts: size, variety, the family split, and distance from the task sets.

Near-duplicates are judged by two measures on lower-cased words (punctuation dropped): difflib's
character ratio and the Jaccard overlap of word bigrams. A pair is a near-duplicate when the
ratio reaches 0.75 or the bigram overlap reaches 0.45. Why those values: unrelated everyday
questions share scaffolding ("How do I ... ?", "What's the best way to ...") and, between any two
families of this set, reach at most a ratio of 0.69 and a bigram overlap of 0.36 (measured when
the set was written); a rewording of one request or a slot swap in one template scores higher on
at least one measure (0.77 to 0.88 ratio, 0.46 to 0.71 overlap: see ``PARAPHRASES``), and
``test_the_measure_separates_paraphrases_from_shared_scaffolding`` keeps both sides of that line.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

from steering.data import everyday
from steering.data.everyday import (
    EVERYDAY_FILE,
    EVERYDAY_SPLIT_SEED,
    everyday_families,
    everyday_prompts,
    read_everyday_file,
    split_families,
)
from steering.data.examples import bundled_example_sets, load_examples
from steering.errors import SteeringError

ROOT = Path(__file__).resolve().parents[2]
NEUTRAL_FILE = ROOT / "assets" / "neutral" / "prompts.txt"
RATIO_LIMIT = 0.75
BIGRAM_LIMIT = 0.45

# Rewordings and slot swaps that the measure must call near-duplicates.
PARAPHRASES = (
    ("How often should I wash my hair?", "How often should I wash my towels?"),
    ("Give me a simple recipe for tomato soup.", "Give me a simple recipe for leek soup."),
    (
        "Tell me a clean joke I can share with my kids.",
        "Tell me a clean joke I can tell my children.",
    ),
    (
        "What's a good book to get a teenager into reading?",
        "What is a good book to get my teenage son reading?",
    ),
)
# Pairs from the set that share only scaffolding, which the measure must let through.
SCAFFOLDING = (
    ("How do I take better photos with my phone?", "How do I make overnight oats?"),
    ("How often should I wash my hair?", "How often should I check my tyre pressure?"),
)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _bigrams(text: str) -> set[tuple[str, str]]:
    words = _words(text)
    return set(zip(words, words[1:], strict=False))


def _near_duplicate(a: str, b: str) -> bool:
    return bool(_near_pairs([a], [b]))


def _near_pairs(left: Iterable[str], right: Iterable[str]) -> list[tuple[str, str]]:
    """Every near-duplicate (left, right) pair; each right side is prepared once for difflib."""
    lefts = [(a, " ".join(_words(a)), _bigrams(a)) for a in left]
    pairs = []
    for b in right:
        b_words, b_bigrams = " ".join(_words(b)), _bigrams(b)
        matcher = difflib.SequenceMatcher(None, autojunk=False)
        matcher.set_seq2(b_words)
        for a, a_words, a_bigrams in lefts:
            # Upper bounds from the sizes alone rule out most pairs (long task prompts) quickly.
            ratio_bound = 2 * min(len(a_words), len(b_words)) / (len(a_words) + len(b_words))
            sizes = sorted((len(a_bigrams), len(b_bigrams)))
            if ratio_bound < RATIO_LIMIT and sizes[0] < BIGRAM_LIMIT * sizes[1]:
                continue
            union = a_bigrams | b_bigrams
            if union and len(a_bigrams & b_bigrams) / len(union) >= BIGRAM_LIMIT:
                pairs.append((a, b))
                continue
            matcher.set_seq1(a_words)
            if matcher.quick_ratio() >= RATIO_LIMIT and matcher.ratio() >= RATIO_LIMIT:
                pairs.append((a, b))
    return pairs


def _task_prompts() -> list[str]:
    """Every prompt of the bundled task sets, and each line of multi-line ones on its own."""
    prompts: set[str] = set()
    for path in bundled_example_sets().values():
        for example in load_examples(path):
            prompts.add(example.prompt)
            prompts.update(line for line in example.prompt.splitlines() if line.strip())
    return sorted(prompts)


# The shapes of the bundled task sets' prompts, and of arithmetic questions in general.
_NUMBER = r"(?:\d+(?:\.\d+)?|zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
TASK_SHAPES = (
    re.compile(r"\d+(?:\.\d+)?\s*[-+*/x×÷^=]\s*\d+"),  # 12 + 7, 3x4, 10/2
    re.compile(
        rf"\b{_NUMBER}\s+(?:plus|minus|times|multiplied by|divided by|added to)\s+{_NUMBER}\b",
        re.IGNORECASE,
    ),  # what is 3 times 4
    re.compile(r"\bhow many \w+ (?:does|do|did) \w+ have\b", re.IGNORECASE),  # word problems
    re.compile(r"\banswer with (?:the number|one word)", re.IGNORECASE),
    re.compile(r"\bare afraid of\b", re.IGNORECASE),  # deduction rules
    re.compile(r"\bwith the right name\b", re.IGNORECASE),
    re.compile(r"\b(?:gave|give) (?:a|an|the|it)\b[^.?!]*\bto$", re.IGNORECASE),  # IOI endings
)


def _task_shaped(text: str) -> bool:
    return any(shape.search(text) for shape in TASK_SHAPES)


# --------------------------------------------------------------------------- the set


def test_the_set_is_large_and_made_of_small_families():
    prompts = everyday_prompts()
    families = everyday_families()
    assert 400 <= len(prompts) <= 480
    assert set(families) == set(prompts)
    sizes: dict[str, int] = {}
    for family in families.values():
        sizes[family] = sizes.get(family, 0) + 1
    assert len(sizes) >= 80
    assert all(3 <= size <= 8 for size in sizes.values()), sizes


def test_prompts_are_between_four_and_forty_words_and_not_all_short():
    lengths = [len(text.split()) for text in everyday_prompts()]
    assert min(lengths) >= 4 and max(lengths) <= 40
    assert sum(length >= 20 for length in lengths) >= 20  # some with context, not only one-liners


def test_no_exact_duplicates_ignoring_case_and_spaces():
    normalised = [" ".join(text.lower().split()) for text in everyday_prompts()]
    assert len(set(normalised)) == len(normalised)


def test_the_file_order_is_kept():
    lines = EVERYDAY_FILE.read_text(encoding="utf-8").splitlines()
    assert everyday_prompts() == [json.loads(line)["text"] for line in lines if line.strip()]


# --------------------------------------------------------------------------- the split


def test_the_halves_are_disjoint_cover_everything_and_keep_file_order():
    everything = everyday_prompts()
    build, heldout = everyday_prompts("build"), everyday_prompts("heldout")
    assert len(build) >= 190 and len(heldout) >= 190
    assert not set(build) & set(heldout)
    assert sorted(build + heldout) == sorted(everything)
    for half in (build, heldout):
        assert half == [text for text in everything if text in set(half)]


def test_no_family_is_in_both_halves_and_the_halves_are_balanced():
    families = everyday_families()
    build = {families[text] for text in everyday_prompts("build")}
    heldout = {families[text] for text in everyday_prompts("heldout")}
    assert not build & heldout
    largest = max(list(families.values()).count(f) for f in set(families.values()))
    assert abs(len(everyday_prompts("build")) - len(everyday_prompts("heldout"))) <= largest


def test_the_split_is_the_seeded_one_and_the_seed_matters():
    prompts = read_everyday_file(EVERYDAY_FILE)
    assigned = split_families(prompts, EVERYDAY_SPLIT_SEED)
    assert assigned == split_families(prompts, EVERYDAY_SPLIT_SEED)
    assert everyday_prompts("heldout") == [
        p.text for p in prompts if assigned[p.family] == "heldout"
    ]
    assert split_families(prompts, EVERYDAY_SPLIT_SEED + 1) != assigned
    # The file's order does not matter, only the family ids (they are sorted before the shuffle).
    assert split_families(prompts[::-1], EVERYDAY_SPLIT_SEED) == assigned


def test_the_split_is_the_same_in_another_process():
    """random.Random does not depend on hash randomisation; a set iterated in the split would."""
    code = "from steering.data.everyday import everyday_prompts; print(everyday_prompts('heldout'))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == repr(everyday_prompts("heldout"))


def test_an_unknown_half_is_refused():
    with pytest.raises(SteeringError, match="'build' or 'heldout'"):
        everyday_prompts("test")


# --------------------------------------------------------------------------- near-duplicates


def test_the_measure_separates_paraphrases_from_shared_scaffolding():
    assert all(_near_duplicate(a, b) for a, b in PARAPHRASES)
    assert not any(_near_duplicate(a, b) for a, b in SCAFFOLDING)
    everything = set(everyday_prompts())
    assert all(a in everything and b in everything for a, b in SCAFFOLDING)


def test_no_near_duplicate_across_the_halves():
    assert _near_pairs(everyday_prompts("build"), everyday_prompts("heldout")) == []


def test_no_near_duplicate_of_the_neutral_prompts():
    neutral = [line for line in NEUTRAL_FILE.read_text(encoding="utf-8").splitlines() if line]
    assert len(neutral) >= 10
    assert _near_pairs(everyday_prompts(), neutral) == []


def test_no_near_duplicate_of_a_bundled_task_prompt():
    tasks = _task_prompts()
    assert len(tasks) >= 600  # three sets of 200 rows, at least
    assert _near_pairs(everyday_prompts(), tasks) == []


def test_the_task_shapes_catch_the_task_sets_and_miss_the_everyday_prompts():
    for path in bundled_example_sets().values():
        for example in load_examples(path):
            assert _task_shaped(example.prompt), example.prompt
    for question in ("What is 3 times 4?", "What's 12 + 7?", "Work out twelve minus five."):
        assert _task_shaped(question)
    assert [text for text in everyday_prompts() if _task_shaped(text)] == []


# --------------------------------------------------------------------------- reading the file


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"family": "x", "text": "Hi"', "line 2 is not valid JSON"),
        ('["x", "Hi there"]', "line 2 must be an object"),
        ('{"family": "x"}', "line 2 must be an object"),
        ('{"family": "x", "text": "Hi", "extra": 1}', "line 2 must be an object"),
        ('{"family": "x", "text": 3}', 'line 2: "text" must be a non-empty string'),
        ('{"family": " ", "text": "Hi there"}', 'line 2: "family" must be a non-empty string'),
        ('{"family": "y", "text": "Good morning!"}', "line 2: the prompt repeats line 1"),
    ],
)
def test_a_malformed_line_is_named(tmp_path: Path, line: str, message: str):
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"family": "x", "text": "Good morning!"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(SteeringError, match=re.escape(message)) as caught:
        read_everyday_file(path)
    assert str(path) in str(caught.value)


def test_a_missing_or_empty_file_is_refused(tmp_path: Path):
    with pytest.raises(SteeringError, match="cannot read"):
        read_everyday_file(tmp_path / "absent.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(SteeringError, match="has no prompts"):
        read_everyday_file(empty)


def test_the_bundled_file_is_read_once():
    everyday_prompts()
    before = everyday._bundled.cache_info().hits
    everyday_prompts("build")
    everyday_families()
    assert everyday._bundled.cache_info().hits >= before + 2
    assert everyday._bundled.cache_info().misses == 1
