"""How to test the monthly reset by moving the clock.

A seat's Credits reset on each monthly anniversary of the subscription. The emulator's clock is
yours to move: `token_plan.admin.advance("+31d")`, `.set_clock("2026-06-01T00:00:00Z")`.

Two recipes: the catalogue scenario `reset-next-month` (everything spent one minute before the
anniversary: 429 insufficient_quota until the clock reaches it), and driving the plan yourself
from the default scenario with the clock frozen where you choose (`@pytest.mark.token_plan(
clock=...)`): spend, cross the anniversary, and read the seat, the stats and the usage.
"""

from __future__ import annotations

import openai
import pytest

from emulator.testing import TokenPlan

PROMPT = [{"role": "user", "content": "Plan the sprint."}]


@pytest.mark.token_plan(scenario="reset-next-month")
def test_service_comes_back_at_the_anniversary(token_plan: TokenPlan) -> None:
    client = openai.OpenAI(**token_plan.openai_kwargs(max_retries=0))
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="qwen3.6-plus", messages=PROMPT)
    assert caught.value.code == "insufficient_quota"

    assert token_plan.admin.advance("+1m") == "2026-05-10T00:00:00Z"

    reply = client.chat.completions.create(model="qwen3.6-plus", messages=PROMPT)
    assert reply.choices[0].finish_reason == "stop"
    seat = token_plan.admin.seat()
    assert seat["remaining"] == seat["quota"] - seat["used"] > 99_000


@pytest.mark.token_plan(clock="2026-05-01T00:00:00Z")
def test_a_seats_credits_come_back_a_month_later(token_plan: TokenPlan) -> None:
    client = openai.OpenAI(**token_plan.openai_kwargs(max_retries=0))
    client.chat.completions.create(model="qwen3.6-plus", messages=PROMPT)
    spent = token_plan.admin.seat()["used"]
    assert spent > 0
    assert token_plan.admin.usage(days=1)["total"] == spent
    subscription = token_plan.admin.state()["subscription"]
    assert subscription["next_reset"] == "2026-06-01T00:00:00Z"

    token_plan.admin.advance("+31d")

    assert token_plan.admin.seat()["used"] == 0
    assert token_plan.admin.state()["subscription"]["next_reset"] == "2026-07-01T00:00:00Z"
    [pro_seats] = token_plan.admin.stats()["Data"]["Items"]  # GetSubscriptionStats' shape
    assert pro_seats["SeatRemainingCredits"] == pro_seats["SeatCredits"]
