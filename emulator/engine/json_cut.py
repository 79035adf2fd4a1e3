"""JSON cut at a token cap and closed again: what a tool call's arguments become when the answer
runs out of tokens (docs/reliability.md, "Bounded output and generation").

A model that hits its cap mid-call stops mid-JSON; the wire formats here carry the arguments as
JSON (Anthropic's `input` is an object), so the cut document is closed: the longest prefix that
ends after a whole value (or inside a string value), then the quotes and brackets still open.
The result is valid JSON of at most `cap` tokens, though it may no longer follow the schema.
"""

from __future__ import annotations

import re

from emulator.engine import tokens

# The parts of compact or spaced JSON text: strings, punctuation, numbers and literals, space.
# A string may be cut short by the end of the text searched (then `closed` is None).
_PART = re.compile(
    r'"(?:[^"\\]|\\.)*(?:(?P<closed>")|\\?\Z)|[{}\[\],:]|[^\s{}\[\],:"]+|\s+', re.DOTALL
)
# What may follow a whole number or literal: white space, a separator, a closer, the end.
_AFTER_SCALAR = frozenset(["", " ", "\n", "\r", "\t", ",", "]", "}"])
# The longest run of whole characters and escapes at the start of a string's body.
_WHOLE = re.compile(r'(?:[^"\\]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*')
_CLOSERS = {"{": "}", "[": "]"}
# Tokens first kept back for closing the cut: enough for most documents' depth, so the cut is
# usually found in one pass.
RESERVE = 8


def cut_json(text: str, cap: int) -> str:
    """`text` (one valid JSON document) as valid JSON of at most `cap` tokens: itself when it
    fits, else a prefix closed again; "" when not even an empty container fits."""
    if tokens.fits(text, cap):  # it fits, no need to count
        return text
    reserve = min(RESERVE, cap // 2)  # tokens kept back for the quote and brackets that close it
    end = tokens.cut_point(text, cap - reserve)
    if end is None or tokens.cut_point(text, reserve, end) is None:
        return text  # no more than `cap` tokens
    while True:
        prefix, closing = _closeable(text, end)
        if prefix and len(closing) <= reserve:  # tokens(prefix) <= cap - reserve, and one
            return prefix + closing  # for each closing mark
        reserve = max(len(closing), reserve + 1)  # deeper than reserved: cut shorter, again
        if reserve >= cap or not prefix:  # the outermost container, empty, is all that fits
            return text[0] + _CLOSERS[text[0]] if cap >= 2 and text[0] in _CLOSERS else ""
        end = tokens.cut_point(text, cap - reserve) or 0


def _closeable(text: str, end: int) -> tuple[str, str]:
    """The longest prefix of `text[:end]` that can be closed, and what closes it."""
    open_: list[str] = []  # the closers owed, innermost last
    expect_key = False  # the next string is an object's key
    best_end, best_closers = 0, ""
    for match in _PART.finditer(text, 0, end):
        part = match.group()
        first = part[0]
        whole = False  # the prefix up to here ends after a whole value or an opening bracket
        if first.isspace():
            continue
        if first in _CLOSERS:
            open_.append(_CLOSERS[first])
            expect_key, whole = first == "{", True
        elif first in "}]":
            open_.pop()
            expect_key, whole = False, True
        elif first == ",":
            expect_key = open_[-1] == "}"
        elif first == ":" or (first == '"' and expect_key):
            expect_key = False
        elif first == '"' and match.group("closed") is None:  # a string value `end` cuts
            partial = _partial_string(part)
            if len(partial) > 1:  # more than its opening quote
                return text[: match.start()] + partial, '"' + "".join(reversed(open_))
        else:  # a whole string value, or a number or literal (unless `end` cuts it)
            whole = first == '"' or match.end() < end or text[end : end + 1] in _AFTER_SCALAR
        if whole:
            best_end, best_closers = match.end(), "".join(reversed(open_))
    return text[:best_end], best_closers


def _partial_string(part: str) -> str:
    """The cut string `part` (from its opening quote) up to its last whole character or
    escape, so that a closing quote makes it a string again."""
    body = _WHOLE.match(part, 1)
    return part[: body.end()] if body else part[:1]
