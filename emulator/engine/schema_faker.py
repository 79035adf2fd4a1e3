"""Fake instances of a JSON Schema: tool-call arguments and `json_schema` answers that validate.

Covers what tool definitions use: type (and type lists), enum, const, properties, required,
additionalProperties, items / prefixItems, min/max items, lengths and bounds, multipleOf, format,
anyOf / oneOf (first usable branch), allOf (merged), $ref into $defs / definitions.
`pattern` cannot be satisfied in general: such strings are plain words (docs/fidelity.md).

Values are harmless when an agent that auto-approves runs the call: a shell command is an `echo`,
a file or directory is a relative path under SCRATCH_DIR, a URL or e-mail address is on
example.com, and numbers are small (1 to 100, or near the bound that rules that out) whatever
the bounds.

An instance is bounded in size and in work, whatever the schema asks: it stops growing once its
JSON would pass `budget` characters (`exhausted` says so; the engine sets the budget from the
model's maximum output), Faker is asked for at most FRESH_VALUES values (past that, values
already made are drawn again) and strings are padded word by word with at most PAD_WORDS words.
So a hostile schema costs milliseconds, and an ordinary one is generated exactly as before.
"""

from __future__ import annotations

import functools
import json
import math
import random
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faker import Faker


MAX_DEPTH = 6
# Caps so that a hostile or absurd schema (minItems 1e8, required self-references) can neither
# hang the server nor exhaust the stack; past them the instance no longer validates.
HARD_DEPTH = 32
MAX_NODES = 5000
MAX_ITEMS = 64
MAX_PROPERTIES = 64
MAX_STRING = 8192
# Past these, values are recycled and long strings repeated rather than drawn afresh: Faker's
# calls cost 5 to 200 microseconds each, and a schema may ask for thousands of values.
FRESH_VALUES = 256
PAD_WORDS = 1024
DEFAULT_BUDGET = 1 << 20  # characters of JSON, when the caller gives none
_EPOCH = datetime(2020, 1, 1)
_WINDOW_SECONDS = 10 * 365 * 86400

# Where every file or directory argument points: relative, so it lands in the agent's working
# directory, under a folder whose name says who made it.
SCRATCH_DIR = "token-plan-emulator-scratch"
# Numbers are drawn from a window this wide (_window): a `limit` in 0..2**63 is 37, not 4.6e18.
NUMBER_SPAN = 99

# Property names that suggest a kind of value, so arguments look like what a model would send
# and are harmless when run. A hint applies when the whole name (separators dropped) or its last
# word (snake_case, camelCase, kebab-case; a plural `s` dropped) is listed; first hint wins.
_NAME_HINTS: tuple[tuple[frozenset[str], str], ...] = tuple(
    (frozenset(words), hint)
    for words, hint in (
        (("url", "uri", "link", "href", "endpoint", "website"), "url"),
        (("email",), "email"),
        (("command", "cmd", "script", "shell", "bash"), "command"),
        (("glob", "pattern"), "glob"),
        (("dir", "directory", "folder", "cwd", "workdir", "dirname", "dirpath"), "dir"),
        (("path", "filepath", "filename", "file", "notebookpath", "targetfile"), "path"),
        (("city", "location", "place"), "city"),
        (("name", "title"), "name"),
        (("query", "search", "q", "prompt", "question"), "query"),
        (("date",), "date"),
        (("id", "uuid"), "uuid"),
    )
)
_TIMEOUT = re.compile(r"timeout", re.IGNORECASE)
_MILLISECONDS = re.compile(r"(ms|millis)", re.IGNORECASE)
_RISKY_FLAG = re.compile(
    r"danger|unsafe|force|background|overwrite|delete|remove|recursive|disable|bypass|skip|"
    r"sudo|yolo|no_?verify|allow",
    re.IGNORECASE,
)
# A property's description, when its name says nothing: what would be run or written.
_DESCRIPTION_HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(shell|command|bash)\b", re.IGNORECASE), "command"),
    (re.compile(r"\b(directory|folder)\b", re.IGNORECASE), "dir"),
    (re.compile(r"\b(path|file ?name)\b", re.IGNORECASE), "path"),
    (re.compile(r"\burls?\b", re.IGNORECASE), "url"),
)
# Formats whose instances are addresses or locations: the same harmless values.
_FORMAT_HINTS = {
    "uri": "url",
    "url": "url",
    "iri": "url",
    "uri-reference": "path",
    "iri-reference": "path",
    "path": "path",
    "file-path": "path",
    "email": "email",
    "idn-email": "email",
}


