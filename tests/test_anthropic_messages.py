"""The Anthropic-compatible endpoint (`/apps/anthropic`) as the official `anthropic` SDK and
Claude Code see it: message shape, named-event SSE, thinking, tools, count_tokens, errors, auth.

Raw HTTP (`http.client`) is used wherever the exact bytes on the wire matter.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import jsonschema
import pytest

from emulator.engine import tokens
from emulator.harness import RunningEmulator

MESSAGES = "/apps/anthropic/v1/messages"
COUNT_TOKENS = "/apps/anthropic/v1/messages/count_tokens"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
HELLO: list[dict[str, Any]] = [{"role": "user", "content": "Hello"}]

WEATHER_TOOL: dict[str, Any] = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "minLength": 1},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
        },
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
}
TIME_TOOL: dict[str, Any] = {
    "name": "get_time",
    "description": "Current time in a time zone.",
    "input_schema": {
        "type": "object",
        "properties": {"timezone": {"type": "string"}},
        "required": ["timezone"],
    },
}


# ---- helpers ------------------------------------------------------------------------------


@dataclass
class Raw:
    """One HTTP exchange as bytes: status, headers (lower-cased names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Frame:
    """One SSE frame: the `event:` name and the decoded `data:` JSON."""

    event: str
    data: dict[str, Any]


def post_raw(
    emulator: RunningEmulator,
    path: str,
    body: dict[str, Any] | bytes,
    headers: dict[str, str] | None = None,
    *,
    bearer: bool = True,
) -> Raw:
    """POST `body` to the emulator with http.client, the key as a Bearer token unless told not."""
    url = urllib.parse.urlsplit(emulator.url)
    sent = {"Content-Type": "application/json", "anthropic-version": "2023-06-01"}
    if bearer:
        sent["Authorization"] = f"Bearer {emulator.api_key}"
    sent.update(headers or {})
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    try:
        connection.request("POST", path, body=data, headers=sent)
        response = connection.getresponse()
        return Raw(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        )
    finally:
        connection.close()


def sse_frames(raw: bytes) -> list[Frame]:
    """Parse an Anthropic SSE body strictly: every frame is exactly `event:` then `data:`."""
    text = raw.decode("utf-8")
    assert text.endswith("\n\n"), "the stream ends with a complete frame"
    frames = []
    for chunk in text[:-2].split("\n\n"):
        lines = chunk.split("\n")
        assert len(lines) == 2, f"frame is not exactly event + data: {chunk!r}"
        assert lines[0].startswith("event: "), chunk
        assert lines[1].startswith("data: "), chunk
        frames.append(Frame(lines[0][len("event: ") :], json.loads(lines[1][len("data: ") :])))
    return frames


def block_deltas(frames: list[Frame], index: int) -> list[dict[str, Any]]:
    """The `delta` objects of content block `index`, in order."""
    return [
        f.data["delta"]
        for f in frames
        if f.event == "content_block_delta" and f.data["index"] == index
    ]


def validate(instance: Any, schema: dict[str, Any]) -> None:
    """Validate with jsonschema (an independent implementation), formats included."""
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    cls(schema, format_checker=cls.FORMAT_CHECKER).validate(instance)


@pytest.fixture
def frozen_claude(frozen_emulator: RunningEmulator) -> anthropic.Anthropic:
    """An SDK client on the frozen-clock emulator: repeatable ids and bodies."""
    return anthropic.Anthropic(**frozen_emulator.anthropic_kwargs(max_retries=0))


@pytest.fixture
def no_sdk_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the SDK from finding a key in the environment or a profile on disk."""
    for name in (
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_PROFILE",
        "ANTHROPIC_IDENTITY_TOKEN",
        "ANTHROPIC_IDENTITY_TOKEN_FILE",
        "ANTHROPIC_CUSTOM_HEADERS",
        "ANTHROPIC_CONFIG_DIR",
        "ANTHROPIC_FEDERATION_RULE_ID",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.config/anthropic profile either


# ---- non-streaming ------------------------------------------------------------------------


def test_message_has_the_anthropic_shape_and_the_request_id(claude: anthropic.Anthropic) -> None:
    """id is `msg_<x-request-id>`; type/role/model; one text block; end_turn; full usage."""
    raw = claude.messages.with_raw_response.create(model="glm-5", max_tokens=256, messages=HELLO)
    message = raw.parse()
    request_id = raw.headers["x-request-id"]
    assert re.fullmatch(UUID, request_id)
    assert message.id == f"msg_{request_id}"
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.model == "glm-5"
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].type == "text" and message.content[0].text.strip()
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens > 0
    assert message.usage.cache_creation_input_tokens == 0
    assert message.usage.cache_read_input_tokens == 0
    assert raw.headers["content-type"] == "application/json"


def test_raw_message_body_has_exactly_the_documented_keys(
    token_plan_emulator: RunningEmulator,
) -> None:
    """On the wire: the standard Message keys and the four usage counters, nothing missing."""
    response = post_raw(
        token_plan_emulator, MESSAGES, {"model": "glm-5", "max_tokens": 64, "messages": HELLO}
    )
    assert response.status == 200
    body = response.json()
    assert list(body) == [
        "id",
        "type",
        "role",
        "model",
        "content",
        "stop_reason",
        "stop_sequence",
        "usage",
    ]
    assert set(body["usage"]) == {
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    }
    assert body["id"] == f"msg_{response.headers['x-request-id']}"
    assert all(isinstance(v, int) for v in body["usage"].values())


async def test_async_client_gets_a_message(aclaude: anthropic.AsyncAnthropic) -> None:
    """AsyncAnthropic works the same way as the sync client."""
    message = await aclaude.messages.create(
        model="qwen3.6-plus", max_tokens=200, messages=[{"role": "user", "content": "Hi there"}]
    )
    assert message.model == "qwen3.6-plus"
    assert message.stop_reason == "end_turn"
    assert message.content[-1].type == "text"


def test_system_as_string_and_as_cached_blocks_is_accepted(claude: anthropic.Anthropic) -> None:
    """`system` as a string and as text blocks (with cache_control) both count as input."""
    bare = claude.messages.create(model="glm-5", max_tokens=128, messages=HELLO)
    as_string = claude.messages.create(
        model="glm-5", max_tokens=128, system="You are a terse assistant.", messages=HELLO
    )
    as_blocks = claude.messages.create(
        model="glm-5",
        max_tokens=128,
        system=[
            {"type": "text", "text": "You are a terse assistant."},
            {
                "type": "text",
                "text": "Answer in English. " * 50,
                "cache_control": {"type": "ephemeral"},
            },
        ],
        messages=HELLO,
    )
    assert as_string.stop_reason == as_blocks.stop_reason == "end_turn"
    assert as_string.usage.input_tokens > bare.usage.input_tokens
    total = (
        as_blocks.usage.input_tokens
        + as_blocks.usage.cache_creation_input_tokens
        + as_blocks.usage.cache_read_input_tokens
    )
    assert total > as_string.usage.input_tokens + 50


def test_stop_sequence_cuts_the_answer_at_the_first_match(claude: anthropic.Anthropic) -> None:
    """A word of the free answer, sent back as stop sequence, ends the same answer before it."""
    prompt = [{"role": "user", "content": "Tell me a short story."}]
    free = claude.messages.create(model="glm-5", max_tokens=1000, messages=prompt)
    text = free.content[0].text
    words = [w for w in re.findall(r"[A-Za-z]+", text) if len(w) >= 4]
    word = words[len(words) // 2]
    stopped = claude.messages.create(
        model="glm-5", max_tokens=1000, stop_sequences=["zzzz-never", word], messages=prompt
    )
    assert stopped.stop_reason == "stop_sequence"
    assert stopped.stop_sequence == word
    assert stopped.content[0].text == text[: text.index(word)]
    assert stopped.usage.output_tokens < free.usage.output_tokens


def test_max_tokens_truncates_the_answer(claude: anthropic.Anthropic) -> None:
    """A small max_tokens gives stop_reason max_tokens and exactly that many output tokens."""
    free = claude.messages.create(model="glm-5", max_tokens=1000, messages=HELLO)
    cut = claude.messages.create(model="glm-5", max_tokens=5, messages=HELLO)
    assert free.usage.output_tokens > 5
    assert cut.stop_reason == "max_tokens"
    assert cut.stop_sequence is None
    assert cut.usage.output_tokens == 5
    full_text = free.content[0].text
    assert full_text.startswith(cut.content[0].text)


def test_max_tokens_caps_thinking_and_answer_together(claude: anthropic.Anthropic) -> None:
    """With thinking on, max_tokens covers thinking + text: output_tokens never exceeds it."""
    message = claude.messages.create(
        model="glm-5",
        max_tokens=12,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=HELLO,
    )
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 12
    assert message.content[0].type == "thinking"


def test_missing_max_tokens_is_a_400(claude: anthropic.Anthropic) -> None:
    """max_tokens is required on this endpoint: BadRequestError in the Anthropic envelope."""
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.post(
            "/v1/messages",
            body={"model": "glm-5", "messages": HELLO},
            cast_to=anthropic.types.Message,
        )
    error = caught.value
    assert error.status_code == 400
    assert error.body == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "<400> InternalError.Algo.InvalidParameter: max_tokens: Field required",
        },
        "request_id": error.response.headers["x-request-id"],
    }


@pytest.mark.parametrize("max_tokens", [0, 131073, 200_000])
def test_max_tokens_outside_the_model_range_is_a_400(
    claude: anthropic.Anthropic, max_tokens: int
) -> None:
    """glm-5 takes max_tokens up to 131072 (Z.ai's range; it answers at most 16384): DashScope's
    range message above it, Anthropic envelope."""
    with pytest.raises(anthropic.BadRequestError) as caught:
        # an explicit timeout: the SDK refuses a large max_tokens without one unless streaming
        claude.messages.create(model="glm-5", max_tokens=max_tokens, messages=HELLO, timeout=30)
    error = caught.value
    assert error.body == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "<400> InternalError.Algo.InvalidParameter: "
            "Range of max_tokens should be [1, 131072]",
        },
        "request_id": error.response.headers["x-request-id"],
    }
    assert list(error.body) == ["type", "error", "request_id"]


def test_max_tokens_at_the_model_limit_is_accepted(claude: anthropic.Anthropic) -> None:
    """The upper bound itself is inside the range."""
    message = claude.messages.create(model="glm-5", max_tokens=131072, messages=HELLO, timeout=30)
    assert message.stop_reason == "end_turn"


# ---- streaming ----------------------------------------------------------------------------


def test_raw_stream_frames_are_named_and_ordered(token_plan_emulator: RunningEmulator) -> None:
    """Every frame has `event:` + `data:` with matching `type`, in Anthropic's order, no [DONE]."""
    body = {"model": "glm-5", "max_tokens": 300, "messages": HELLO}
    streamed = post_raw(token_plan_emulator, MESSAGES, {**body, "stream": True})
    assert streamed.status == 200
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert b"[DONE]" not in streamed.body
    frames = sse_frames(streamed.body)
    for frame in frames:
        assert frame.data["type"] == frame.event
    events = [f.event for f in frames]
    assert events[:3] == ["message_start", "content_block_start", "ping"]
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(events[3:-3]) == {"content_block_delta"}

    start = frames[0].data["message"]
    assert start["id"] == f"msg_{streamed.headers['x-request-id']}"
    assert start["content"] == []
    assert start["stop_reason"] is None and start["stop_sequence"] is None
    assert start["role"] == "assistant" and start["model"] == "glm-5"
    assert frames[1].data == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    assert frames[2].data == {"type": "ping"}
    assert frames[-1].data == {"type": "message_stop"}

    once = post_raw(token_plan_emulator, MESSAGES, body).json()
    delta = frames[-2].data
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] == once["usage"]["output_tokens"]
    assert start["usage"]["input_tokens"] == once["usage"]["input_tokens"]
    text = "".join(d["text"] for d in block_deltas(frames, 0))
    assert all(d["type"] == "text_delta" for d in block_deltas(frames, 0))
    assert text == once["content"][0]["text"]


def test_streamed_text_equals_the_non_streamed_text(frozen_claude: anthropic.Anthropic) -> None:
    """The stream helper's text, final message and usage match the one-shot answer."""
    prompt = [{"role": "user", "content": "Write a haiku about rivers."}]
    once = frozen_claude.messages.create(model="qwen3.6-plus", max_tokens=400, messages=prompt)
    with frozen_claude.messages.stream(
        model="qwen3.6-plus", max_tokens=400, messages=prompt
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 1
    assert "".join(pieces) == once.content[0].text
    assert final.content[0].text == once.content[0].text
    assert final.usage.output_tokens == once.usage.output_tokens
    assert final.usage.input_tokens == once.usage.input_tokens
    assert final.stop_reason == "end_turn"
    assert final.id.startswith("msg_") and final.id != once.id


def test_stream_true_yields_the_sdk_event_sequence(claude: anthropic.Anthropic) -> None:
    """`stream=True` gives typed raw events the SDK recognises (ping is skipped by the SDK)."""
    events = list(
        claude.messages.create(model="glm-5", max_tokens=100, messages=HELLO, stream=True)
    )
    kinds = [event.type for event in events]
    assert kinds[0] == "message_start"
    assert kinds[1] == "content_block_start"
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(kinds[2:-3]) == {"content_block_delta"}
    last = events[-2]
    assert last.type == "message_delta"
    assert last.delta.stop_reason == "end_turn"
    assert last.usage.output_tokens > 0


async def test_async_stream_helper(aclaude: anthropic.AsyncAnthropic) -> None:
    """AsyncAnthropic's stream helper assembles the same message as its one-shot call."""
    prompt = [{"role": "user", "content": "Name three colours."}]
    once = await aclaude.messages.create(model="glm-5", max_tokens=300, messages=prompt)
    async with aclaude.messages.stream(model="glm-5", max_tokens=300, messages=prompt) as stream:
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert text == once.content[0].text
    assert final.usage.output_tokens == once.usage.output_tokens


async def test_concurrent_requests_get_the_same_answer(aclaude: anthropic.AsyncAnthropic) -> None:
    """Eight concurrent identical requests (four streamed) all get the same text and usage."""
    prompt = [{"role": "user", "content": "Describe a lighthouse."}]

    async def once() -> tuple[str, int]:
        message = await aclaude.messages.create(model="glm-5", max_tokens=300, messages=prompt)
        return message.content[0].text, message.usage.output_tokens

    async def streamed() -> tuple[str, int]:
        async with aclaude.messages.stream(
            model="glm-5", max_tokens=300, messages=prompt
        ) as stream:
            final = await stream.get_final_message()
        return final.content[0].text, final.usage.output_tokens

    answers = await asyncio.gather(*[once() for _ in range(4)], *[streamed() for _ in range(4)])
    assert len(set(answers)) == 1


def test_streamed_stop_reasons_match_the_non_streamed_ones(claude: anthropic.Anthropic) -> None:
    """max_tokens and stop_sequence arrive in message_delta just as in the one-shot body."""
    with claude.messages.stream(model="glm-5", max_tokens=7, messages=HELLO) as stream:
        cut = stream.get_final_message()
    assert cut.stop_reason == "max_tokens"
    assert cut.usage.output_tokens == 7

    free = claude.messages.create(model="glm-5", max_tokens=500, messages=HELLO)
    word = re.findall(r"[A-Za-z]{4,}", free.content[0].text)[2]
    with claude.messages.stream(
        model="glm-5", max_tokens=500, stop_sequences=[word], messages=HELLO
    ) as stream:
        stopped = stream.get_final_message()
    assert stopped.stop_reason == "stop_sequence"
    assert stopped.stop_sequence == word


def test_stream_with_unknown_model_fails_before_the_stream(claude: anthropic.Anthropic) -> None:
    """A rejected streaming request is a plain 404 JSON answer, raised by the stream helper."""
    with (
        pytest.raises(anthropic.NotFoundError) as caught,
        claude.messages.stream(model="no-such-model", max_tokens=10, messages=HELLO) as stream,
    ):
        stream.get_final_message()
    assert caught.value.body["error"]["type"] == "not_found_error"


# ---- thinking -----------------------------------------------------------------------------


def test_enabled_thinking_puts_a_signed_thinking_block_first(claude: anthropic.Anthropic) -> None:
    """thinking enabled: content is [thinking (with signature), text]."""
    message = claude.messages.create(
        model="qwen3.6-plus",
        max_tokens=2000,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=HELLO,
    )
    assert [block.type for block in message.content] == ["thinking", "text"]
    thinking = message.content[0]
    assert thinking.type == "thinking"
    assert thinking.thinking.strip()
    assert thinking.signature
    assert message.stop_reason == "end_turn"


def test_thinking_streams_thinking_deltas_then_a_signature(
    token_plan_emulator: RunningEmulator,
) -> None:
    """Block 0 streams thinking_delta..., then one signature_delta just before its stop."""
    body = {
        "model": "glm-5",
        "max_tokens": 2000,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": HELLO,
    }
    once = post_raw(token_plan_emulator, MESSAGES, body).json()
    frames = sse_frames(post_raw(token_plan_emulator, MESSAGES, {**body, "stream": True}).body)
    assert frames[1].data["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    deltas = block_deltas(frames, 0)
    assert [d["type"] for d in deltas[:-1]] == ["thinking_delta"] * (len(deltas) - 1)
    assert deltas[-1] == {"type": "signature_delta", "signature": once["content"][0]["signature"]}
    assert "".join(d["thinking"] for d in deltas[:-1]) == once["content"][0]["thinking"]

    stop_of_0 = next(
        i for i, f in enumerate(frames) if f.event == "content_block_stop" and f.data["index"] == 0
    )
    assert frames[stop_of_0 - 1].data["delta"]["type"] == "signature_delta"
    assert frames[stop_of_0 + 1].data["content_block"] == {"type": "text", "text": ""}
    text = "".join(d["text"] for d in block_deltas(frames, 1))
    assert text == once["content"][1]["text"]


def test_stream_helper_assembles_thinking_and_signature(claude: anthropic.Anthropic) -> None:
    """The SDK's stream helper reports thinking and signature events and a complete block."""
    kwargs: dict[str, Any] = {
        "model": "glm-5",
        "max_tokens": 2000,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "messages": HELLO,
    }
    once = claude.messages.create(**kwargs)
    with claude.messages.stream(**kwargs) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert "thinking" in kinds and "signature" in kinds and "text" in kinds
    assert kinds.index("signature") < kinds.index("text")
    assert final.content[0].to_dict() == once.content[0].to_dict()
    assert final.content[1].to_dict() == once.content[1].to_dict()


@pytest.mark.parametrize(
    ("model", "thinking", "thinks"),
    [
        ("glm-5", None, False),
        ("glm-5", {"type": "disabled"}, False),
        ("glm-5", {"type": "adaptive"}, True),
        ("qwen3.6-plus", {"type": "adaptive"}, True),
        ("qwen3.6-plus", {"type": "disabled"}, False),
        ("MiniMax-M2.5", None, True),
        ("MiniMax-M2.5", {"type": "disabled"}, True),
        ("MiniMax-M2.5", {"type": "enabled", "budget_tokens": 2048}, True),
    ],
)
def test_thinking_modes(
    claude: anthropic.Anthropic, model: str, thinking: dict[str, Any] | None, thinks: bool
) -> None:
    """disabled/absent: no thinking block on hybrid models; adaptive thinks; MiniMax always."""
    extra: dict[str, Any] = {} if thinking is None else {"thinking": thinking}
    message = claude.messages.create(model=model, max_tokens=2000, messages=HELLO, **extra)
    kinds = [block.type for block in message.content]
    assert kinds == (["thinking", "text"] if thinks else ["text"])
    if thinks:
        assert message.content[0].signature


@pytest.mark.parametrize("budget", [0, -5, 81921])
def test_thinking_budget_out_of_range_is_a_400(claude: anthropic.Anthropic, budget: int) -> None:
    """qwen3.6-plus allows a thinking budget up to 81920: DashScope's message otherwise."""
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(
            model="qwen3.6-plus",
            max_tokens=1000,
            thinking={"type": "enabled", "budget_tokens": budget},
            messages=HELLO,
        )
    assert caught.value.body["error"] == {
        "type": "invalid_request_error",
        "message": "<400> InternalError.Algo.InvalidParameter: The thinking_budget parameter "
        "must be a positive integer and not greater than 81920",
    }


def test_thinking_budget_at_the_model_limit_is_accepted(claude: anthropic.Anthropic) -> None:
    """budget_tokens == 81920 on qwen3.6-plus is allowed."""
    message = claude.messages.create(
        model="qwen3.6-plus",
        max_tokens=1000,
        thinking={"type": "enabled", "budget_tokens": 81920},
        messages=HELLO,
    )
    assert message.content[0].type == "thinking"


# ---- tools --------------------------------------------------------------------------------


def test_auto_tool_choice_calls_a_tool_with_valid_input(claude: anthropic.Anthropic) -> None:
    """tools + auto on a user turn: a tool_use block whose input validates, stop_reason tool_use."""
    message = claude.messages.create(
        model="glm-5",
        max_tokens=1000,
        tools=[WEATHER_TOOL, TIME_TOOL],
        messages=[{"role": "user", "content": "What is the get_weather in Paris?"}],
    )
    assert message.stop_reason == "tool_use"
    calls = [block for block in message.content if block.type == "tool_use"]
    assert len(calls) == 1
    call = calls[0]
    assert call.name == "get_weather"  # the tool the user mentioned
    assert re.fullmatch(r"\w+_[0-9a-f]{24}", call.id)
    validate(call.input, WEATHER_TOOL["input_schema"])


@pytest.mark.parametrize("choice", [{"type": "any"}, {"type": "tool", "name": "get_time"}])
def test_forced_tool_choice_always_calls(
    claude: anthropic.Anthropic, choice: dict[str, Any]
) -> None:
    """any / tool(name) force a call, even after a tool result; `tool` picks that tool."""
    history: list[dict[str, Any]] = [
        {"role": "user", "content": "Say hi."},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_time",
                    "input": {"timezone": "UTC"},
                }
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "12:00"}],
        },
    ]
    auto = claude.messages.create(
        model="glm-5", max_tokens=1000, tools=[WEATHER_TOOL, TIME_TOOL], messages=history
    )
    assert auto.stop_reason == "end_turn"  # auto: a tool result is answered in text
    message = claude.messages.create(
        model="glm-5",
        max_tokens=1000,
        tools=[WEATHER_TOOL, TIME_TOOL],
        tool_choice=choice,
        messages=history,
    )
    assert message.stop_reason == "tool_use"
    call = message.content[-1]
    assert call.type == "tool_use"
    if choice["type"] == "tool":
        assert call.name == "get_time"
    schema = WEATHER_TOOL if call.name == "get_weather" else TIME_TOOL
    validate(call.input, schema["input_schema"])


