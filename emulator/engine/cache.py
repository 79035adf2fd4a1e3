"""The context cache (docs/sources.md): how much of a prompt was already cached, deterministically.

A prompt is read as a chain of prefixes with a boundary after the tool definitions and after
every neutral message, in order (tools, then system, then the conversation). Prefix `k` is the
tools plus the first `k` messages and counts `tokens.prefix_counts(messages, tools)[k]` tokens,
request framing included (`tokens.prompt_tokens(messages[:k], tools)` too, unless prefix k ends
inside a run of tool results, whose turn closes after its last), so a test can compute a hit
with the token counter alone.

Two modes, exclusive per request (explicit wins when any `cache_control` marker is present):

* Implicit: the longest prefix, ending before the last message, that an earlier request of the
  same scope and model stored is read from the cache, if it has at least 256 tokens. The last
  message is never served from the cache (the real service always computes the tail of the
  prompt). Every implicit request then stores all its prefixes of 256 tokens or more.
* Explicit: every marked boundary is a cache block. At each marker the cache looks back up to 20
  boundaries for the longest block already cached (read, TTL refreshed); the blocks after it, up
  to the last marker, are created if the last marker's prefix has at least 1,024 tokens:
  `created = tokens up to the last marker - read` (the doc's "cache from the start of messages
  to the marker", with the read part not counted twice). Tokens after the last marker are plain
  input. Observed DashScope usage shows both counters non-zero in one request.

Entries live `TTL_SECONDS` of emulator-clock time after their last store or hit; the caller
passes `now` (the request's arrival time), this module never reads a clock. Implicit and
explicit entries are kept apart, and every key carries a scope (the caller's account) and the
model, so a prefix only hits for the same account and model. Memory is bounded: at most
`max_entries` entries, least recently used evicted first. No HTTP and no Credits here.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from emulator.engine import tokens
from emulator.engine.types import ChatRequest, Message, ToolSpec, record

Mode = Literal["implicit", "explicit"]

IMPLICIT_MIN_TOKENS = 256  # docs/sources.md
EXPLICIT_MIN_TOKENS = 1024  # docs/sources.md
TTL_SECONDS = 300.0  # explicit: documented (reset on hit); implicit: assumed (docs/fidelity.md)
LOOKBACK = 20  # boundaries searched back from each marker (the docs say 20 content blocks)
MAX_ENTRIES = 20_000

_Key = tuple[str, str, Mode, bytes]


@dataclass(frozen=True)
class CacheUse:
    """What the cache did for one request: prompt tokens read from it and written to it."""

    mode: Mode
    read: int = 0
    created: int = 0  # explicit mode only; implicit storing is free, as documented


@record  # (one a request: types.py's record)
class Prompt:
    """A request's prompt as the cache reads it: every prefix's tokens, the boundaries that end
    on a marker and, only when the cache needs them, every prefix's digest. Built once per
    request; its `tokens` is the request's prompt_tokens, so the server need not count twice."""

    model: str
    counts: tuple[int, ...]  # prompt tokens of prefix k = 0 (tools only) .. len(messages)
    markers: tuple[int, ...]  # boundaries ending on a `cache_control` marker, in order
    messages: Sequence[Message] = field(repr=False)
    tools: Sequence[ToolSpec] = field(repr=False)

    @classmethod
    def of(cls, request: ChatRequest) -> Prompt:
        return cls(
            request.model.id,
            tokens.prefix_counts(request.messages, request.tools),
            _markers(request.messages, request.tools),
            request.messages,
            request.tools,
        )

    @property
    def tokens(self) -> int:
        return self.counts[-1]

    @property
    def cacheable(self) -> bool:
        """Whether any prefix can hit or be stored: a marker, or enough tokens for implicit."""
        return bool(self.markers) or self.tokens >= IMPLICIT_MIN_TOKENS

    def bounds(self) -> tuple[tuple[int, bytes], ...]:
        """(prompt tokens, content digest) of every prefix (asked only when the cache needs
        them: most prompts are too small to cache)."""
        return tuple(zip(self.counts, _digests(self.messages, self.tools), strict=True))


_UNCACHEABLE = CacheUse("implicit")  # (frozen: shared by every prompt too small to cache)


