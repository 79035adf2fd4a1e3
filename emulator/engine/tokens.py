"""The one token counter, used for usage, count_tokens, context-window checks, the context cache
and Credits (docs/tokens.md).

Raw text counts with Qwen's BPE vocabulary (vocabulary.py); a request counts as Qwen's chat
template renders it: every message framed `<|im_start|>role\\n...<|im_end|>\\n`, tool definitions
in the system turn as Qwen3's template writes them, tool calls and results in their tags, and the
generation prompt `<|im_start|>assistant\\n`. Special tokens count one each; the text between two
of them counts as the vocabulary encodes it, so the count of a request is the count of its
rendered template. Images count 256 tokens each.

A request's count is a sum of shares: the generation prompt and the tool definitions first, then
one share per message, so prefix k of a conversation (the context cache's boundaries) counts
the first k shares. Answers are cut at `max_tokens` on a token's end, never inside a character.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emulator.engine.vocabulary import CHUNK, Bpe, counter

if TYPE_CHECKING:
    from emulator.engine.types import Message, ToolSpec

IMAGE_TOKENS = 256
SPECIAL = 1  # <|im_start|>, <|im_end|>, <tool_call>, <tool_response>, ...: one token each
# Qwen3's chat template around the tool definitions (tokenizer_config.json, `chat_template`).
TOOLS_INTRO = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
)
# Its closing sentence names <tool_call></tool_call>: two special tokens in Qwen's tokenizer,
# which finds them anywhere in the rendered template.
TOOLS_OUTRO = (
    "\n</tools>\n\nFor each function call, return a json object with function name and "
    "arguments within ",
    " XML tags:\n",
)
TOOL_CALL_FORMAT = '\n{"name": <function-name>, "arguments": <args-json-object>}\n'
# Counts are remembered, the latest MEMO_SIZE: agents resend the same system prompt, tool
# definitions and history on every turn, tests send the same prompts again and again, and an
# answer cut at max_tokens is counted again for its usage; looking a text up is far cheaper than
# encoding it. Texts of MEMO_DIGEST characters or more are remembered by a digest, not kept.
MEMO_DIGEST = 1024
MEMO_SIZE = 4096
# A text counted on a miss keeps its token ids, the latest IDS_SIZE: an answer is counted for
# its usage and then, when streamed, cut at its token ends, which its ids give without encoding
# it again. Only the latest few: the stream starts right after; and only of texts up to
# IDS_CHARS long: a longer one (a huge prompt more likely than an answer) would hold a list as
# long as its tokens.
IDS_SIZE = 32
IDS_CHARS = 32_768
_CUT_CHUNK = 16384  # characters counted at a time by cut_point
# Where counting may stop and start again with the same tokens: before the space between two
# ASCII letters (a word's pre-token ends there, the next one starts with that space).
_EDGE = re.compile(r"[A-Za-z](?= [A-Za-z])")


def count(text: str) -> int:
    """Tokens in `text`, written by a user (special-token spellings are plain text)."""
    return _memo().count(text) if text else 0


def token_ends(text: str) -> list[int]:
    """Where each token of `text` ends, as character offsets; a token that ends inside a
    character ends at that character's start (vocabulary.Counter.ends)."""
    return counter().ends(text)


def cut_point(text: str, cap: int, start: int = 0) -> int | None:
    """Where the first `cap` tokens of `text[start:]` end, when it has more than `cap` tokens
    (None when it has no more); `start` is 0 or a token's end. The cut falls on a token's end,
    or before a character the cap would split; the text before it counts at most `cap`. Counts
    in chunks that end between words, so a long text costs what the cap allows."""
    seen, first = 0, start
    while start < len(text):
        edge = _EDGE.search(text, start + _CUT_CHUNK)
        end = edge.end() if edge else len(text)
        piece = text[start:end]
        found, at = counter().cut(piece, cap - seen)
        if at is not None:
            # BPE may split a prefix of a word into more tokens than the word had up to there:
            # cut shorter by the excess until the kept text counts no more than the cap allows.
            # Before a space that follows a visible character, a pre-token ends in the text and
            # in the prefix alike, so the prefix's tokens are the text's: no need to count.
            left = cap - seen
            clean = piece[at : at + 1] == " " and not piece[at - 1 : at].isspace()
            if clean and seen == 0 and start == first:
                _memo().remember(piece[:at], cap)  # its count, known: usage asks for it next
            while at and not clean and (kept := count(piece[:at])) > left:
                left -= kept - left
                at = counter().cut(piece, left)[1] or 0 if left > 0 else 0
            return _within(text, first, start + at, cap)
        seen, start = seen + found, end
    return None