def test_tool_choice_none_answers_in_text(claude: anthropic.Anthropic) -> None:
    """tool_choice none: no tool_use block, end_turn."""
    message = claude.messages.create(
        model="glm-5",
        max_tokens=1000,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "none"},
        messages=[{"role": "user", "content": "What is the get_weather in Paris?"}],
    )
    assert [block.type for block in message.content] == ["text"]
    assert message.stop_reason == "end_turn"


def test_tool_choice_naming_an_unknown_tool_is_a_400(claude: anthropic.Anthropic) -> None:
    """tool_choice {type: tool} must name one of `tools`."""
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(
            model="glm-5",
            max_tokens=100,
            tools=[WEATHER_TOOL],
            tool_choice={"type": "tool", "name": "nope"},
            messages=HELLO,
        )
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert "nope" in caught.value.body["error"]["message"]


def test_streamed_tool_input_reassembles_to_the_non_streamed_input(
    token_plan_emulator: RunningEmulator,
) -> None:
    """input_json_delta fragments (the first may be "") join to the one-shot tool input."""
    body = {
        "model": "glm-5",
        "max_tokens": 1000,
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "tool", "name": "get_weather"},
        "messages": [{"role": "user", "content": "Weather in Oslo, please."}],
    }
    once = post_raw(token_plan_emulator, MESSAGES, body).json()
    frames = sse_frames(post_raw(token_plan_emulator, MESSAGES, {**body, "stream": True}).body)
    call = once["content"][0]
    assert call["type"] == "tool_use"
    assert frames[1].data["content_block"] == {
        "type": "tool_use",
        "id": call["id"],
        "name": "get_weather",
        "input": {},
    }
    deltas = block_deltas(frames, 0)
    assert {d["type"] for d in deltas} == {"input_json_delta"}
    assert len(deltas) > 2
    assert json.loads("".join(d["partial_json"] for d in deltas)) == call["input"]
    assert frames[-2].data["delta"]["stop_reason"] == "tool_use"
    assert frames[-2].data["usage"]["output_tokens"] == once["usage"]["output_tokens"]


