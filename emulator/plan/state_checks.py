"""What a state file's rows must hold before the emulator serves them.

A row that SQLite reads without complaint can still hold what the code cannot serve: text where
an amount belongs (SQLite's columns take any type), a tier that does not exist, an instant past
the year 9999, a journal row that is not an entry. Served, each of these is a 500 on every
request that touches it; checked here, it is one clear line at start-up. Every check raises
BadRow with what is wrong and where.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from emulator.plan.coding_plan import QUOTAS
from emulator.plan.credits import TIER_CREDITS

# Instants the calendar can render and move by a month or a timezone without leaving
# datetime's years 1-9999 (a subscription's end, a pack's expiry, UTC+8 resets).
EARLIEST = datetime(2, 1, 1, tzinfo=timezone.utc).timestamp()
LATEST = datetime(9998, 1, 1, tzinfo=timezone.utc).timestamp()
DAY = 86400
INT64 = 2**63


class BadRow(ValueError):
    """A row the emulator cannot serve."""


Check = Callable[[Any], bool]


def integer(value: Any) -> bool:
    return type(value) is int and -INT64 <= value < INT64


def amount(value: Any) -> bool:
    """Micro-Credits, tokens, counts: a non-negative integer."""
    return integer(value) and value >= 0


def instant(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value) and EARLIEST <= value <= LATEST


def offset(value: Any) -> bool:
    """Seconds added to wall time: finite, and now plus it is an instant."""
    return type(value) in (int, float) and abs(value) <= LATEST - EARLIEST


def text(value: Any) -> bool:
    """A string that can be written out (UTF-8: no lone surrogates)."""
    if type(value) is not str:
        return False
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def optional(check: Check) -> Check:
    return lambda value: value is None or check(value)


def one_of(*choices: object) -> Check:
    return lambda value: type(value) is str and value in choices


def flag(value: Any) -> bool:
    return value in (0, 1) and type(value) in (int, bool)


def pairs(first: Check, second: Check) -> Check:
    """A list of two-element lists (JSON's tuples)."""

    def check(value: Any) -> bool:
        return type(value) is list and all(
            type(item) is list and len(item) == 2 and first(item[0]) and second(item[1])
            for item in value
        )

    return check


def texts(value: Any) -> bool:
    return type(value) is list and all(text(item) for item in value)


def status(value: Any) -> bool:
    return integer(value) and 0 <= value <= 999


def day(value: Any) -> bool:
    return integer(value) and instant(value * DAY)


def term(value: Any) -> bool:
    return integer(value) and 1 <= value <= 12 * 9000


PLAN: dict[str, Check] = {
    "scenario": text,
    "seed": text,
    "start": instant,
    "term_months": term,
    "generation": amount,
    "clock_frozen_at": optional(instant),
    "clock_offset": offset,
    "coding_key": text,
    "coding_tier": one_of(*QUOTAS),
    "coding_start": instant,
}
SEAT: dict[str, Check] = {
    "id": text,
    "position": integer,
    "tier": one_of(*TIER_CREDITS),
    "member": optional(text),
    "key": optional(text),
    "suspended": flag,
    "used": amount,
    "bonus": integer,  # negative after some upgrades (emulator/plan/ledger.py)
    "cycle": amount,
    "pack_limit": optional(amount),
    "pack_used": amount,
}
PACK: dict[str, Check] = {
    "id": text,
    "position": integer,
    "purchased_at": instant,
    "expires_at": instant,
    "size": amount,
    "used": amount,
}
KEYS: dict[str, Check] = {"member": text, "issued": amount}
USAGE: dict[str, Check] = {"day": day, "member": text, "model": text, "micro": amount}
CODING_CALL: dict[str, Check] = {"seq": amount, "time": instant}
# A journal entry's JSON; a field missing takes its default, an unknown one is ignored
# (emulator/plan/store.py), so only the fields present are checked.
ENTRY: dict[str, Check] = {
    "request_id": text,
    "time": instant,
    "method": text,
    "path": text,
    "plan": optional(text),
    "protocol": optional(text),
    "key": optional(text),
    "member": optional(text),
    "seat": optional(text),
    "model": optional(text),
    "stream": lambda value: type(value) is bool,
    "status": status,
    "error": optional(text),
    "input_tokens": amount,
    "cached_tokens": amount,
    "output_tokens": amount,
    "cost": amount,
    "charged": amount,
    "from_packs": pairs(text, amount),
    "rule": optional(text),
    "near_misses": pairs(text, texts),
    "request_body": optional(text),
    "response_body": optional(text),
}
ENTRY_REQUIRED = ("request_id", "time", "method", "path")


def check_row(table: str, checks: dict[str, Check], row: dict[str, Any]) -> None:
    """Raise BadRow naming the first column of `row` that fails its check."""
    for column, value in row.items():
        check = checks.get(column)
        if check is not None and not check(value):
            raise BadRow(f"table {table}: {column} {_shown(value)} is out of range")


def check_entry(number: int, body: Any) -> None:
    """A journal row's JSON: an object with the entry's required fields, each of its type."""
    if type(body) is not dict or any(name not in body for name in ENTRY_REQUIRED):
        raise BadRow(f"journal entry {number} is not an entry")
    check_row(f"journal (entry {number})", ENTRY, body)


def _shown(value: Any) -> str:
    shown = ascii(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."
