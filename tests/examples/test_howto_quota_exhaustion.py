"""How to test your tool's handling of quota exhaustion.

The catalogue scenario `all-spent`: the seat's monthly Credits and the only shared usage pack are
spent, so the service is suspended and every request gets 429 `insufficient_quota` with the
message "You exceeded your current quota, please check your plan and billing details." Unlike a
rate limit, retrying does not help: a tool should stop and say what to do. Buying a usage pack
(the console's move, here `token_plan.admin.buy_pack()`) restores service at once, and the
journal shows the pack paying.
"""

from __future__ import annotations

import anthropic
import openai
import pytest

from emulator.testing import TokenPlan

QUOTA_SPENT = "You exceeded your current quota, please check your plan and billing details."
PROMPT = [{"role": "user", "content": "Write the changelog."}]


def ask(client: openai.OpenAI) -> str:
    """The tool's code under test: a spent quota becomes advice, not a crash or a retry."""
    try:
        reply = client.chat.completions.create(model="qwen3.6-plus", messages=PROMPT)
    except openai.RateLimitError as error:
        if error.code == "insufficient_quota":
            return "Your Token Plan Credits are spent: buy a usage pack or upgrade your seat."
        raise
    return reply.choices[0].message.content or ""


@pytest.mark.token_plan(scenario="all-spent")
def test_the_sdks_see_insufficient_quota_with_the_exact_message(token_plan: TokenPlan) -> None:
    client = openai.OpenAI(**token_plan.openai_kwargs(max_retries=0))
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="qwen3.6-plus", messages=PROMPT)
    assert caught.value.status_code == 429
    assert caught.value.code == "insufficient_quota"
    assert caught.value.body == {
        "message": QUOTA_SPENT,
        "type": "insufficient_quota",
        "param": None,
        "code": "insufficient_quota",
    }

    claude = anthropic.Anthropic(**token_plan.anthropic_kwargs(max_retries=0))
    with pytest.raises(anthropic.RateLimitError) as refused:
        claude.messages.create(model="glm-5", max_tokens=256, messages=PROMPT)
    assert refused.value.body["error"] == {"type": "rate_limit_error", "message": QUOTA_SPENT}


@pytest.mark.token_plan(scenario="all-spent")
def test_the_tool_gives_advice_and_buying_a_pack_restores_service(token_plan: TokenPlan) -> None:
    client = openai.OpenAI(**token_plan.openai_kwargs(max_retries=0))
    assert ask(client).startswith("Your Token Plan Credits are spent")

    pack = token_plan.admin.buy_pack()

    assert not ask(client).startswith("Your Token Plan Credits are spent")
    paid = token_plan.admin.last()["from_packs"]
    assert [pack_id for pack_id, _ in paid] == [pack["id"]]
