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
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.engine.types import Message, ToolSpec

TOKEN = re.compile(r"[A-Za-z0-9]{1,4}|\S")
MESSAGE_OVERHEAD = 4
REQUEST_OVERHEAD = 3
IMAGE_TOKENS = 256


def count(text: str) -> int:
    """Tokens in `text`."""
    return len(TOKEN.findall(text))


def token_ends(text: str) -> list[int]:
    """End offset of every token in `text`, in order."""
    return [match.end() for match in TOKEN.finditer(text)]


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


def stream_pieces(text: str, rng: random.Random) -> tuple[str, ...]:
    """A stream's fragments of `text`: one to four tokens each, white space leading the next."""
    ends = token_ends(text)
    pieces: list[str] = []
    start = taken = 0
    while taken < len(ends):
        taken = min(taken + rng.randint(1, 4), len(ends))
        end = ends[taken - 1] if taken < len(ends) else len(text)
        pieces.append(text[start:end])
        start = end
    return tuple(pieces)