def test_stream_helper_parses_tool_input(claude: anthropic.Anthropic) -> None:
    """The SDK's partial-JSON accumulation yields the same dict as the one-shot call."""
    kwargs: dict[str, Any] = {
        "model": "MiniMax-M2.5",
        "max_tokens": 2000,
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "any"},
        "messages": [{"role": "user", "content": "Weather in Lima?"}],
    }
    once = claude.messages.create(**kwargs)
    with claude.messages.stream(**kwargs) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "tool_use"]
    assert final.content[1].input == once.content[1].input
    validate(final.content[1].input, WEATHER_TOOL["input_schema"])


def test_tool_round_trip_ends_in_a_text_answer(claude: anthropic.Anthropic) -> None:
    """tool_use -> tool_result -> a text answer with end_turn (thinking blocks sent back too)."""
    history: list[dict[str, Any]] = [
        {"role": "user", "content": "Use get_weather: what's the weather in Rome?"}
    ]
    first = claude.messages.create(
        model="MiniMax-M2.5", max_tokens=2000, tools=[WEATHER_TOOL], messages=history
    )
    assert first.stop_reason == "tool_use"
    call = next(block for block in first.content if block.type == "tool_use")
    history += [
        {"role": "assistant", "content": first.content},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": call.id,
                    "content": [{"type": "text", "text": "22 degrees, sunny"}],
                }
            ],
        },
    ]
    second = claude.messages.create(
        model="MiniMax-M2.5", max_tokens=2000, tools=[WEATHER_TOOL], messages=history
    )
    assert second.stop_reason == "end_turn"
    assert [block.type for block in second.content] == ["thinking", "text"]
    assert second.usage.input_tokens > first.usage.input_tokens


