"""The records built positionally on the hot path (a class called with keywords gets them in a
dict its __init__ unpacks): their field order is the one those calls assume, and each parsed
field lands where its name says."""

from __future__ import annotations

import dataclasses

from emulator.config import Config
from emulator.engine.cache import CacheUse
from emulator.engine.generate import _result
from emulator.engine.types import ChatRequest, Completion, ResponseFormat, ToolChoice, Usage
from emulator.protocols import anthropic_messages, openai_chat
from emulator.runtime import catalog_of

MODEL = catalog_of(Config()).text_model("qwen3.6-plus")
TOOL = {"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}


def _names(record: type) -> list[str]:
    return [f.name for f in dataclasses.fields(record)]


def test_positional_records_keep_their_field_order() -> None:
    assert _names(ChatRequest) == [
        "protocol",
        "model",
        "messages",
        "tools",
        "tool_choice",
        "max_tokens",
        "max_tokens_cover_thinking",
        "stop",
        "n",
        "seed",
        "thinking",
        "thinking_budget",
        "response_format",
        "stream",
        "include_usage",
        "parallel_tool_calls",
    ]
    assert _names(Usage) == [
        "input_tokens",
        "output_tokens",
        "reasoning_tokens",
        "cached_tokens",
        "cache_creation_tokens",
        "cache_explicit",
    ]


def test_openai_parse_puts_each_field_in_its_place() -> None:
    assert MODEL is not None
    body = {
        "model": MODEL.id,
        "messages": [{"role": "user", "content": "Look it up as json"}],
        "tools": [TOOL],
        "tool_choice": "required",
        "max_tokens": 77,
        "stop": ["zz"],
        "n": 2,
        "seed": 9,
        "enable_thinking": True,
        "thinking_budget": 55,
        "stream": True,
        "stream_options": {"include_usage": True},
        "parallel_tool_calls": True,
    }
    chat = openai_chat.parse(body, MODEL)
    assert (chat.protocol, chat.model, chat.messages[0].text) == ("openai", MODEL, body_text(body))
    assert [t.name for t in chat.tools] == ["look"]
    assert chat.tool_choice == ToolChoice("required")
    assert (chat.max_tokens, chat.max_tokens_cover_thinking) == (77, False)
    assert (chat.stop, chat.n, chat.seed) == (("zz",), 2, 9)
    assert (chat.thinking, chat.thinking_budget) == (True, 55)
    assert chat.response_format == ResponseFormat()
    assert (chat.stream, chat.include_usage, chat.parallel_tool_calls) == (True, True, True)
    plain = openai_chat.parse({"model": MODEL.id, "messages": body["messages"]}, MODEL)
    assert (plain.stream, plain.include_usage, plain.parallel_tool_calls) == (False,) * 3
    assert plain.response_format == ResponseFormat()
    schema = {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}}
    formatted = openai_chat.parse(
        {**body, "enable_thinking": False, "response_format": schema}, MODEL
    )
    assert formatted.response_format == ResponseFormat("json_schema", {"type": "object"})


def body_text(body: dict[str, object]) -> str:
    messages = body["messages"]
    assert isinstance(messages, list)
    return str(messages[0]["content"])


def test_anthropic_parse_puts_each_field_in_its_place() -> None:
    assert MODEL is not None
    body = {
        "model": MODEL.id,
        "max_tokens": 88,
        "messages": [{"role": "user", "content": "Look it up"}],
        "tools": [{"name": "look", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any"},
        "stop_sequences": ["zz"],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "stream": True,
    }
    chat = anthropic_messages.parse(body, MODEL)
    assert (chat.protocol, chat.model, chat.messages[0].text) == ("anthropic", MODEL, "Look it up")
    assert [t.name for t in chat.tools] == ["look"]
    assert chat.tool_choice == ToolChoice("required")
    assert (chat.max_tokens, chat.max_tokens_cover_thinking) == (88, True)
    assert (chat.stop, chat.n, chat.seed) == (("zz",), 1, None)
    assert (chat.thinking, chat.thinking_budget) == (True, 1024)
    assert chat.response_format == ResponseFormat()
    assert (chat.stream, chat.include_usage, chat.parallel_tool_calls) == (True, False, False)


def test_result_usage_fields_land_by_name() -> None:
    choice = Completion("Hello there.", "", (), "stop")
    usage = _result((choice,), 40, CacheUse("explicit", read=12, created=30)).usage
    assert (usage.input_tokens, usage.cached_tokens, usage.cache_creation_tokens) == (40, 12, 30)
    assert usage.cache_explicit and usage.reasoning_tokens == 0 and usage.output_tokens > 0
    plain = _result((choice,), 40, None).usage
    assert (plain.cached_tokens, plain.cache_creation_tokens, plain.cache_explicit) == (0, 0, False)