class SchemaFaker:
    def __init__(
        self, root: dict[str, Any], rng: random.Random, fake: Faker, budget: int = DEFAULT_BUDGET
    ) -> None:
        self.root = root
        self.rng = rng
        self.fake = fake
        self.nodes = 0  # instances and allOf parts made so far (MAX_NODES)
        self.nesting = 0  # instance() calls currently on the stack (HARD_DEPTH)
        self.budget = budget  # characters of JSON the instance may take
        self.spent = 0  # characters of JSON made so far (an estimate, never an underestimate)
        self.exhausted = False  # the budget ran out: the instance is smaller than asked
        self.fresh = FRESH_VALUES  # Faker values still to draw afresh
        self.pad_words = PAD_WORDS  # words still to pad strings with, one by one
        self._made: dict[str, list[str]] = {}  # Faker's values so far, by kind, to recycle
        self._sizes: dict[int, int] = {}  # JSON size of const and enum values, by id

    def instance(self, schema: Any = None, name: str = "", depth: int = 0) -> Any:
        self.nodes += 1
        if self.nesting > HARD_DEPTH or self.nodes > MAX_NODES:
            return None
        if self.spent >= self.budget:
            self.exhausted = True
            return None
        self.nesting += 1
        try:
            return self._instance(self.root if schema is None else schema, name, depth)
        finally:
            self.nesting -= 1

    def _left(self) -> int:
        """Characters of the budget still free."""
        return max(0, self.budget - self.spent)

    def _spend(self, value: Any) -> Any:
        """Count a finished value (containers count their brackets; items count themselves)."""
        if isinstance(value, str):
            self.spent += len(value) + 3  # quotes and a separator; escapes are rare
        elif isinstance(value, (dict, list)):
            self.spent += 2
        else:
            self.spent += 6
        return value

    def _given(self, value: Any) -> Any:
        """A value the schema gives (const, enum): counted whole, as it is written whole."""
        if isinstance(value, (dict, list, str)):
            size = self._sizes.get(id(value))
            if size is None:
                size = self._sizes[id(value)] = len(json.dumps(value, ensure_ascii=False))
            self.spent += size + 1
            return value
        return self._spend(value)

    def _instance(self, schema: Any, name: str, depth: int) -> Any:
        if not isinstance(schema, dict):
            return self._spend(self._word())  # `true` / `{}` schemas accept anything
        schema = self._resolve(schema)
        if "const" in schema:
            return self._given(schema["const"])
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self._given(self.rng.choice(schema["enum"]))
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                options = [
                    o
                    for o in schema[key]
                    if not (isinstance(o, dict) and _is_null(self._resolve(o)))
                ]
                return self.instance((options or schema[key])[0], name, depth)
        kind = self._type(schema)
        if kind == "object":
            return self._spend(self._object(schema, depth))
        if kind == "array":
            return self._spend(self._array(schema, name, depth))
        default = schema.get("default")
        if kind in ("integer", "number", "boolean") and _scalar(default):
            return self._spend(default)  # what an agent leaves unset: the tool's own default
        if kind in ("integer", "number") and _TIMEOUT.search(name):
            return self._spend(self._timeout(schema, name))
        if kind == "integer":
            return self._spend(self._integer(schema))
        if kind == "number":
            return self._spend(self._number(schema))
        if kind == "boolean":
            # A flag that widens what a tool may do (dangerouslyDisableSandbox,
            # run_in_background, force) stays off: a real agent may auto-approve the call.
            return self._spend(not _RISKY_FLAG.search(name) and self.rng.random() < 0.5)
        if kind == "null":
            return self._spend(None)
        return self._spend(self._string(schema, name))

    def _resolve(self, schema: dict[str, Any], nesting: int = 0) -> dict[str, Any]:
        seen = 0
        while isinstance(schema.get("$ref"), str) and seen < 16:
            target: Any = self.root
            for part in schema["$ref"].lstrip("#").strip("/").split("/"):
                target = target.get(part, {}) if part and isinstance(target, dict) else target
            target = target if isinstance(target, dict) else {}
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
            seen += 1
        if isinstance(schema.get("allOf"), list):
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                self.nodes += 1
                usable = isinstance(part, dict) and self.nodes <= MAX_NODES
                part = self._resolve(part, nesting + 1) if usable and nesting < 16 else {}
                merged["properties"] = {
                    **_dict(merged.get("properties")),
                    **_dict(part.get("properties")),
                }
                merged["required"] = [*_list(merged.get("required")), *_list(part.get("required"))]
                merged.update(
                    {k: v for k, v in part.items() if k not in ("properties", "required")}
                )
            schema = merged
        return schema

    def _type(self, schema: dict[str, Any]) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            usable = [k for k in kind if k != "null"]
            kind = usable[0] if usable else "null"
        if isinstance(kind, str):
            return kind
        if "properties" in schema or "required" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema:
            return "array"
        return "string"

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties = _dict(schema.get("properties"))
        required = [r for r in _list(schema.get("required")) if isinstance(r, str)]
        result: dict[str, Any] = {}
        for key, sub in properties.items():
            wanted = key in required or (depth < MAX_DEPTH and self.rng.random() < 0.5)
            if wanted:
                if not self._room_for(key):
                    return result
                result[key] = self.instance(sub, key, depth + 1)
        for key in required:
            if key not in result:  # required but not described: any value will do
                if not self._room_for(key):
                    return result
                result[key] = self._spend(self._word())
        minimum = _count(schema.get("minProperties"), 0, MAX_PROPERTIES)
        extra = schema.get("additionalProperties", True)
        while len(result) < minimum and extra is not False and self.nodes <= MAX_NODES:
            key = f"{self._word()}_{len(result)}"
            if not self._room_for(key):
                return result
            result[key] = self.instance(
                extra if isinstance(extra, dict) else {"type": "string"}, "", depth + 1
            )
        return result

    def _room_for(self, key: str) -> bool:
        """Whether another property fits the budget; counts its key when it does."""
        if self.spent >= self.budget:
            self.exhausted = True
            return False
        self.spent += len(key) + 4  # quotes, colon, separator
        return True

    def _array(self, schema: dict[str, Any], name: str, depth: int) -> list[Any]:
        prefix = _list(schema.get("prefixItems"))
        low = _count(schema.get("minItems"), 0 if depth >= MAX_DEPTH else 1, MAX_ITEMS)
        high = _count(schema.get("maxItems"), max(low, 3), MAX_ITEMS)
        size = max(low, min(high, self.rng.randint(low, max(low, min(high, 3)))))
        items = schema.get("items", {})
        out: list[Any] = []
        for index in range(size):
            if self.nodes > MAX_NODES:
                break
            if self.spent >= self.budget:
                self.exhausted = True
                break
            sub = prefix[index] if index < len(prefix) else items
            value = self.instance(sub, name, depth + 1)
            if schema.get("uniqueItems"):
                for _ in range(8):
                    if value not in out:
                        break
                    value = self.instance(sub, name, depth + 1)
                if value in out:
                    break
            out.append(value)
        return out

    def _bounds(self, schema: dict[str, Any]) -> tuple[float, float]:
        """The schema's bounds (infinite where it gives none), exclusive ones just inside."""
        low, high = -math.inf, math.inf
        minimum, maximum = _finite(schema.get("minimum")), _finite(schema.get("maximum"))
        exclusive_min = _finite(schema.get("exclusiveMinimum"))
        exclusive_max = _finite(schema.get("exclusiveMaximum"))
        if minimum is not None:
            low = minimum
        if exclusive_min is not None:
            low = exclusive_min + 1e-9
        if maximum is not None:
            high = maximum
        if exclusive_max is not None:
            high = exclusive_max - 1e-9
        if high < low:  # contradictory: no instance validates, so stay near the lower bound
            high = low + NUMBER_SPAN
        return low, high

    def _integer(self, schema: dict[str, Any]) -> int:
        low, high = self._bounds(schema)
        window = _window(low, high)
        step = schema.get("multipleOf")
        if isinstance(step, int) and not isinstance(step, bool) and step > 0:
            return step * _multiple(step, (low, high), window, self.rng)
        lo, hi = math.ceil(window[0]), math.floor(window[1])
        return self.rng.randint(lo, max(lo, hi))

    def _timeout(self, schema: dict[str, Any], name: str) -> int | float:
        """Two minutes, in the unit the name suggests, within the schema's bounds: a tiny
        timeout would kill the command it guards."""
        low, high = self._bounds(schema)
        wanted: float = 120_000 if _MILLISECONDS.search(name) else 120
        wanted = min(max(wanted, low), high)
        whole = math.ceil(wanted)
        return whole if whole <= high else wanted

    def _number(self, schema: dict[str, Any]) -> float | int:
        step = schema.get("multipleOf")
        low, high = self._bounds(schema)
        window = _window(low, high)
        if (
            isinstance(step, (int, float))
            and not isinstance(step, bool)
            and step > 0
            and all(math.isfinite(edge / step) for edge in window)
        ):
            return step * _multiple(step, (low, high), window, self.rng)
        lo, hi = math.ceil(window[0]), math.floor(window[1])
        if hi - lo >= 10:  # a wide range (counts, sizes, milliseconds): a whole number, as
            return self.rng.randint(lo, hi)  # a model writes one and tools that parse ints need
        value = round(self.rng.uniform(*window), 2)
        return min(max(value, low), high)

    def _string(self, schema: dict[str, Any], name: str) -> str:
        fmt = schema.get("format")
        text = self._formatted(fmt) if isinstance(fmt, str) else None
        if text is None:
            description = schema.get("description")
            text = self._hinted(name, description if isinstance(description, str) else "")
        low = _count(schema.get("minLength"), 0, MAX_STRING)
        high = _count(schema.get("maxLength"), 10_000, 10_000)
        if low > self._left():  # past the budget a string is cut short (and no longer valid)
            self.exhausted = True
            low = high = min(high, self._left())
        # Paths and addresses grow by "-word", so a padded path is still one relative path.
        glue = "-" if text.startswith((SCRATCH_DIR, "https://")) else " "
        for _ in range(64):
            if len(text) >= low or self.pad_words <= 0:
                break
            self.pad_words -= 1
            text += glue + self._word()
        if len(text) < low:  # a long minLength: repeat what is there rather than word by word
            text += (glue + text) * (1 + (low - len(text)) // (len(text) + 1))
        if len(text) > high:
            text = text[:high].rstrip() or text[:high]
        return text[:high] if len(text) < low else text

    def _formatted(self, fmt: str) -> str | None:
        if fmt in _FORMAT_HINTS:
            return self._hint(_FORMAT_HINTS[fmt])
        fake = self.fake
        formats = {
            "date-time": lambda: self._moment().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "date": lambda: self._moment().strftime("%Y-%m-%d"),
            "time": lambda: self._moment().strftime("%H:%M:%S"),
            "uuid": lambda: self._faked("uuid", fake.uuid4),
            # Documentation addresses (RFC 5737, RFC 3849) and names (RFC 2606): nobody's host.
            "ipv4": lambda: f"192.0.2.{self.rng.randint(1, 254)}",
            "ipv6": lambda: f"2001:db8::{self.rng.randint(1, 0xFFFF):x}",
            "hostname": lambda: f"{self._word()}.example.com",
        }
        make = formats.get(fmt)
        return str(make()) if make else None

    def _hinted(self, name: str, description: str = "") -> str:
        hint = _hint_of(name, description)
        if hint is not None:
            return self._hint(hint)
        return self._faked("sentence4", lambda: self.fake.sentence(nb_words=4)).rstrip(".")

    def _hint(self, hint: str) -> str:
        fake = self.fake
        if hint == "url":
            return f"https://example.com/{self._word()}"
        if hint == "email":
            return self._faked("email", fake.safe_email)
        if hint == "command":
            return "echo " + " ".join(self._word() for _ in range(self.rng.randint(2, 4)))
        if hint == "path":
            return f"{SCRATCH_DIR}/notes-{self._word()}.txt"
        if hint == "dir":
            return SCRATCH_DIR if self.rng.random() < 0.5 else f"{SCRATCH_DIR}/{self._word()}"
        if hint == "glob":
            return f"{SCRATCH_DIR}/*.txt"
        if hint == "city":
            return self._faked("city", fake.city)
        if hint == "name":
            return self._faked("name", fake.name)
        if hint == "date":
            return self._moment().strftime("%Y-%m-%d")
        if hint == "uuid":
            return self._faked("uuid", fake.uuid4)
        return self._faked("sentence3", lambda: fake.sentence(nb_words=3)).rstrip(".")

    def _moment(self) -> datetime:
        # Faker's own dates range up to "now"; a fixed window keeps output independent of time.
        return _EPOCH + timedelta(seconds=self.rng.randrange(_WINDOW_SECONDS))

    def _word(self) -> str:
        return self._faked("word", self.fake.word)

    def _faked(self, kind: str, make: Callable[[], Any]) -> str:
        """A value from Faker, or past FRESH_VALUES one of this kind made before (drawn with
        the same seeded source, so still deterministic)."""
        made = self._made.setdefault(kind, [])
        if self.fresh <= 0 and made:
            return self.rng.choice(made)
        self.fresh -= 1
        value = str(make())
        made.append(value)
        return value


@functools.lru_cache(maxsize=1024)
def _hint_of(name: str, description: str) -> str | None:
    """The kind of value a property's name (else its description) suggests, if any."""
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
    parts = [p for p in re.split(r"[^a-z0-9]+", words) if p]
    if parts:
        last = parts[-1]
        keys = {"".join(parts), last, last[:-1] if last.endswith("s") else last}
        for listed, hint in _NAME_HINTS:
            if keys & listed:
                return hint
    for pattern, hint in _DESCRIPTION_HINTS:
        if pattern.search(description):
            return hint
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _finite(value: Any) -> float | None:
    """A schema bound as a float, or None when it is absent or not a finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float range
        return None
    return number if math.isfinite(number) else None


def _window(low: float, high: float) -> tuple[float, float]:
    """Where in [low, high] to draw a number, so values stay small and realistic however wide
    the bounds: NUMBER_SPAN up from 1 (or from `low` above 1); where `high` cuts that short, up
    to NUMBER_SPAN below `high`, not below 0 unless `high` is."""
    start = max(1.0, low)
    if start + NUMBER_SPAN <= high:
        return start, start + NUMBER_SPAN
    floor = max(high - NUMBER_SPAN, 0.0) if high >= 0 else high - NUMBER_SPAN
    return max(low, floor), high


def _multiple(
    step: float, bounds: tuple[float, float], window: tuple[float, float], rng: random.Random
) -> int:
    """k such that k * step lies in the window, else the nearest such k within the bounds."""
    first, last = math.ceil(window[0] / step), math.floor(window[1] / step)
    if first <= last:
        return rng.randint(first, last)
    if first * step <= bounds[1]:
        return first
    return last if last * step >= bounds[0] else first  # no multiple in bounds: none validates


def _count(value: Any, default: int, cap: int) -> int:
    """A schema count (minItems, minLength, ...) as an int in [0, cap]; `default` if unusable."""
    number = _finite(value)
    if number is None:
        return default
    return max(0, min(int(number), cap))


def _is_null(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null"


def _scalar(value: Any) -> bool:
    return isinstance(value, (bool, int, float)) and not (
        isinstance(value, float) and not math.isfinite(value)
    )