# ---- count_tokens and ?beta=true ---------------------------------------------------------


def test_count_tokens_equals_the_messages_input_tokens(claude: anthropic.Anthropic) -> None:
    """count_tokens on the same body reports the input_tokens the message call reports."""
    body: dict[str, Any] = {
        "model": "qwen3.6-plus",
        "system": "You are helpful.",
        "tools": [WEATHER_TOOL, TIME_TOOL],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        ],
    }
    counted = claude.messages.count_tokens(**body)
    message = claude.messages.create(max_tokens=2000, **body)
    assert counted.input_tokens == message.usage.input_tokens
    assert counted.input_tokens > 50  # the tool definitions count


def test_count_tokens_raw_body_is_only_input_tokens(token_plan_emulator: RunningEmulator) -> None:
    """The wire body is exactly {"input_tokens": N}, without max_tokens in the request."""
    body = {"model": "glm-5", "messages": HELLO}
    counted = post_raw(token_plan_emulator, COUNT_TOKENS, body)
    sent = post_raw(token_plan_emulator, MESSAGES, {**body, "max_tokens": 64}).json()
    assert counted.status == 200
    assert counted.headers["content-type"] == "application/json"
    assert counted.body == b'{"input_tokens":%d}' % sent["usage"]["input_tokens"]


