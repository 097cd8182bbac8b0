"""The numeric answer match shared by gsm8k and aime2025.

By default (`suffix_match`), as inspect-ai 0.3.150's `match(numeric=True)`, which the
reference's gsm8k and aime2025 scorers called: both sides stripped and casefolded. If the
target is all digits: drop `$ £ € , * _` and any period that ends a sentence (followed by
a space, the end, or a non-digit), split the output on whitespace, take the last word
that is a number (digits and periods), else the last word; numbers are written with 5
significant digits (`format(x, ".5g")`); correct iff the output's word ENDS WITH the
target's. So "ANSWER: 711" is right for 11, 123457 for 123456, and "-18" (not a number
word, so kept as the fallback word) for 18. Other targets (negative, decimal, with a
thousands separator) are compared as text: both sides trimmed of punctuation, the output
must end with the target ("ANSWER: 13" is right for -13). A known flaw, but what the
published numbers used.

The option `exact-numeric` (`exact_match`): the last number word of the output (a leading
minus allowed) must equal the target by value.
"""

from __future__ import annotations

import re
import string
import unicodedata

from ptb.errors import ConfigError

_TARGET = re.compile(r"-?\d+(\.\d+)?")
_LEADING_NUMBER = re.compile(r"\d+(?:\.\d+)?")  # \d: any Unicode decimal digit, which float() reads


def _strip_numeric_punctuation(text: str) -> str:
    text = re.sub(r"[$,£€*_]", "", text)
    return re.sub(r"\.(?=\s|$|\D)", "", text)


def _is_number(word: str) -> bool:
    return word.replace(".", "").isnumeric()


def _five_digits(word: str) -> str:
    """A number word as "%.5g" ("18.0" -> "18"); a word that is no number stays as it is."""
    if not _is_number(word):
        return word
    found = _LEADING_NUMBER.match(word)
    if found:  # "1.2.3" reads as 1.2, as there
        return format(float(found.group()), ".5g")
    if len(word) == 1:  # a single numeric character: "½", "Ⅻ"
        return format(unicodedata.numeric(word), ".5g")
    return word  # other numeric characters ("²" after digits, CJK numerals): see the note in tests/test_fidelity.py


def suffix_match(output: str, target: str) -> tuple[str, bool]:
    """(the answer as compared, correct): inspect-ai 0.3.150's match(numeric=True), location "end"."""
    value, goal = output.strip(), target.strip()
    answer = value
    value, goal = value.casefold(), goal.casefold()
    if goal.isnumeric():
        goal = _five_digits(_strip_numeric_punctuation(goal))
        words = re.split(r"\s+", _strip_numeric_punctuation(value))
        value = _five_digits(next((w for w in reversed(words) if _is_number(w)), words[-1]))
        answer = value
    else:
        punctuation = string.whitespace + string.punctuation
        value, goal = value.strip(punctuation), goal.strip(punctuation)
    return answer, value.endswith(goal)


def _value(word: str) -> float | None:
    sign = -1.0 if word.startswith("-") else 1.0
    digits = word[1:] if word.startswith("-") else word
    try:
        return sign * float(digits)
    except ValueError:  # other numeric characters ("½", "²") do not parse
        return None


def last_number(text: str) -> tuple[str | None, float | None]:
    """(the answer word, its value): the last number word of `text`, a leading minus allowed."""
    words = re.split(r"\s+", _strip_numeric_punctuation(text.strip().casefold()))
    for word in reversed(words):
        if _is_number(word[1:] if word.startswith("-") else word):
            return word, _value(word)
    return None, None


def target_value(target: str) -> float:
    t = _strip_numeric_punctuation(target.strip())
    if not _TARGET.fullmatch(t):
        raise ConfigError(f"target {target!r} is not a number")
    return float(t)


def exact_match(output: str, target: str) -> tuple[str | None, bool]:
    """(the answer word, correct): the option `exact-numeric`."""
    word, value = last_number(output)
    return word, value is not None and abs(value - target_value(target)) < 1e-9
