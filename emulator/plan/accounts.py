"""Who may call which site, and what a call costs: the Token Plan ledger, a Coding Plan, and a
pay-as-you-go account, each with its own keys (docs/sources.md's mix-up matrix)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from emulator.catalog import ImageModel, TextModel
from emulator.engine.types import Usage, record
from emulator.errors import ApiError
from emulator.plan.coding_plan import CodingPlan
from emulator.plan.credits import MICRO, TOOL_CALL_MICRO, Cost, cost_of
from emulator.plan.ledger import Charge, Ledger, Seat

Plan = Literal["token_plan", "coding_plan", "payg"]


@record  # (one a request: engine/types.py's record)
class Caller:
    """An authenticated request's account: a Token Plan seat, the Coding Plan, or pay-as-you-go."""

    plan: Plan
    key: str
    seat: Seat | None = None


@dataclass
class Accounts:
    ledger: Ledger
    coding_plan: CodingPlan
    payg_key: str

    def authenticate(self, plan: Plan, key: str | None) -> Caller:
        """The caller behind `key` on `plan`'s site, or that site's documented refusal."""
        if plan == "token_plan":
            if key is None:
                raise ApiError("no_api_key")
            return Caller(plan, key, self.ledger.authenticate(key))
        if plan == "coding_plan":
            if key != self.coding_plan.key:
                raise ApiError("coding_plan_invalid_token")
            return Caller(plan, key)
        if key is None:
            raise ApiError("no_api_key")
        if key != self.payg_key:
            raise ApiError("payg_incorrect_api_key")
        return Caller(plan, key)

    def admit(self, caller: Caller) -> None:
        """Refuse a request the caller's plan has no allowance left for."""
        if caller.seat is not None:
            self.ledger.admit(caller.seat)
        elif caller.plan == "coding_plan":
            self.coding_plan.admit()

    def settle_images(self, caller: Caller, model: ImageModel, count: int) -> Charge | None:
        """Charge generated images at the model's per-image rate (Token Plan only)."""
        if caller.seat is None:
            return None
        cost = Cost(input=0, cached=0, output=count * model.credits_per_image * MICRO)
        return self.ledger.charge(caller.seat, cost, model.id)

    def settle(
        self, caller: Caller, model: TextModel, usage: Usage, tool_calls: Sequence[str] = ()
    ) -> Charge | None:
        """Charge a completed request, with the built-in tools it called: Credits on the Token
        Plan, nothing elsewhere."""
        if caller.seat is None:
            return None
        uncached = usage.input_tokens - usage.cached_tokens
        tools = sum(TOOL_CALL_MICRO.get(kind, 0) for kind in tool_calls) if tool_calls else 0
        cost = cost_of(uncached, usage.cached_tokens, usage.output_tokens, model.credits, tools)
        return self.ledger.charge(caller.seat, cost, model.id)