def test_count_tokens_with_an_unknown_model_is_a_404(claude: anthropic.Anthropic) -> None:
    """count_tokens checks the model like the messages endpoint does."""
    with pytest.raises(anthropic.NotFoundError) as caught:
        claude.messages.count_tokens(model="deepseek-v3.2", messages=HELLO)
    assert caught.value.body["error"] == {
        "type": "not_found_error",
        "message": "model 'deepseek-v3.2' not found or not supported",
    }


@pytest.mark.parametrize("path", [MESSAGES, COUNT_TOKENS])
def test_beta_query_is_accepted_on_both_endpoints(
    token_plan_emulator: RunningEmulator, path: str
) -> None:
    """Claude Code appends `?beta=true`; both endpoints answer it as without."""
    body = {"model": "glm-5", "max_tokens": 64, "messages": HELLO}
    plain = post_raw(token_plan_emulator, path, body)
    beta = post_raw(token_plan_emulator, path + "?beta=true", body)
    assert plain.status == beta.status == 200
    if path == COUNT_TOKENS:
        assert beta.body == plain.body
    else:
        assert beta.json()["content"] == plain.json()["content"]
        assert beta.json()["usage"] == plain.json()["usage"]


def test_sdk_beta_messages_with_beta_query(claude: anthropic.Anthropic) -> None:
    """`client.beta.messages` (plus `?beta=true`, as Claude Code sends it) works end to end."""
    raw = claude.beta.messages.with_raw_response.create(
        model="glm-5",
        max_tokens=64,
        messages=HELLO,
        betas=["interleaved-thinking-2025-05-14"],
        extra_query={"beta": "true"},
    )
    assert raw.http_request.url.params["beta"] == "true"
    assert raw.parse().stop_reason in ("end_turn", "max_tokens")
    counted = claude.beta.messages.count_tokens(
        model="glm-5", messages=HELLO, extra_query={"beta": "true"}
    )
    assert counted.input_tokens == raw.parse().usage.input_tokens