def _within(text: str, start: int, cut: int, cap: int) -> int:
    """`cut`, moved back until `text[start:cut]` counts at most `cap`: a text longer than
    vocabulary.CHUNK is counted in the SDK's pieces, which may split a word and add a token
    where cut_point's chunks did not."""
    while cut - start > CHUNK and (over := count(text[start:cut]) - cap) > 0:
        tail = max(start, cut - 64 * (over + 1))
        ends = [tail + at for at in counter().ends(text[tail:cut])]
        cut = ends[-over - 1] if len(ends) > over else tail
    return cut


def fits(text: str, cap: int) -> bool:
    """Whether `text` surely has no more than `cap` tokens, without counting: every token has
    a byte, and a character has at most four."""
    return cap >= (len(text) if text.isascii() else 4 * len(text))


def message_tokens(message: Message) -> int:
    """A message's share of a prompt when it stands between other turns (a tool result: alone
    in its turn)."""
    frame = _frame()
    if message.role == "tool":
        return _tool_share(message, first=True, last=True)
    if message.role == "assistant":
        return _assistant_share(message, frame)
    body = count(message.role + "\n" + message.text)
    return 2 * SPECIAL + body + frame.newline + IMAGE_TOKENS * message.images


def tools_tokens(tools: Sequence[ToolSpec]) -> int:
    """The system turn that carries the tool definitions (0 without tools), before any system
    message of the request joins it."""
    return _tools_turn(_specs(tools), None) if tools else 0


def prefix_counts(messages: Sequence[Message], tools: Sequence[ToolSpec]) -> tuple[int, ...]:
    """Prompt tokens of every prefix of a request: k = 0 (the generation prompt and tool
    definitions) to len(messages); the last is the request's prompt_tokens."""
    specs = _specs(tools) if tools else ""
    total = _frame().generation + (_tools_turn(specs, None) if tools else 0)
    counts = [total]
    for share in _shares(messages, specs):
        total += share
        counts.append(total)
    return tuple(counts)


def prompt_tokens(messages: Sequence[Message], tools: Sequence[ToolSpec]) -> int:
    """Input tokens of a whole request: its chat template rendered and counted."""
    return prefix_counts(messages, tools)[-1]


def stream_pieces(text: str, rng: random.Random) -> Iterator[str]:
    """A stream's fragments of `text`: one to four tokens each (more where a character spans
    tokens: a fragment is never a piece of a character); the last carries the rest."""
    ends = _memo().ends(text)
    last = len(ends) - 1  # the last token's end is never a cut: the rest goes out after
    getrandbits = rng.getrandbits
    start = 0
    at = -1  # (before the first token)
    # Token by token, a cut falls randint(1, 4) tokens after the previous one, or at the first
    # token after that which ends past it (a character spanning tokens repeats an end): so
    # the walk jumps from cut to cut.
    while ends:
        # randint(rng, 1, 4), drawn as seeds.randint draws it (4 numbers: 3 bits, drawn again
        # when past them), inline: a call a piece would cost more than the drawing
        step = getrandbits(3)
        while step >= 4:
            step = getrandbits(3)
        at += step + 1
        while at < last and ends[at] <= start:
            at += 1
        if at >= last:
            break
        yield text[start : ends[at]]
        start = ends[at]
    if start < len(text):
        yield text[start:]


# ---- the chat template ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Frame:
    """Counts of the template's fixed texts, by the counter in use."""

    newline: int  # "\n" after <|im_end|>, or between two tool calls or results
    generation: int  # <|im_start|>assistant\n
    tool_turn: int  # "user\n" that opens a turn of tool results


@functools.cache
def _frame() -> _Frame:
    counter_ = counter()
    return _Frame(
        newline=counter_.count("\n"),
        generation=SPECIAL + counter_.count("assistant\n"),
        tool_turn=counter_.count("user\n"),
    )


def _shares(messages: Sequence[Message], specs: str) -> Iterator[int]:
    last = len(messages) - 1
    for at, message in enumerate(messages):
        if at == 0 and specs and message.role == "system":
            # Qwen3's template writes a leading system message into the tools' system turn.
            joined = _tools_turn(specs, message.text) - _tools_turn(specs, None)
            yield joined + IMAGE_TOKENS * message.images
        elif message.role == "tool":
            first = at == 0 or messages[at - 1].role != "tool"
            closes = at == last or messages[at + 1].role != "tool"
            yield _tool_share(message, first, closes)
        else:
            yield message_tokens(message)


