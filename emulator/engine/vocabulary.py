"""Qwen's BPE vocabulary, loaded once on first use: raw text to tokens as the official tooling
counts them (docs/tokens.md).

`emulator/data/qwen.tiktoken` is the vocabulary the DashScope SDK ships (`dashscope/resources/
qwen.tiktoken`, Apache-2.0, notice beside it) and reads with `tiktoken`; `dashscope.get_tokenizer`
serves it for every Qwen model id. The pre-tokenizer pattern and the Unicode NFC normalisation
are the SDK's too, and so is its split of texts over 100,000 characters (tiktoken's regex runs out
of stack on a million spaces), so counts agree exactly (tests/test_tokens.py). Special tokens
written in a user's text (`<|im_start|>`, `<|endoftext|>`, ...) are plain text here: the SDK's
`encode` would read them as specials by default, a service does not let a user inject them.

Without `tiktoken` or the file the emulator still runs, on the documented heuristic
(`heuristic.py`), and says so once on its log.
"""

from __future__ import annotations

import binascii
import functools
import itertools
import logging
import os
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Protocol

from emulator.engine import heuristic

if TYPE_CHECKING:
    import tiktoken

log = logging.getLogger("emulator")

# Qwen's pre-tokenizer (the DashScope SDK's PAT_STR, Qwen2's tokenizer.json alike).
PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
VOCABULARY_FILE = "qwen.tiktoken"
TOKENIZER_ENV = "TOKEN_PLAN_EMULATOR_TOKENIZER"  # "qwen" (the default) or "heuristic"
CHUNK = 100_000  # characters the SDK encodes at a time (its _CHUNK_SIZE)
_CONTINUATION = bytes(range(0x80, 0xC0))  # UTF-8 bytes that do not start a character


class Counter(Protocol):
    """What the rest of the engine needs from a tokenizer."""

    @property
    def name(self) -> str:
        """Which counter this is: "qwen" or "heuristic"."""
        ...

    def count(self, text: str) -> int:
        """Tokens in `text`."""
        ...

    def ends(self, text: str) -> list[int]:
        """Where each token of `text` ends, as character offsets, one per token, in order. A
        token that ends inside a character (BPE splits some emoji and rare CJK characters into
        byte pieces) ends at that character's start, so every offset is a character boundary."""
        ...

    def cut(self, text: str, cap: int) -> tuple[int, int | None]:
        """Tokens in `text`, and where its first `cap` tokens end (as `ends` would say) when
        it has more, else None."""
        ...


@dataclass(frozen=True)
class Bpe:
    """The Qwen BPE: a tiktoken encoding plus, per token id, what it needs to map token ends
    to character offsets without decoding."""

    encoding: tiktoken.Encoding = field(repr=False)
    # Per token id: how many characters it starts (its bytes that are not continuations); and
    # the ids that start with a continuation byte, so the token before them ends mid-character.
    starts: tuple[int, ...] = field(repr=False)
    continuing: frozenset[int] = field(repr=False)
    name: str = "qwen"

    def ids(self, text: str) -> list[int]:
        """Token ids of `text`, special-token spellings as plain text."""
        if len(text) <= CHUNK:
            return self.encoding.encode_ordinary(text)
        ids: list[int] = []
        for chunk in _chunks(text):
            ids += self.encoding.encode_ordinary(chunk)
        return ids

    def count(self, text: str) -> int:
        if not text.isascii():
            text = unicodedata.normalize("NFC", text)
        return len(self.ids(text))

    def ends(self, text: str) -> list[int]:
        # Offsets refer to `text` as given: generated text is NFC already, and a scripted text
        # that is not is cut on its own code points.
        return self.ends_of_ids(text, self.ids(text))

    def ends_of_ids(self, text: str, ids: list[int]) -> list[int]:
        """`ends(text)` from `ids(text)`, without encoding it again."""
        starts, continuing = self.starts, self.continuing
        if text.isascii():  # (the usual answer) a token then starts as many characters as it
            # has bytes, none of them a continuation: the ends are the running sums
            return list(itertools.accumulate(map(starts.__getitem__, ids)))
        ends: list[int] = []
        at = 0  # characters started so far
        for token in ids:
            if ends and token in continuing:  # the token before ended inside a character
                ends[-1] = at - 1
            at += starts[token]
            ends.append(at)
        return ends

    def cut(self, text: str, cap: int) -> tuple[int, int | None]:
        ids = self.ids(text)
        if len(ids) <= cap:
            return len(ids), None
        # Decoding drops a character the last token leaves unfinished: the end falls before it.
        kept = self.encoding.decode_bytes(ids[:cap])
        return len(ids), len(kept) if text.isascii() else len(kept.decode("utf-8", "ignore"))


def _chunks(text: str) -> list[str]:
    """The SDK's split of a long text (QwenTokenizer._split_text): at line starts, lines
    gathered up to CHUNK characters, a longer line in CHUNK-character pieces."""
    parts: list[str] = []
    for number, line in enumerate(text.split("\n")):
        piece = line if number == 0 else "\n" + line
        if len(piece) <= CHUNK:
            parts.append(piece)
        else:
            parts += [piece[at : at + CHUNK] for at in range(0, len(piece), CHUNK)]
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for part in parts:
        if size + len(part) <= CHUNK:
            current.append(part)
            size += len(part)
        else:
            if current:
                chunks.append("".join(current))
            current, size = [part], len(part)
    if current:
        chunks.append("".join(current))
    return chunks


def load_bpe(data: bytes) -> Bpe:
    """The encoding of a `.tiktoken` file's bytes: one `base64 rank` line per token, ranks in
    order from 0, so a rank is the line's number. The shipped file's bytes are pinned by a test
    (sha256 equal to the SDK's), so only its last rank is checked here: every line costs time
    on the first count."""
    import tiktoken

    lines = data.splitlines()
    if not lines or lines[-1].rpartition(b" ")[2] != b"%d" % (len(lines) - 1):
        raise ValueError("the vocabulary's ranks are not 0, 1, 2, ...")
    tokens = [binascii.a2b_base64(line.partition(b" ")[0]) for line in lines]
    encoding = tiktoken.Encoding(
        "qwen",
        pat_str=PATTERN,
        mergeable_ranks=dict(zip(tokens, range(len(tokens)), strict=True)),
        special_tokens={},
    )
    starts = tuple(len(token.translate(None, _CONTINUATION)) for token in tokens)
    continuing = frozenset(rank for rank, token in enumerate(tokens) if 0x80 <= token[0] < 0xC0)
    return Bpe(encoding, starts, continuing)


@functools.cache
def counter() -> Counter:
    """The counter every count goes through: the Qwen BPE, or the heuristic where it cannot
    be loaded (or where TOKENIZER_ENV says `heuristic`: bench/inprocess.py compares the two).
    Loaded on first use (about 0.2 s), so start-up does not wait for it."""
    if os.environ.get(TOKENIZER_ENV, "qwen") == "heuristic":
        return heuristic.COUNTER
    try:
        data = resources.files("emulator").joinpath("data", VOCABULARY_FILE).read_bytes()
        return load_bpe(data)
    except (ImportError, OSError, ValueError) as exc:
        log.warning("token counts use the heuristic of docs/fidelity.md: %s", exc)
        return heuristic.COUNTER