class ContextCache:
    """Prompt prefixes seen, per (scope, model, mode), with the time each was last used."""

    def __init__(self, max_entries: int = MAX_ENTRIES, ttl: float = TTL_SECONDS) -> None:
        self.max_entries = max_entries
        self.ttl = ttl
        self._entries: OrderedDict[_Key, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def use(self, scope: str, prompt: Prompt, now: float) -> CacheUse:
        """Look the prompt up, store what it caches, and say how many tokens hit."""
        if not prompt.cacheable:  # most small requests: no hashing at all
            return _UNCACHEABLE
        if prompt.markers:
            return self._explicit(scope, prompt.model, prompt.bounds(), prompt.markers, now)
        return self._implicit(scope, prompt.model, prompt.bounds(), now)

    # ---- modes ------------------------------------------------------------------------------

    def _implicit(
        self, scope: str, model: str, bounds: Sequence[tuple[int, bytes]], now: float
    ) -> CacheUse:
        read = 0
        # Longest first, leaving out the whole prompt (the last message is always computed);
        # prefix sizes only grow with k, so the first one under the minimum ends the search.
        for count, digest in reversed(bounds[:-1]):
            if count < IMPLICIT_MIN_TOKENS:
                break
            if self._fresh((scope, model, "implicit", digest), now):
                read = count
                break
        for count, digest in bounds:
            if count >= IMPLICIT_MIN_TOKENS:
                self._touch((scope, model, "implicit", digest), now)
        return CacheUse("implicit", read=read)

    def _explicit(
        self,
        scope: str,
        model: str,
        bounds: Sequence[tuple[int, bytes]],
        markers: Sequence[int],
        now: float,
    ) -> CacheUse:
        window = sorted(
            {k for m in markers for k in range(max(m - LOOKBACK, 0), m + 1)}, reverse=True
        )
        hit = next(
            (k for k in window if self._fresh((scope, model, "explicit", bounds[k][1]), now)),
            None,
        )
        read = bounds[hit][0] if hit is not None else 0
        if hit is not None:
            self._touch((scope, model, "explicit", bounds[hit][1]), now)
        target = bounds[markers[-1]][0]
        if target < EXPLICIT_MIN_TOKENS or (hit is not None and hit >= markers[-1]):
            return CacheUse("explicit", read=read)
        for m in markers:
            if (hit is None or m > hit) and bounds[m][0] >= EXPLICIT_MIN_TOKENS:
                self._touch((scope, model, "explicit", bounds[m][1]), now)
        return CacheUse("explicit", read=read, created=target - read)

    # ---- entries ----------------------------------------------------------------------------

    def _fresh(self, key: _Key, now: float) -> bool:
        seen = self._entries.get(key)
        if seen is None:
            return False
        if now - seen > self.ttl:
            del self._entries[key]
            return False
        return True

    def _touch(self, key: _Key, now: float) -> None:
        self._entries[key] = now
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


def _digests(messages: Sequence[Message], tools: Sequence[ToolSpec]) -> list[bytes]:
    """The content digest of every prefix. It chains, so equal digests mean equal prefixes
    (tools and every message so far)."""
    specs = [[t.name, t.description, t.schema] for t in tools]
    # Keys in the order sent: the real cache works on tokens, so a reordered schema misses.
    digest = _digest(b"tools", json.dumps(specs, ensure_ascii=False))
    digests = [digest]
    for message in messages:
        calls = [[c.id, c.name, c.arguments] for c in message.tool_calls]
        # Images are known only by number, so two prompts differing only in an image's bytes
        # share a prefix here (documented in docs/fidelity.md).
        shape = [message.role, message.text, calls, message.tool_call_id, message.images]
        digest = _digest(digest, json.dumps(shape, ensure_ascii=False))
        digests.append(digest)
    return digests


def _markers(messages: Sequence[Message], tools: Sequence[ToolSpec]) -> tuple[int, ...]:
    """Boundaries that end on a `cache_control` marker, in order."""
    found = [0] if tools and any(t.cache_marked for t in tools) else []
    for k, message in enumerate(messages, start=1):  # (a loop: usually none is marked)
        if message.cache_marked:
            found.append(k)
    return tuple(found)


def _digest(previous: bytes, text: str) -> bytes:
    return hashlib.blake2b(
        previous + text.encode("utf-8", "surrogatepass"), digest_size=16
    ).digest()
