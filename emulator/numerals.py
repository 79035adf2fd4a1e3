"""Strict numerals from URLs: ASCII digits and nothing else.

`str.isdigit()` is true for `²` (which `int()` then refuses) and `int()` reads any Unicode
decimal digit (`٣`), surrounding spaces and underscores; a number in a URL is `[0-9]+`.
"""

from __future__ import annotations

import re

_DIGITS = re.compile(r"[0-9]+", re.ASCII)


def ascii_int(text: str, max_digits: int = 18) -> int | None:
    """`text` as a whole number when it is ASCII digits with at most `max_digits` significant
    ones (so `int()` never meets a huge string); None otherwise."""
    if not _DIGITS.fullmatch(text):
        return None
    significant = text.lstrip("0")
    return int(significant or "0") if len(significant) <= max_digits else None
