"""The numeric answer match shared by gsm8k and aime2025.

The extraction is that of inspect-ai's `match(numeric=True)` at the version the
reference pinned (0.3.150): casefold; drop `$ £ € , * _`; drop a period that ends a
sentence (followed by a space, the end, or a non-digit); split on whitespace; the answer
is the last word that is a number (digits, with decimal points, optionally a leading
minus). A word with anything else attached ("18!", "(18)", "18%", "1.8e1") is not a
number, as there.

The comparison follows the reference's fix (PostTrainBench issue #44, its gsm8k final
evaluation): by value, sign included. The pinned inspect-ai compared 5-significant-digit
strings with `str.endswith` ("ANSWER: 711" was correct for 11, "149" for 49) and compared
negative targets and ones with thousands separators as text ("ANSWER: 13" was correct for
-13). ptb applies the fixed comparison to aime2025 too, where the reference kept the
suffix match; AIME answers are 0..999, so only suffix false positives change.
"""

from __future__ import annotations

import re
import unicodedata

_TARGET = re.compile(r"-?\d+(\.\d+)?")


def _strip_numeric_punctuation(text: str) -> str:
    text = re.sub(r"[$,£€*_]", "", text)
    return re.sub(r"\.(?=\s|$|\D)", "", text)


def _is_number_word(word: str) -> bool:
    digits = word[1:] if word.startswith("-") else word
    return digits.replace(".", "").isnumeric()


def _value(word: str) -> float | None:
    sign = -1.0 if word.startswith("-") else 1.0
    digits = word[1:] if word.startswith("-") else word
    try:
        return sign * float(digits)
    except ValueError:  # Unicode digits ("١٨"); other numeric characters ("½", "²") do not parse
        try:
            return sign * float("".join(str(unicodedata.decimal(c)) if c != "." else c for c in digits))
        except (TypeError, ValueError, OverflowError):
            return None


def last_number(text: str) -> tuple[str | None, float | None]:
    """(the answer word, its value): the last number word of `text`; value None if it does not parse."""
    words = re.split(r"\s+", _strip_numeric_punctuation(text.strip().casefold()))
    for word in reversed(words):
        if _is_number_word(word):
            return word, _value(word)
    return None, None


def target_value(target: str) -> float:
    t = _strip_numeric_punctuation(target.strip())
    if not _TARGET.fullmatch(t):
        raise ValueError(f"target {target!r} is not a number")
    return float(t)


def matches(value: float | None, target: str) -> bool:
    return value is not None and abs(value - target_value(target)) < 1e-9