def _specs(tools: Sequence[ToolSpec]) -> str:
    """The tool definitions as the template lists them, one a line."""
    return "".join("\n" + _tool_json(tool) for tool in tools)


def _tools_turn(specs: str, system: str | None) -> int:
    """<|im_start|>system\\n[system\\n\\n]# Tools ... <tool_call>...</tool_call><|im_end|>\\n"""
    head = "system\n" + (system + "\n\n" if system is not None else "")
    text = head + TOOLS_INTRO + specs + TOOLS_OUTRO[0]
    fixed = count(TOOLS_OUTRO[1]) + count(TOOL_CALL_FORMAT) + _frame().newline
    return 6 * SPECIAL + count(text) + fixed


def _tool_json(tool: ToolSpec) -> str:
    """A definition as the template's `tool | tojson` writes it (json.dumps' default spacing)."""
    function: dict[str, Any] = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    function["parameters"] = tool.schema
    return json.dumps({"type": "function", "function": function}, ensure_ascii=False)


def _assistant_share(message: Message, frame: _Frame) -> int:
    calls = message.tool_calls
    opening = "assistant\n" + message.text + ("\n" if calls and message.text else "")
    total = 2 * SPECIAL + count(opening) + frame.newline + IMAGE_TOKENS * message.images
    for number, call in enumerate(calls):
        said = '\n{"name": "' + call.name + '", "arguments": ' + call.arguments + "}\n"
        total += 2 * SPECIAL + count(said) + (frame.newline if number else 0)
    return total


def _tool_share(message: Message, first: bool, last: bool) -> int:
    """A tool result: `<tool_response>\\n...\\n</tool_response>` in a user turn that
    consecutive results share; the first opens the turn, the last closes it."""
    frame = _frame()
    total = 2 * SPECIAL + count("\n" + message.text + "\n") + IMAGE_TOKENS * message.images
    total += SPECIAL + frame.tool_turn if first else frame.newline
    return total + (SPECIAL + frame.newline if last else 0)


# ---- remembered counts ------------------------------------------------------------------------


class _Memo:
    """Counts of recent texts: a pure function's results, bounded. Short texts are their own
    key, long ones a digest of theirs. The lock is for a test's thread counting while the
    server's thread does (the harness)."""

    def __init__(self, size: int, ids_size: int = IDS_SIZE) -> None:
        self.size = size
        self.ids_size = ids_size
        self._counts: OrderedDict[str | bytes, int] = OrderedDict()
        self._ids: OrderedDict[str | bytes, list[int]] = OrderedDict()
        self._lock = threading.Lock()

    def count(self, text: str) -> int:
        key = _key(text)
        with self._lock:
            known = self._counts.get(key)
            if known is not None:
                self._counts.move_to_end(key)
                return known
        counting = counter()
        ids = None
        if isinstance(counting, Bpe) and len(text) <= IDS_CHARS and _nfc(text):
            # (every generated answer) the ids Bpe.count would take, as the text is NFC:
            # kept for a stream that cuts it next (IDS_SIZE)
            ids = counting.ids(text)
            known = len(ids)
        else:
            known = counting.count(text)
        self._store(key, known, ids)
        return known

    def ends(self, text: str) -> list[int]:
        """counter().ends(text), from the text's ids when it was counted lately."""
        counting = counter()
        if isinstance(counting, Bpe):
            key = _key(text)
            with self._lock:
                ids = self._ids.get(key)
            if ids is not None:
                return counting.ends_of_ids(text, ids)
        return counting.ends(text)

    def remember(self, text: str, tokens: int) -> None:
        """`text` counts `tokens` (a caller that found out without counting)."""
        if _nfc(text):
            self._store(_key(text), tokens)

    def _store(self, key: str | bytes, tokens: int, ids: list[int] | None = None) -> None:
        with self._lock:
            self._counts[key] = tokens
            if len(self._counts) > self.size:
                self._counts.popitem(last=False)
            if ids is not None:
                self._ids[key] = ids
                if len(self._ids) > self.ids_size:
                    self._ids.popitem(last=False)


def _nfc(text: str) -> bool:
    """Whether `text` is counted as it is (a count normalises other text to NFC first)."""
    return text.isascii() or unicodedata.is_normalized("NFC", text)


def _key(text: str) -> str | bytes:
    if len(text) < MEMO_DIGEST:
        return text
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@functools.cache
def _memo() -> _Memo:
    return _Memo(MEMO_SIZE)
