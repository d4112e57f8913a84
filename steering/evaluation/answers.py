"""Extracting the final answer from a generated text, and comparing it with the expected one.

The kind of extraction follows the expected answer:

- a number (``"42"``, ``"-3"``, ``"1,200"``, ``"2.5"``): the number after the last "answer is" /
  "answer:" if there is one, else the last number in the text; compared as numbers.
- an option letter (``"B"``, one letter A-J): the letter after "answer is", else a letter
  standing alone as ``(B)``, ``B)``, ``B.`` or ``B`` (the whole text) at the start, else the last standalone
  capital letter; compared case-insensitively.
- short text (``"wolf"``, ``"Mary"``): with candidate choices, the choice mentioned after "answer
  is", else the last choice mentioned (a plural ``-s``/``-es``, or ``-f`` -> ``-ves``, also counts); without choices, the
  words after "answer is" (else the first line). Compared after normalising: lower case, no
  punctuation, no leading article, single spaces.

The raw text is always kept beside the extracted answer so that a reviewer can check it.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_ANSWER_IS = re.compile(r"answer\s*(?:is|:)\s*:?\s*", re.IGNORECASE)
_LETTER_ANSWER = re.compile(r"^\(?([A-Ja-j])\)?(?:[.):,]|$)")
_ARTICLES = ("a ", "an ", "the ")


def normalise_text(text: str) -> str:
    """Lower case, punctuation removed, leading article dropped, whitespace collapsed."""
    text = text.lower().translate(str.maketrans("", "", string.punctuation))
    text = " ".join(text.split())
    for article in _ARTICLES:
        if text.startswith(article):
            text = text[len(article) :]
    return text


def _number_value(token: str) -> float | None:
    try:
        return float(token.replace(",", ""))
    except ValueError:
        return None


def answer_kind(answer: str) -> str:
    """``"number"``, ``"letter"`` or ``"text"``: how ``answer`` is extracted and compared."""
    stripped = answer.strip()
    if _NUMBER.fullmatch(stripped) and _number_value(stripped) is not None:
        return "number"
    if len(stripped) == 1 and stripped.upper() in "ABCDEFGHIJ":
        return "letter"
    return "text"


def _format_number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def _after_answer_is(text: str) -> str | None:
    matches = list(_ANSWER_IS.finditer(text))
    return text[matches[-1].end() :] if matches else None


def extract_number(text: str) -> str | None:
    tail = _after_answer_is(text)
    if tail is not None:
        found = _NUMBER.search(tail)
        if found and _number_value(found.group()) is not None:
            return _format_number(_number_value(found.group()))  # type: ignore[arg-type]
    numbers = [n for n in _NUMBER.findall(text) if _number_value(n) is not None]
    return _format_number(_number_value(numbers[-1])) if numbers else None  # type: ignore[arg-type]


def extract_letter(text: str) -> str | None:
    tail = _after_answer_is(text)
    for candidate in (tail, text.strip()):
        if candidate is not None:
            found = _LETTER_ANSWER.match(candidate.strip())
            if found:
                return found.group(1).upper()
    alone = re.findall(r"(?<![A-Za-z])([A-J])(?![A-Za-z])", text)
    return alone[-1] if alone else None


def _mentions(text: str, choice: str) -> list[int]:
    norm = normalise_text(choice)
    if not norm:
        return []
    forms = [re.escape(norm) + "(?:s|es)?"]
    if norm.endswith("f"):  # wolf -> wolves
        forms.append(re.escape(norm[:-1]) + "ves")
    pattern = re.compile(r"\b(?:" + "|".join(forms) + r")\b")
    return [m.start() for m in pattern.finditer(normalise_text(text))]


def extract_text(text: str, choices: Sequence[str] | None = None) -> str | None:
    tail = _after_answer_is(text)
    if choices:
        for region in (tail, text):
            if region is None:
                continue
            positions = {c: _mentions(region, c) for c in choices}
            found = [(max(p) if region is text else min(p), c) for c, p in positions.items() if p]
            if found:
                # After "answer is": the first choice named; in free text: the last one named.
                pick = max(found) if region is text else min(found)
                return normalise_text(pick[1])
        return None
    region = tail if tail is not None else (text.strip().splitlines() or [""])[0]
    region = re.split(r"[.\n]", region.strip(), maxsplit=1)[0]
    return normalise_text(region) or None


def extract_answer(text: str, answer: str, choices: Sequence[str] | None = None) -> str | None:
    """The answer found in ``text``, in the same normal form as ``expected_form(answer)``."""
    kind = answer_kind(answer)
    if kind == "number":
        return extract_number(text)
    if kind == "letter":
        return extract_letter(text)
    return extract_text(text, choices)


def expected_form(answer: str) -> str:
    """The expected answer in the normal form ``extract_answer`` produces."""
    kind = answer_kind(answer)
    if kind == "number":
        return _format_number(_number_value(answer.strip()))  # type: ignore[arg-type]
    if kind == "letter":
        return answer.strip().upper()
    return normalise_text(answer)


def is_correct(extracted: str | None, answer: str) -> bool:
    return extracted is not None and extracted == expected_form(answer)
