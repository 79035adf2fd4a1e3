"""The shortest path a tool takes: one turn on each protocol with the official SDKs."""

from __future__ import annotations

import anthropic
import openai


def test_openai_sdk_gets_a_completion(oai: openai.OpenAI) -> None:
    reply = oai.chat.completions.create(
        model="qwen3.6-plus", messages=[{"role": "user", "content": "Hello"}]
    )
    assert reply.choices[0].finish_reason == "stop"
    assert reply.choices[0].message.content
    assert reply.id == f"chatcmpl-{reply._request_id}"


def test_anthropic_sdk_gets_a_message(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model="glm-5", max_tokens=256, messages=[{"role": "user", "content": "Hello"}]
    )
    assert message.stop_reason == "end_turn"
    assert message.content[0].type == "text"
