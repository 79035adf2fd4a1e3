"""The journal keeps the model every request named, refused ones included: the field a user needs
when a tool sends a wrong model id, a bad parameter or a wrong key."""

from __future__ import annotations

import anthropic
import openai
import pytest

from emulator.cli import status_text
from emulator.testing import TokenPlan

USER = [{"role": "user", "content": "Hello"}]


def test_a_404_keeps_the_model_it_named(token_plan: TokenPlan) -> None:
    client = openai.OpenAI(**token_plan.openai_kwargs(max_retries=0))
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="qwen3-coder-max", messages=USER)  # type: ignore[arg-type]
    entry = token_plan.admin.last()
    assert (entry["status"], entry["error"], entry["model"]) == (
        404,
        "model_not_found",
        "qwen3-coder-max",
    )


def test_a_400_and_a_401_keep_the_model_they_named(token_plan: TokenPlan) -> None:
    claude = anthropic.Anthropic(**token_plan.anthropic_kwargs(max_retries=0))
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.create(model="glm-5", max_tokens=0, messages=USER)  # type: ignore[arg-type]
    entry = token_plan.admin.last()
    assert (entry["status"], entry["model"]) == (400, "glm-5")

    stranger = openai.OpenAI(
        base_url=token_plan.openai_base_url, api_key="sk-not-a-plan-key", max_retries=0
    )
    with pytest.raises(openai.AuthenticationError):
        stranger.chat.completions.create(model="MiniMax-M2.5", messages=USER)  # type: ignore[arg-type]
    entry = token_plan.admin.last()
    assert (entry["status"], entry["error"], entry["model"]) == (
        401,
        "invalid_api_key",
        "MiniMax-M2.5",
    )


def test_status_lists_the_newest_refusals_with_their_model(token_plan: TokenPlan) -> None:
    client = openai.OpenAI(**token_plan.openai_kwargs(max_retries=0))
    client.chat.completions.create(model="qwen3.6-plus", messages=USER)  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="Qwen3.6-Plus", messages=USER)  # type: ignore[arg-type]
    state = token_plan.admin.state()
    assert [(r["status"], r["model"]) for r in state["refused"]] == [(404, "Qwen3.6-Plus")]
    text = status_text(state)
    assert "Refused (newest first)" in text
    row = next(line for line in text.splitlines() if "Qwen3.6-Plus" in line)
    assert (
        "404" in row and "model_not_found" in row and "/compatible-mode/v1/chat/completions" in row
    )
