"""Credits arithmetic: exact integers of micro-Credits, never floats."""

from __future__ import annotations

import math
from decimal import Decimal

from emulator.catalog import CreditRates
from emulator.engine.types import record

MICRO = 1_000_000  # micro-Credits per Credit
TIER_CREDITS = {"standard": 25_000, "pro": 100_000, "max": 250_000}  # per seat per month
PACK_CREDITS = 625_000  # one shared usage pack
# Built-in (Harness) tools are charged per successful call from the same Credits; the per-call
# prices are not published (docs/fidelity.md): search at about pay-as-you-go's price, web
# extraction and the code interpreter free, as their pages say "free for a limited time".
TOOL_CALL_MICRO = {
    "web_search": 400_000,
    "web_search_image": 400_000,
    "image_search": 400_000,
    "web_extractor": 0,
    "code_interpreter": 0,
}


@record  # (made on every charge: engine/types.py's record)
class Cost:
    """What one request costs, per kind of token, in micro-Credits."""

    input: int
    cached: int
    output: int
    tools: int = 0  # built-in tool calls

    @property
    def total(self) -> int:
        return self.input + self.cached + self.output + self.tools


def cost_of(
    uncached_input: int, cached: int, output: int, rates: CreditRates, tool_calls: int = 0
) -> Cost:
    """The cost of a request: uncached input, cached input and output, each at its rate, and
    `tool_calls` micro-Credits of built-in tool calls."""
    # Rates are Credits per million tokens, so tokens x rate is micro-Credits; rounded up so a
    # fractional configured rate never charges less than it says.
    ceil = math.ceil
    return Cost(
        ceil(uncached_input * rates.input),
        ceil(cached * rates.cached),
        ceil(output * rates.output),
        tool_calls,
    )


def credits(micro: int) -> Decimal:
    """micro-Credits as Credits, exactly (for JSON and display)."""
    return Decimal(micro) / MICRO