# ---- a Claude Code-like request -----------------------------------------------------------


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _claude_code_tools() -> list[dict[str, Any]]:
    """~30 tools shaped like Claude Code's built-ins and typical MCP servers."""
    s: dict[str, Any] = {"type": "string"}
    tools: list[dict[str, Any]] = [
        {
            "name": "Bash",
            "description": "Executes a bash command in a persistent shell session.",
            "input_schema": _object(
                {
                    "command": {"type": "string", "description": "The command to execute"},
                    "timeout": {"type": "number", "maximum": 600000},
                    "description": s,
                    "run_in_background": {"type": "boolean"},
                },
                ["command"],
            ),
        },
        {
            "name": "Read",
            "description": "Reads a file from the local filesystem.",
            "input_schema": _object(
                {
                    "file_path": s,
                    "offset": {"type": "number"},
                    "limit": {"type": "number", "exclusiveMinimum": 0},
                },
                ["file_path"],
            ),
        },
        {
            "name": "Write",
            "description": "Writes a file to the local filesystem.",
            "input_schema": _object({"file_path": s, "content": s}, ["file_path", "content"]),
        },
        {
            "name": "Edit",
            "description": "Performs exact string replacements in files.",
            "input_schema": _object(
                {
                    "file_path": s,
                    "old_string": s,
                    "new_string": s,
                    "replace_all": {"type": "boolean", "default": False},
                },
                ["file_path", "old_string", "new_string"],
            ),
        },
        {
            "name": "MultiEdit",
            "description": "Several edits to one file.",
            "input_schema": _object(
                {
                    "file_path": s,
                    "edits": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "properties": {
                                "old_string": s,
                                "new_string": s,
                                "replace_all": {"type": "boolean"},
                            },
                            "required": ["old_string", "new_string"],
                            "additionalProperties": False,
                        },
                    },
                },
                ["file_path", "edits"],
            ),
        },
        {
            "name": "Glob",
            "description": "Fast file pattern matching.",
            "input_schema": _object({"pattern": s, "path": s}, ["pattern"]),
        },
        {
            "name": "Grep",
            "description": "A powerful search tool built on ripgrep.",
            "input_schema": _object(
                {
                    "pattern": s,
                    "path": s,
                    "glob": s,
                    "output_mode": {
                        "type": "string",
                        "enum": ["content", "files_with_matches", "count"],
                    },
                    "-B": {"type": "number"},
                    "-A": {"type": "number"},
                    "-n": {"type": "boolean"},
                    "-i": {"type": "boolean"},
                    "type": s,
                    "head_limit": {"type": "number"},
                    "multiline": {"type": "boolean"},
                },
                ["pattern"],
            ),
        },
        {
            "name": "LS",
            "description": "Lists files and directories.",
            "input_schema": _object({"path": s, "ignore": {"type": "array", "items": s}}, ["path"]),
        },
        {
            "name": "WebFetch",
            "description": "Fetches content from a URL.",
            "input_schema": _object(
                {"url": {"type": "string", "format": "uri"}, "prompt": s}, ["url", "prompt"]
            ),
        },
        {
            "name": "WebSearch",
            "description": "Searches the web.",
            "input_schema": _object(
                {
                    "query": {"type": "string", "minLength": 2},
                    "allowed_domains": {"type": "array", "items": s},
                    "blocked_domains": {"type": "array", "items": s},
                },
                ["query"],
            ),
        },
        {
            "name": "TodoWrite",
            "description": "Create and manage a structured task list.",
            "input_schema": _object(
                {
                    "todos": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "content": {"type": "string", "minLength": 1},
                                "status": {
                                    "type": "string",
                                    "enum": ["pending", "in_progress", "completed"],
                                },
                                "activeForm": {"type": "string", "minLength": 1},
                            },
                            "required": ["content", "status", "activeForm"],
                            "additionalProperties": False,
                        },
                    }
                },
                ["todos"],
            ),
        },
        {
            "name": "Task",
            "description": "Launch a new agent to handle a complex task.",
            "input_schema": _object(
                {"description": s, "prompt": s, "subagent_type": s},
                ["description", "prompt", "subagent_type"],
            ),
        },
        {
            "name": "NotebookEdit",
            "description": "Replaces the contents of a Jupyter notebook cell.",
            "input_schema": _object(
                {
                    "notebook_path": s,
                    "cell_id": s,
                    "new_source": s,
                    "cell_type": {"type": "string", "enum": ["code", "markdown"]},
                    "edit_mode": {"type": "string", "enum": ["replace", "insert", "delete"]},
                },
                ["notebook_path", "new_source"],
            ),
        },
        {
            "name": "ExitPlanMode",
            "description": "Leave plan mode.",
            "input_schema": _object({"plan": s}, ["plan"]),
        },
        {
            "name": "BashOutput",
            "description": "Output of a background shell.",
            "input_schema": _object({"bash_id": s, "filter": s}, ["bash_id"]),
        },
        {
            "name": "KillShell",
            "description": "Kills a background shell.",
            "input_schema": _object({"shell_id": s}, ["shell_id"]),
        },
        {
            "name": "SlashCommand",
            "description": "Execute a slash command.",
            "input_schema": _object({"command": s}, ["command"]),
        },
        {
            "name": "AskUserQuestion",
            "description": "Ask the user multiple-choice questions.",
            "input_schema": _object(
                {
                    "questions": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 4,
                        "items": {
                            "type": "object",
                            "properties": {
                                "question": s,
                                "header": {"type": "string", "maxLength": 12},
                                "multiSelect": {"type": "boolean"},
                                "options": {
                                    "type": "array",
                                    "minItems": 2,
                                    "maxItems": 4,
                                    "items": {
                                        "type": "object",
                                        "properties": {"label": s, "description": s},
                                        "required": ["label", "description"],
                                    },
                                },
                            },
                            "required": ["question", "header", "options", "multiSelect"],
                        },
                    }
                },
                ["questions"],
            ),
        },
        {
            "name": "Skill",
            "description": "Run a skill.",
            "input_schema": _object({"command": s}, ["command"]),
        },
    ]
    mcp: list[tuple[str, dict[str, Any], list[str]]] = [
        ("mcp__github__create_issue", {"owner": s, "repo": s, "title": s, "body": s}, ["title"]),
        (
            "mcp__github__list_pull_requests",
            {
                "owner": s,
                "repo": s,
                "state": {"type": "string", "enum": ["open", "closed", "all"]},
                "per_page": {"type": "integer", "minimum": 1, "maximum": 100},
            },
            ["owner", "repo"],
        ),
        (
            "mcp__github__get_file_contents",
            {"owner": s, "repo": s, "path": s, "ref": {"anyOf": [s, {"type": "null"}]}},
            ["owner", "repo", "path"],
        ),
        (
            "mcp__linear__create_issue",
            {
                "title": s,
                "teamId": {"type": "string", "format": "uuid"},
                "priority": {"type": "integer", "enum": [0, 1, 2, 3, 4]},
                "labels": {"type": "array", "items": s, "uniqueItems": True},
            },
            ["title", "teamId"],
        ),
        (
            "mcp__postgres__query",
            {"sql": s, "params": {"type": "array", "items": {"type": ["string", "number"]}}},
            ["sql"],
        ),
        (
            "mcp__slack__post_message",
            {"channel_id": s, "text": {"type": "string", "maxLength": 4000}},
            ["channel_id", "text"],
        ),
        (
            "mcp__filesystem__search_files",
            {"path": s, "pattern": s, "excludePatterns": {"type": "array", "items": s}},
            ["path", "pattern"],
        ),
        (
            "mcp__calendar__create_event",
            {
                "summary": s,
                "start": {"type": "string", "format": "date-time"},
                "end": {"type": "string", "format": "date-time"},
                "attendees": {"type": "array", "items": {"type": "string", "format": "email"}},
            },
            ["summary", "start", "end"],
        ),
        (
            "mcp__sentry__get_issue",
            {"issue_id": s, "include": {"type": "object", "additionalProperties": s}},
            ["issue_id"],
        ),
        (
            "mcp__browser__click",
            {
                "selector": s,
                "button": {"const": "left"},
                "x": {"type": "number", "minimum": 0},
                "y": {"type": "number", "minimum": 0},
            },
            ["selector"],
        ),
        (
            "mcp__memory__store",
            {
                "key": s,
                "value": {"type": "object", "properties": {"text": s}, "required": ["text"]},
                "ttl_seconds": {"type": "integer", "multipleOf": 60, "minimum": 60},
            },
            ["key", "value"],
        ),
    ]
    for name, properties, required in mcp:
        tools.append(
            {
                "name": name,
                "description": f"MCP tool {name.split('__')[-1]}.",
                "input_schema": _object(properties, required),
            }
        )
    return tools


CLAUDE_CODE_TOOLS = _claude_code_tools()


def _claude_code_body() -> dict[str, Any]:
    """A request shaped like Claude Code's: big cached system, ~30 tools, thinking history."""
    guidance = "".join(
        f"{n}. When working on the repository, read files before editing them, keep changes "
        f"minimal and run the test suite; never commit secrets (rule {n}).\n"
        for n in range(1, 301)
    )
    return {
        "model": "qwen3.6-plus",
        "max_tokens": 32000,
        "temperature": 1,
        "stream": True,
        "metadata": {"user_id": "user_0123abcd_account__session_4e5f6a7b-0000-4000-8000-1234"},
        "thinking": {"type": "adaptive"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "high"},
        "system": [
            {
                "type": "text",
                "text": "You are Claude Code, Anthropic's official CLI for Claude.",
                "cache_control": {"type": "ephemeral"},
            },
            {"type": "text", "text": guidance, "cache_control": {"type": "ephemeral"}},
        ],
        "tools": [
            *CLAUDE_CODE_TOOLS[:-1],
            {**CLAUDE_CODE_TOOLS[-1], "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [
            {"role": "system", "content": "The user's working directory is /repo."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>Context loaded.</system-reminder>"},
                    {"type": "text", "text": "List the files, please."},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "thinking",
                        "thinking": "The user wants a listing; LS is the right tool.",
                        "signature": "EqQBCkYIBxgCKkDx0123456789abcdef",
                    },
                    {"type": "text", "text": "Listing the repository."},
                    {
                        "type": "tool_use",
                        "id": "toolu_01A09q90qw90lq917835lq9",
                        "name": "LS",
                        "input": {"path": "/repo"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
                        "content": "- /repo/\n  - README.md\n  - src/\n  - tests/\n",
                    }
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT"},
                    {"type": "text", "text": "There are README.md, src/ and tests/."},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "Now read the README.",
                        "cache_control": {"type": "ephemeral"},
                    }
                ],
            },
        ],
    }


