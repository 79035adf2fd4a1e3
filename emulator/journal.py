"""The request journal: what each request was, how it was answered and what it cost (bounded)."""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from emulator.plan.calendar import iso
from emulator.plan.credits import credits

DEFAULT_LIMIT = 10_000
BODY_LIMIT = 8 * 1024  # characters of a request / response body an entry keeps (usage page)
_RAW_LIMIT = BODY_LIMIT * 4  # bytes of a body read for its text: the most BODY_LIMIT can take
TEXT_LIMIT = 512  # characters of any other text from a request (path, model, ...) kept
# Shown only when this many characters of a key stay hidden besides: a short key never shows.
_HIDDEN_AT_LEAST = 12
_KEY_PREFIXES = ("sk-sp-", "sk-")


def safe_text(value: str, limit: int = TEXT_LIMIT) -> str:
    """Text a client supplied, made safe to keep, show and save: valid Unicode (a lone
    surrogate, which aiohttp makes of a non-UTF-8 header byte and JSON allows as an escape,
    becomes U+FFFD; UTF-8 cannot encode it) and at most `limit` characters."""
    if not value.isascii():
        value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value if len(value) <= limit else value[:limit] + "…[truncated]"


# Remembered: a server sees the same few keys again and again (bounded: any text may come in).
@functools.lru_cache(maxsize=256)
def mask(key: str | None) -> str | None:
    """A key as the console shows it after creation: `sk-sp-****` and the last four, which
    are left out of a key too short to hide enough of (never a whole key, whatever it is)."""
    if not key:
        return None
    key = safe_text(key)
    prefix = next((p for p in _KEY_PREFIXES if key.startswith(p)), "")
    secret = key[len(prefix) :]
    tail = secret[-4:] if len(secret) >= 4 + _HIDDEN_AT_LEAST else ""
    return f"{prefix}****{tail}"


@dataclass(slots=True)  # (one a request, and ten thousand kept: no dict each)
class Entry:
    request_id: str
    time: float
    method: str
    path: str
    plan: str | None = None
    protocol: str | None = None
    key: str | None = None  # masked
    member: str | None = None
    seat: str | None = None
    model: str | None = None
    stream: bool = False
    status: int = 0
    error: str | None = None  # the error kind's name
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    cost: int = 0  # micro-Credits the usage is worth
    charged: int = 0  # micro-Credits taken (less than cost only when the balance ran out)
    from_packs: tuple[tuple[str, int], ...] = ()  # (pack, micro-Credits taken from it)
    rule: str | None = None  # the scenario rule that answered
    # When no rule answered: the closest rules and the fields each did not match.
    near_misses: Sequence[tuple[str, list[str]]] = ()
    # For the usage page's row details, each cut to BODY_LIMIT; None when not kept (a stream).
    request_body: str | None = None
    response_body: str | None = None

    def to_json(self, bodies: bool = True) -> dict[str, Any]:
        body = asdict(self)
        if not bodies:
            del body["request_body"], body["response_body"]
        body["time"] = iso(self.time)
        body["cost"] = str(credits(self.cost))
        body["charged"] = str(credits(self.charged))
        body["from_packs"] = [[pack, str(credits(amount))] for pack, amount in self.from_packs]
        body["near_misses"] = [
            {"rule": rule, "unmatched": fields} for rule, fields in self.near_misses
        ]
        return body


def clip(raw: bytes | None) -> str | None:
    """A body as the journal keeps it: text, at most BODY_LIMIT characters."""
    if raw is None:
        return None
    if len(raw) <= BODY_LIMIT:  # (the usual body: its text is no longer than its bytes)
        return raw.decode("utf-8", "replace")
    text = raw[:_RAW_LIMIT].decode("utf-8", "replace")
    return text if len(text) <= BODY_LIMIT else text[:BODY_LIMIT] + "…[truncated]"


def _make_safe(entry: Entry) -> None:
    """Every text a client could have supplied in `entry` made safe (safe_text)."""
    entry.method, entry.path = safe_text(entry.method), safe_text(entry.path)
    for name in ("key", "member", "seat", "model", "error", "rule"):
        value = getattr(entry, name)
        if value is not None:
            setattr(entry, name, safe_text(value))


class Journal:
    """The newest `limit` requests, oldest first."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.entries: deque[Entry] = deque(maxlen=limit)
        # Entries ever recorded: numbers them, so a state file appends only the new ones.
        self.recorded = 0

    def record(self, entry: Entry) -> int:
        """Append `entry`, every text a client could have supplied in it made safe first (the
        journal, the usage page and the state file can then always render and save it); its
        number (1.., in the order recorded)."""
        texts = (
            entry.method,
            entry.path,
            entry.key,
            entry.member,
            entry.seat,
            entry.model,
            entry.error,
            entry.rule,
        )
        # safe_text changes only non-ASCII or long text, and the usual entry has neither: all
        # its texts together are short ASCII, one check in C instead of eight in Python.
        joined = "".join(filter(None, texts))
        if len(joined) > TEXT_LIMIT or not joined.isascii():
            _make_safe(entry)
        self.entries.append(entry)
        self.recorded += 1
        return self.recorded

    def clear(self) -> None:
        self.entries.clear()

    def newest(self, limit: int = 100, status: int | None = None) -> list[Entry]:
        found: list[Entry] = []
        for entry in reversed(self.entries):
            if status is None or entry.status == status:
                found.append(entry)
                if len(found) >= limit:
                    break
        return found
