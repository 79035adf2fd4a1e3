"""Credits arithmetic: exact integers of micro-Credits, never floats."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from emulator.catalog import CreditRates, Rate

MICRO = 1_000_000  # micro-Credits per Credit
TIER_CREDITS = {"standard": 25_000, "pro": 100_000, "max": 250_000}  # per seat per month
PACK_CREDITS = 625_000  # one shared usage pack


@dataclass(frozen=True)
class Cost:
    """What one request costs, per kind of token, in micro-Credits."""

    input: int
    cached: int
    output: int

    @property
    def total(self) -> int:
        return self.input + self.cached + self.output


def _micro(tokens: int, per_million: Rate) -> int:
    # Rates are Credits per million tokens, so tokens x rate is micro-Credits; round up so a
    # fractional configured rate never charges less than it says.
    return math.ceil(tokens * per_million)


def cost_of(uncached_input: int, cached: int, output: int, rates: CreditRates) -> Cost:
    """The cost of a request: uncached input, cached input and output, each at its rate."""
    return Cost(
        _micro(uncached_input, rates.input),
        _micro(cached, rates.cached),
        _micro(output, rates.output),
    )


def credits(micro: int) -> Decimal:
    """micro-Credits as Credits, exactly (for JSON and display)."""
    return Decimal(micro) / MICRO
