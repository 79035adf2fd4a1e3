"""The OpenAI Agents SDK (`openai-agents`) runs an agent with a function tool against the
emulator on its default model, the Responses API: the model calls the tool, the SDK runs it and
sends its output back, and the model's text is the run's final output."""

from __future__ import annotations

from typing import Any

import pytest
from agents import (
    Agent,
    Runner,
    function_tool,
    set_default_openai_client,
    set_tracing_disabled,
)
from openai import AsyncOpenAI

from emulator.testing import TokenPlan

MODEL = "qwen3.6-plus"


@pytest.fixture
def weather_agent(token_plan: TokenPlan) -> tuple[Agent[Any], list[str]]:
    """An agent whose only tool is `get_weather`, and the cities the tool was called with. The
    SDK's default client is process-wide: each test sets its own, for its own event loop."""
    cities: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        cities.append(city)
        return f"Sunny in {city}, 21 °C."

    client = AsyncOpenAI(**token_plan.openai_kwargs(max_retries=0))
    set_default_openai_client(client, use_for_tracing=False)
    set_tracing_disabled(True)
    agent = Agent(
        name="Forecaster",
        instructions="Answer questions about the weather with the get_weather tool.",
        model=MODEL,
        tools=[get_weather],
    )
    return agent, cities


def responses_calls(token_plan: TokenPlan) -> list[dict[str, Any]]:
    return [
        entry
        for entry in token_plan.admin.journal()
        if entry["method"] == "POST" and entry["path"] == "/compatible-mode/v1/responses"
    ]


def test_an_agent_runs_its_function_tool(
    weather_agent: tuple[Agent[Any], list[str]], token_plan: TokenPlan
) -> None:
    agent, cities = weather_agent
    result = Runner.run_sync(agent, "Use get_weather for Paris")
    assert len(cities) == 1  # the tool ran once, with the arguments the model chose
    assert isinstance(result.final_output, str) and result.final_output
    kinds = [item.type for item in result.new_items]
    assert kinds.index("tool_call_item") < kinds.index("tool_call_output_item")
    assert kinds[-1] == "message_output_item"
    calls = responses_calls(token_plan)
    assert len(calls) == 2, calls  # the function call, then the answer after its output
    assert all(c["status"] == 200 and c["model"] == MODEL for c in calls), calls


async def test_a_streamed_run(
    weather_agent: tuple[Agent[Any], list[str]], token_plan: TokenPlan
) -> None:
    agent, cities = weather_agent
    run = Runner.run_streamed(agent, "Use get_weather for Paris")
    events = [event async for event in run.stream_events()]
    assert len(cities) == 1
    assert isinstance(run.final_output, str) and run.final_output
    deltas = [
        e.data.delta
        for e in events
        if e.type == "raw_response_event" and e.data.type == "response.output_text.delta"
    ]
    assert "".join(deltas) == run.final_output  # the text arrived in pieces
    named = [e.name for e in events if e.type == "run_item_stream_event"]
    assert "tool_called" in named and "tool_output" in named
    calls = responses_calls(token_plan)
    assert len(calls) == 2 and all(c["status"] == 200 for c in calls), calls
