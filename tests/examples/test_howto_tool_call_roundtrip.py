"""How to test a tool-call round trip: tools -> tool call -> tool result -> final text.

Three ways, from least to most set-up:

1. The fake model, as it is: it calls a tool when the user's message names one (here "Use
   get_weather ..."), with arguments generated from the tool's schema, and answers in text once
   it has the result. A prompt that names no tool is answered in text straight away: the default
   is safe to point a real agent at (a `city` is a made-up city; a command would be an `echo`, a
   path a relative one under `token-plan-emulator-scratch/`).
2. `tool_calls: always` in your scenario (`always-call-tools` in `scenarios.yaml` beside this
   test): a tool call on every user turn that offers tools, whatever the prompt says.
3. A scripted conversation (`weather-tool`): a request that offers tools gets a `get_weather` call
   for Paris, and the next request, which carries the tool's result, gets the final text. The
   rules' state (`then:`) moves the script on; each test starts it afresh. The journal tells
   which rule answered each request.

The tool's side is the code under test: it runs the requested tool and sends the result back.
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

SCRIPTED = pytest.mark.token_plan(scenario="weather-tool", scenarios_file="scenarios.yaml")
ALWAYS = pytest.mark.token_plan(scenario="always-call-tools", scenarios_file="scenarios.yaml")

QUESTION = "What is the weather in Paris?"
NAMING_THE_TOOL = "Use get_weather: what is the weather in Paris?"
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
calls: list[dict[str, Any]] = []


def get_weather(city: str) -> dict[str, Any]:
    """The tool the model may call."""
    calls.append({"city": city})
    return {"city": city, "sky": "sunny", "celsius": 21}


def run_openai_agent(client: openai.OpenAI, question: str = QUESTION) -> str:
    """The tool's code under test: call tools until the model answers with text."""
    tools: Any = [{"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}]
    messages: list[Any] = [{"role": "user", "content": question}]
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


async def run_anthropic_agent(client: anthropic.AsyncAnthropic, question: str = QUESTION) -> str:
    tools: Any = [{"name": "get_weather", "input_schema": SCHEMA}]
    messages: list[Any] = [{"role": "user", "content": question}]
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


# ---- 1. the fake model, as it is: name the tool ---------------------------------------------


def test_openai_round_trip_when_the_prompt_names_the_tool(token_plan: TokenPlan) -> None:
    calls.clear()
    client = openai.OpenAI(**token_plan.openai_kwargs(max_retries=0))

    assert run_openai_agent(client, NAMING_THE_TOOL)  # the final text, made up
    assert len(calls) == 1 and calls[0]["city"]  # get_weather ran once, on a generated city
    assert len(token_plan.admin.journal()) == 2  # the call, then the answer

    calls.clear()
    assert run_openai_agent(client, QUESTION)  # no tool named: a text answer at once
    assert calls == []


async def test_anthropic_round_trip_when_the_prompt_names_the_tool(token_plan: TokenPlan) -> None:
    calls.clear()
    client = anthropic.AsyncAnthropic(**token_plan.anthropic_kwargs(max_retries=0))

    assert await run_anthropic_agent(client, NAMING_THE_TOOL)
    assert len(calls) == 1 and calls[0]["city"]


# ---- 2. `tool_calls: always`: a call whatever the prompt -------------------------------------


@ALWAYS
def test_openai_round_trip_on_every_prompt(token_plan: TokenPlan) -> None:
    calls.clear()
    client = openai.OpenAI(**token_plan.openai_kwargs(max_retries=0))

    assert run_openai_agent(client, QUESTION)
    assert len(calls) == 1


# ---- 3. a scripted conversation: exact arguments and answer ----------------------------------


@SCRIPTED
def test_openai_round_trip(token_plan: TokenPlan) -> None:
    calls.clear()
    client = openai.OpenAI(**token_plan.openai_kwargs(max_retries=0))

    assert run_openai_agent(client) == "It is sunny in Paris."
    assert calls == [{"city": "Paris"}]
    rules = [entry["rule"] for entry in token_plan.admin.journal()]
    assert rules == ["call-the-tool", "answer-from-the-result"]


@SCRIPTED
async def test_anthropic_round_trip(token_plan: TokenPlan) -> None:
    calls.clear()
    client = anthropic.AsyncAnthropic(**token_plan.anthropic_kwargs(max_retries=0))

    assert await run_anthropic_agent(client) == "It is sunny in Paris."
    assert calls == [{"city": "Paris"}]
    rules = [entry["rule"] for entry in token_plan.admin.journal()]
    assert rules == ["call-the-tool", "answer-from-the-result"]
