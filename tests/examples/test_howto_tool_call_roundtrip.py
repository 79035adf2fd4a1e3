"""How to test a scripted tool-call round trip: tools -> tool call -> tool result -> final text.

The model's side of the conversation is scripted in a scenarios file of your own
(`scenarios.yaml` beside this test): a request that offers tools gets a `get_weather` call for
Paris, and the next request, which carries the tool's result, gets the final text. The rules'
state (`then:`) moves the script on; each test starts it afresh. The tool's side is the code
under test: it runs the requested tool and sends the result back. The journal tells which rule
answered each request.

Shown with the OpenAI SDK (sync) and the Anthropic SDK (async: the same fixture serves async
tests).
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

from emulator.testing import TokenPlan

pytestmark = pytest.mark.token_plan(scenario="weather-tool", scenarios_file="scenarios.yaml")

QUESTION = "What is the weather in Paris?"
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
calls: list[dict[str, Any]] = []


def get_weather(city: str) -> dict[str, Any]:
    """The tool the model may call."""
    calls.append({"city": city})
    return {"city": city, "sky": "sunny", "celsius": 21}


def run_openai_agent(client: openai.OpenAI) -> str:
    """The tool's code under test: call tools until the model answers with text."""
    tools: Any = [{"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}]
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    while True:
        reply = client.chat.completions.create(model="qwen3.6-plus", messages=messages, tools=tools)
        message = reply.choices[0].message
        if not message.tool_calls:
            return message.content or ""
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            assert call.type == "function" and call.function.name == "get_weather"
            result = get_weather(**json.loads(call.function.arguments))
            messages.append(
                {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}
            )


async def run_anthropic_agent(client: anthropic.AsyncAnthropic) -> str:
    tools: Any = [{"name": "get_weather", "input_schema": SCHEMA}]
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    while True:
        reply = await client.messages.create(
            model="glm-5", max_tokens=1024, messages=messages, tools=tools
        )
        if reply.stop_reason != "tool_use":
            return "".join(block.text for block in reply.content if block.type == "text")
        messages.append({"role": "assistant", "content": reply.content})
        results = [
            {
                "type": "tool_result",
                "tool_use_id": block.id,
                "content": json.dumps(get_weather(**block.input)),
            }
            for block in reply.content
            if block.type == "tool_use"
        ]
        messages.append({"role": "user", "content": results})


def test_openai_round_trip(token_plan: TokenPlan) -> None:
    calls.clear()
    client = openai.OpenAI(**token_plan.openai_kwargs(max_retries=0))

    assert run_openai_agent(client) == "It is sunny in Paris."
    assert calls == [{"city": "Paris"}]
    rules = [entry["rule"] for entry in token_plan.admin.journal()]
    assert rules == ["call-the-tool", "answer-from-the-result"]


async def test_anthropic_round_trip(token_plan: TokenPlan) -> None:
    calls.clear()
    client = anthropic.AsyncAnthropic(**token_plan.anthropic_kwargs(max_retries=0))

    assert await run_anthropic_agent(client) == "It is sunny in Paris."
    assert calls == [{"city": "Paris"}]
    rules = [entry["rule"] for entry in token_plan.admin.journal()]
    assert rules == ["call-the-tool", "answer-from-the-result"]