CLAUDE_CODE_HEADERS = {
    "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14,"
    "prompt-caching-scope-2026-01-05,effort-2025-11-24",
    "anthropic-dangerous-direct-browser-access": "true",
    "User-Agent": "claude-cli/2.1.74 (external, cli)",
    "x-app": "cli",
    "x-stainless-lang": "js",
    "x-stainless-package-version": "0.74.0",
    "X-Claude-Code-Session-Id": "4e5f6a7b-0000-4000-8000-123456789abc",
}


def test_claude_code_like_request_streams_to_completion(
    token_plan_emulator: RunningEmulator,
) -> None:
    """Claude Code's request (tens of KB, ~30 tools, betas, unknown fields, thinking history,
    a system-role message, ?beta=true) streams a complete, well-formed answer."""
    body = _claude_code_body()
    encoded = json.dumps(body).encode()
    assert len(encoded) > 30_000
    assert len(body["tools"]) >= 30
    response = post_raw(token_plan_emulator, MESSAGES + "?beta=true", encoded, CLAUDE_CODE_HEADERS)
    assert response.status == 200, response.body[:500]
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = sse_frames(response.body)
    events = [f.event for f in frames]
    assert events[0] == "message_start" and events[-2:] == ["message_delta", "message_stop"]
    assert all(f.data["type"] == f.event for f in frames)
    starts = [f.data["content_block"] for f in frames if f.event == "content_block_start"]
    assert starts[0]["type"] == "thinking"  # adaptive thinking on a hybrid model
    assert starts[-1]["type"] == "tool_use"  # tools + a fresh user turn: the model acts
    tool = next(t for t in CLAUDE_CODE_TOOLS if t["name"] == starts[-1]["name"])
    arguments = "".join(
        d["partial_json"] for d in block_deltas(frames, len(starts) - 1) if "partial_json" in d
    )
    validate(json.loads(arguments), tool["input_schema"])
    assert frames[-2].data["delta"]["stop_reason"] == "tool_use"
    # The last user turn carries a cache_control marker, so the whole prompt is cache creation
    # (or a cache read): Anthropic's `input_tokens` counts only what follows the last marker.
    opening = frames[0].data["message"]["usage"]
    assert (
        opening["input_tokens"]
        + opening["cache_creation_input_tokens"]
        + opening["cache_read_input_tokens"]
        > 5_000
    )

    counted = post_raw(
        token_plan_emulator, COUNT_TOKENS + "?beta=true", encoded, CLAUDE_CODE_HEADERS
    )
    assert counted.status == 200
    usage = frames[-2].data["usage"]
    total_input = (
        usage["input_tokens"]
        + usage["cache_creation_input_tokens"]
        + usage["cache_read_input_tokens"]
    )
    assert counted.json() == {"input_tokens": total_input}


def test_claude_code_like_request_through_the_sdk_stream_helper(
    claude: anthropic.Anthropic,
) -> None:
    """The same request through `client.beta.messages.stream` parses into a final message."""
    body = _claude_code_body()
    del body["stream"]
    known = ("model", "max_tokens", "metadata", "system", "tools", "messages")
    kwargs = {k: body.pop(k) for k in known}
    with claude.beta.messages.stream(
        **kwargs,
        betas=["claude-code-20250219", "interleaved-thinking-2025-05-14"],
        extra_query={"beta": "true"},
        extra_body=body,  # temperature, adaptive thinking, context_management, output_config
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "tool_use"]
    assert final.content[0].signature
    assert final.stop_reason == "tool_use"


@pytest.mark.parametrize("tool", CLAUDE_CODE_TOOLS, ids=lambda t: t["name"])
def test_every_claude_code_tool_gets_schema_valid_input(
    claude: anthropic.Anthropic, tool: dict[str, Any]
) -> None:
    """Forced calls of each realistic tool produce input that validates against its schema."""
    message = claude.messages.create(
        model="glm-5",
        max_tokens=4000,
        tools=CLAUDE_CODE_TOOLS,
        tool_choice={"type": "tool", "name": tool["name"]},
        messages=[{"role": "user", "content": f"Use {tool['name']} now."}],
    )
    call = message.content[-1]
    assert call.type == "tool_use" and call.name == tool["name"]
    validate(call.input, tool["input_schema"])


# ---- models on this endpoint ---------------------------------------------------------------


@pytest.mark.parametrize("model", ["deepseek-v3.2", "GLM-5", "qwen-image-2.0", "claude-sonnet-4"])
def test_models_not_served_here_are_404(claude: anthropic.Anthropic, model: str) -> None:
    """OpenAI-only, wrong-case, image and unknown models: NotFoundError, not_found_error."""
    with pytest.raises(anthropic.NotFoundError) as caught:
        claude.messages.create(model=model, max_tokens=64, messages=HELLO)
    error = caught.value
    assert error.status_code == 404
    assert error.body == {
        "type": "error",
        "error": {
            "type": "not_found_error",
            "message": f"model '{model}' not found or not supported",
        },
        "request_id": error.response.headers["x-request-id"],
    }


@pytest.mark.parametrize("model", ["qwen3.6-plus", "glm-5", "MiniMax-M2.5"])
def test_every_anthropic_model_answers(claude: anthropic.Anthropic, model: str) -> None:
    """The three launch models that speak the Anthropic protocol answer, echoing their id."""
    message = claude.messages.create(model=model, max_tokens=2000, messages=HELLO)
    assert message.model == model
    assert message.stop_reason == "end_turn"


# ---- authentication -------------------------------------------------------------------------


def _x_api_key_client(emulator: RunningEmulator) -> anthropic.Anthropic:
    """A client that sends the key only as `x-api-key`, as Anthropic's own API expects.

    The header is set directly: older SDKs send `api_key=` as `X-Api-Key`, but the installed
    2.x line sends it as `Authorization: Bearer` (which this endpoint accepts)."""
    return anthropic.Anthropic(
        base_url=emulator.anthropic_base_url,
        default_headers={"x-api-key": emulator.api_key},
        max_retries=0,
    )


