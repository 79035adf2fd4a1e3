"""Typed, bounded reads of the admin API's inputs: a JSON body's fields and the URL's query.

Every value the admin API takes has a documented range (docs/reliability.md); anything outside
it is refused here with a PlanError (400 and a message naming the field and its range), so
nothing a caller sends reaches the clock, the calendar, the journal or a state file unchecked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from emulator.numerals import ascii_int
from emulator.plan.clock import WINDOW, in_window, parse_instant, parse_step
from emulator.plan.ledger import PlanError

MAX_NAME_CHARS = 64  # a member's name (a RAM user's name is at most 64 characters)


@dataclass(frozen=True)
class Body:
    """An admin call's JSON object, read field by field; unknown fields are refused so a typo
    (`{"advnce": "+1d"}`) is not silently a no-op."""

    fields: dict[str, Any]

    @classmethod
    def parse(cls, raw: bytes, known: tuple[str, ...] = ()) -> Body:
        if not raw.strip():
            return cls({})
        try:
            value = json.loads(raw)
        except RecursionError:  # the parser gives up on deep nesting; no admin body nests
            raise PlanError("the body must be a JSON object of fields, not nested") from None
        except ValueError:  # UnicodeDecodeError is one
            raise PlanError("the body must be JSON") from None
        if not isinstance(value, dict):
            raise PlanError("the body must be a JSON object")
        unknown = [name for name in value if name not in known]
        if unknown:
            expected = ", ".join(known) if known else "none"
            raise PlanError(f"unknown field {shown(unknown[0])} (expected: {expected})")
        return cls(value)

    def flag(self, name: str, default: bool) -> bool:
        value = self.fields.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise PlanError(f"{name} must be true or false")
        return value

    def whole(self, name: str, low: int, high: int, default: int | None = None) -> int | None:
        """A whole number in [low, high] (not a bool, not 2.0)."""
        value = self.fields.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise PlanError(f"{name} must be a whole number from {low} to {high}")
        return value

    def credits(self, name: str, high: float) -> float | None:
        """A required number of Credits in [0, high], or null (None)."""
        if name not in self.fields:
            raise PlanError(f"{name} is required: Credits from 0 to {high:g}, or null")
        value = self.fields[name]
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high:
            raise PlanError(f"{name} must be Credits from 0 to {high:g}, or null")
        return float(value)

    def choice(self, name: str, choices: tuple[str, ...], default: str | None = None) -> str | None:
        value = self.fields.get(name)
        if value is None:
            return default
        if not isinstance(value, str) or value not in choices:
            raise PlanError(f"{name} must be one of {', '.join(choices)}")
        return value

    def name(self, field: str, most: int = MAX_NAME_CHARS) -> str | None:
        """A name (a member, a scenario): 1 to `most` printable characters, not starting or
        ending with a space. Printable excludes control characters and lone surrogates, which
        could not be written to the journal, the page or a state file."""
        value = self.fields.get(field)
        if value is None:
            return None
        if (
            not isinstance(value, str)
            or not 0 < len(value) <= most
            or not value.isprintable()
            or value != value.strip()
        ):
            raise PlanError(
                f"{field} must be 1 to {most} printable characters without leading or "
                "trailing spaces"
            )
        return value

    def instant(self, name: str) -> float | None:
        """An ISO-8601 instant inside the emulator's calendar (plan/clock.py's window)."""
        value = self.fields.get(name)
        if value is None:
            return None
        try:
            return parse_instant(value)
        except ValueError as exc:
            raise PlanError(f"{name}: {exc}") from None

    def step(self, name: str, now: float) -> float | None:
        """A clock step forward whose result stays inside the calendar's window."""
        value = self.fields.get(name)
        if value is None:
            return None
        try:
            seconds = parse_step(value)
        except ValueError as exc:
            raise PlanError(f"{name}: {exc}") from None
        if not in_window(now + seconds):
            raise PlanError(f"{name}: {value!r} would move the clock outside {WINDOW}")
        return seconds


def query_whole(query: Mapping[str, str], name: str, low: int, high: int, default: int) -> int:
    """A query parameter as a whole number in [low, high], in ASCII digits only."""
    text = query.get(name)
    if text is None:
        return default
    value = ascii_int(text, len(str(high)))
    if value is None or not low <= value <= high:
        raise PlanError(f"{name} must be a whole number from {low} to {high}")
    return value


def query_choice(
    query: Mapping[str, str], name: str, choices: tuple[str, ...], default: str
) -> str:
    text = query.get(name, default)
    if text not in choices:
        raise PlanError(f"{name} must be {', '.join(choices[:-1])} or {choices[-1]}")
    return text


def shown(value: object) -> str:
    """A value for a message: its repr, cut so a megabyte of input is not echoed back."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
