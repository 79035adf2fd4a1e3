"""How to test a retry on 429 (rate limiting).

The catalogue scenario `rate-limited-then-ok` answers the first two requests with the service's
429 (`limit_requests`: "Requests rate limit exceeded, please try again later.", and no
Retry-After header, as the service sends none), then every request normally. Point your tool at
the `token_plan` fixture and check that it gets through; the journal shows every try.

Two recipes: your tool's own retry loop (inject its sleep so the test does not wait), and the
OpenAI SDK's built-in retries (`max_retries=2`: the third call succeeds, after the SDK's own
back-off of about 0.5 s and 1 s).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import openai
import pytest

from emulator.testing import TokenPlan

PROMPT = [{"role": "user", "content": "Summarise the release notes."}]


def ask(client: openai.OpenAI, tries: int = 3, sleep: Callable[[float], None] = time.sleep) -> str:
    """The tool's code under test: retry a rate-limited call with exponential back-off."""
    for attempt in range(tries):
        try:
            reply = client.chat.completions.create(model="qwen3.6-plus", messages=PROMPT)
            return reply.choices[0].message.content or ""
        except openai.RateLimitError:
            if attempt == tries - 1:
                raise
            sleep(2.0**attempt)
    raise AssertionError("tries must be at least 1")


@pytest.mark.token_plan(scenario="rate-limited-then-ok")
def test_my_retry_loop_gets_through_on_the_third_try(token_plan: TokenPlan) -> None:
    client = openai.OpenAI(**token_plan.openai_kwargs(max_retries=0))  # the tool retries
    waits: list[float] = []
    assert ask(client, tries=3, sleep=waits.append)
    assert waits == [1.0, 2.0]
    assert [entry["status"] for entry in token_plan.admin.journal()] == [429, 429, 200]


@pytest.mark.token_plan(scenario="rate-limited-then-ok")
def test_my_retry_loop_gives_up_with_the_services_error(token_plan: TokenPlan) -> None:
    client = openai.OpenAI(**token_plan.openai_kwargs(max_retries=0))
    with pytest.raises(openai.RateLimitError) as caught:
        ask(client, tries=2, sleep=lambda seconds: None)
    assert caught.value.code == "limit_requests"
    assert "retry-after" not in caught.value.response.headers


@pytest.mark.token_plan(scenario="rate-limited-then-ok")
def test_the_sdks_own_retries_succeed_on_the_third_call(token_plan: TokenPlan) -> None:
    client = openai.OpenAI(**token_plan.openai_kwargs(max_retries=2))
    reply = client.chat.completions.create(model="qwen3.6-plus", messages=PROMPT)
    assert reply.choices[0].finish_reason == "stop"
    assert [entry["status"] for entry in token_plan.admin.journal()] == [429, 429, 200]