@pytest.mark.usefixtures("no_sdk_credentials")
def test_x_api_key_alone_is_refused_by_default(token_plan_emulator: RunningEmulator) -> None:
    """By default the gateway ignores x-api-key: 401 with DashScope's FLAT body."""
    with pytest.raises(anthropic.AuthenticationError) as caught:
        _x_api_key_client(token_plan_emulator).messages.create(
            model="glm-5", max_tokens=64, messages=HELLO
        )
    error = caught.value
    assert error.request.headers["x-api-key"] == token_plan_emulator.api_key
    assert "authorization" not in error.request.headers
    assert error.status_code == 401
    assert error.body == {
        "code": "InvalidApiKey",
        "message": "No API-key provided.",
        "request_id": error.response.headers["x-request-id"],
    }


def test_x_api_key_alone_on_the_wire_gets_the_flat_401(
    token_plan_emulator: RunningEmulator,
) -> None:
    """The raw bytes: a flat body, not the Anthropic envelope, on both endpoints."""
    for path in (MESSAGES, COUNT_TOKENS):
        response = post_raw(
            token_plan_emulator,
            path,
            {"model": "glm-5", "max_tokens": 64, "messages": HELLO},
            {"x-api-key": token_plan_emulator.api_key},
            bearer=False,
        )
        request_id = response.headers["x-request-id"]
        assert response.status == 401
        assert response.body == (
            b'{"code":"InvalidApiKey","message":"No API-key provided.","request_id":"%s"}'
            % request_id.encode()
        )


@pytest.mark.usefixtures("no_sdk_credentials")
def test_x_api_key_is_accepted_when_configured(
    emulator_factory: Callable[..., RunningEmulator],
) -> None:
    """accept_x_api_key=True: the same x-api-key-only client gets its message."""
    emulator = emulator_factory(accept_x_api_key=True)
    message = _x_api_key_client(emulator).messages.create(
        model="glm-5", max_tokens=64, messages=HELLO
    )
    assert message.type == "message"


def test_valid_bearer_wins_over_any_x_api_key(token_plan_emulator: RunningEmulator) -> None:
    """A valid Bearer key authenticates even with a bogus x-api-key alongside."""
    client = anthropic.Anthropic(
        **token_plan_emulator.anthropic_kwargs(
            max_retries=0, default_headers={"x-api-key": "sk-ant-not-a-dashscope-key"}
        )
    )
    raw = client.messages.with_raw_response.create(model="glm-5", max_tokens=64, messages=HELLO)
    assert raw.http_request.headers["x-api-key"] == "sk-ant-not-a-dashscope-key"
    assert raw.http_request.headers["authorization"] == f"Bearer {token_plan_emulator.api_key}"
    assert raw.parse().stop_reason in ("end_turn", "max_tokens")


def test_wrong_bearer_key_is_a_flat_401(token_plan_emulator: RunningEmulator) -> None:
    """A key that is not a live Token Plan key: flat InvalidApiKey / Invalid API-key provided."""
    client = anthropic.Anthropic(
        base_url=token_plan_emulator.anthropic_base_url,
        auth_token="sk-sp-00000000000000000000000000000000",
        max_retries=0,
    )
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client.messages.count_tokens(model="glm-5", messages=HELLO)
    assert caught.value.body == {
        "code": "InvalidApiKey",
        "message": "Invalid API-key provided.",
        "request_id": caught.value.response.headers["x-request-id"],
    }


# ---- determinism ----------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_frozen_clock_gives_byte_identical_bodies(
    frozen_emulator: RunningEmulator, stream: bool
) -> None:
    """Same request twice on a frozen clock: identical bytes and identical x-request-id."""
    body = {
        "model": "qwen3.6-plus",
        "max_tokens": 2000,
        "stream": stream,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [WEATHER_TOOL],
        "messages": [{"role": "user", "content": "Weather in Kyoto?"}],
    }
    first = post_raw(frozen_emulator, MESSAGES, body)
    second = post_raw(frozen_emulator, MESSAGES, body)
    assert first.status == second.status == 200
    assert first.body == second.body
    assert first.headers["x-request-id"] == second.headers["x-request-id"]
    assert first.headers["date"] == "Fri, 01 May 2026 00:00:00 GMT"


def test_frames_are_written_without_buffering(frozen_emulator: RunningEmulator) -> None:
    """The stream is chunked (SSE passed through unbuffered), never a Content-Length body."""
    response = post_raw(
        frozen_emulator,
        MESSAGES,
        {"model": "glm-5", "max_tokens": 100, "stream": True, "messages": HELLO},
    )
    assert response.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.headers


# ---- other documented 400s ----------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_input_over_the_model_limit_is_a_400(claude: anthropic.Anthropic, stream: bool) -> None:
    """glm-5 takes at most 202752 input tokens: DashScope's input-length message, before any
    stream starts (so the stream helper raises too)."""
    text = " x" * 203_000  # " x" is one token
    assert tokens.count(text) == 203_000
    huge = [{"role": "user", "content": text}]
    with pytest.raises(anthropic.BadRequestError) as caught:
        if stream:
            with claude.messages.stream(model="glm-5", max_tokens=64, messages=huge) as events:
                events.get_final_message()
        else:
            claude.messages.create(model="glm-5", max_tokens=64, messages=huge)
    assert caught.value.body["error"] == {
        "type": "invalid_request_error",
        "message": "<400> InternalError.Algo.InvalidParameter: "
        "Range of input length should be [1, 202752]",
    }


@pytest.mark.parametrize(
    ("field", "value", "bounds"),
    [("temperature", 2.0, "[0.0, 2.0)"), ("top_p", 0, "(0.0, 1.0]"), ("top_p", 1.5, "(0.0, 1.0]")],
)
def test_sampling_parameters_out_of_range_are_400(
    claude: anthropic.Anthropic, field: str, value: float, bounds: str
) -> None:
    """temperature and top_p use DashScope's ranges and `Range of ... should be ...` wording."""
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(
            model="glm-5", max_tokens=64, messages=HELLO, extra_body={field: value}
        )
    assert caught.value.body["error"] == {
        "type": "invalid_request_error",
        "message": "<400> InternalError.Algo.InvalidParameter: "
        f"Range of {field} should be {bounds}",
    }


def test_body_that_is_not_json_is_a_400_in_the_anthropic_envelope(
    token_plan_emulator: RunningEmulator,
) -> None:
    """Broken JSON after authentication is answered in this protocol's envelope."""
    response = post_raw(token_plan_emulator, MESSAGES, b'{"model": "glm-5", ')
    assert response.status == 400
    assert response.json() == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "<400> InternalError.Algo.InvalidParameter: "
            "The request body is not valid JSON.",
        },
        "request_id": response.headers["x-request-id"],
    }
