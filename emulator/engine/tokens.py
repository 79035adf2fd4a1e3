"""The one token counter, used for usage, context-window checks and Credits.

Rule (documented in docs/fidelity.md): every run of ASCII letters and digits counts one token per
four characters (rounded up); every other non-space character (punctuation, CJK, emoji) counts one
token; white space counts nothing. Each message adds 4 tokens of framing, a request adds 3, and
tool definitions count as their compact JSON. Any prefix of a text that ends on a token boundary
counts exactly the tokens before that boundary, which is how answers are cut at `max_tokens`.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.engine.types import Message, ToolSpec

TOKEN = re.compile(r"[A-Za-z0-9]{1,4}|\S")
_EDGE = re.compile(r"[^A-Za-z0-9]")
_CHUNK = 16384  # characters counted at a time by cut_point
MESSAGE_OVERHEAD = 4
REQUEST_OVERHEAD = 3
IMAGE_TOKENS = 256


def count(text: str) -> int:
    """Tokens in `text`."""
    return len(TOKEN.findall(text))


def token_ends(text: str) -> list[int]:
    """End offset of every token in `text`, in order."""
    return [match.end() for match in TOKEN.finditer(text)]


def cut_point(text: str, cap: int, start: int = 0) -> int | None:
    """Where the first `cap` tokens of `text[start:]` end, when it has more than `cap` tokens
    (None when it has no more); `start` is 0 or a token's end. Counts in C-speed chunks, so a
    long text costs what the cap allows."""
    seen = 0
    while start < len(text):
        # Chunks end before a character outside [A-Za-z0-9], where no token goes on.
        edge = _EDGE.search(text, start + _CHUNK)
        end = edge.start() if edge else len(text)
        found = len(TOKEN.findall(text, start, end))
        if seen + found > cap:
            for number, match in enumerate(TOKEN.finditer(text, start, end), seen + 1):
                if number == cap:
                    return match.end()
            return start  # cap == seen: the cut falls on the chunk's edge
        seen, start = seen + found, end
    return None


def message_tokens(message: Message) -> int:
    calls = sum(count(call.name) + count(call.arguments) for call in message.tool_calls)
    return MESSAGE_OVERHEAD + count(message.text) + calls + IMAGE_TOKENS * message.images


def tools_tokens(tools: Iterable[ToolSpec]) -> int:
    specs: list[dict[str, Any]] = [
        {"name": t.name, "description": t.description, "parameters": t.schema} for t in tools
    ]
    return count(json.dumps(specs, separators=(",", ":"), ensure_ascii=False)) if specs else 0


def prompt_tokens(messages: Iterable[Message], tools: Iterable[ToolSpec]) -> int:
    """Input tokens of a whole request: messages (system included) and tool definitions."""
    return REQUEST_OVERHEAD + sum(message_tokens(m) for m in messages) + tools_tokens(tools)


def stream_pieces(text: str, rng: random.Random) -> Iterator[str]:
    """A stream's fragments of `text`: one to four tokens each, white space leading the next.
    Cut as they are asked for, so a long answer is never held twice, whole and in pieces."""
    matches = TOKEN.finditer(text)
    following = next(matches, None)
    start = 0
    while following is not None:
        wanted = rng.randint(1, 4)
        taken, end = 0, start
        while following is not None and taken < wanted:
            taken, end = taken + 1, following.end()
            following = next(matches, None)
        if following is None:  # the last fragment carries any trailing white space
            end = len(text)
        yield text[start:end]
        start = end
