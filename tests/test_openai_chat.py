"""The OpenAI-compatible endpoint (`/compatible-mode/v1`) as tools see it.

Each test talks to a real emulator over HTTP, through the official `openai` SDK (sync, async,
streaming helpers) or through raw HTTP where the exact bytes matter (docs/sources.md).
Error messages are the documented ones (docs/sources.md, data/errors.yaml).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import jsonschema
import openai
import pytest
from pydantic import BaseModel

from emulator.engine import tokens
from emulator.harness import RunningEmulator
from emulator.server import OPENAI_BASE
from tests.conftest import FROZEN_AT, FROZEN_EPOCH
from tests.test_model_catalog import CURRENT

HELLO = [{"role": "user", "content": "Hello"}]
# the current catalogue (docs/fidelity.md, "Model catalogue") and the image models
CATALOGUE = {*CURRENT, "qwen-image-2.0", "qwen-image-2.0-pro", "wan2.7-image", "wan2.7-image-pro"}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CALL_ID = re.compile(r"^call_[0-9a-f]{24}$")
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
ALGO = "<400> InternalError.Algo.InvalidParameter: "
COMPLETION_KEYS = ["model", "usage", "choices", "object", "created", "system_fingerprint", "id"]
CHUNK_KEYS = ["choices", "object", "usage", "created", "system_fingerprint", "model", "id"]

# A tool schema with the features real tool definitions use: nesting, arrays, enums, integer
# and number bounds, required keys, closed objects, nullable types and a $ref into $defs.
BOOKING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "$defs": {
        "guest": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "age": {"type": "integer", "minimum": 0, "maximum": 120},
                "email": {"type": "string", "format": "email"},
            },
            "required": ["name", "age"],
            "additionalProperties": False,
        }
    },
    "properties": {
        "city": {"type": "string"},
        "nights": {"type": "integer", "minimum": 1, "maximum": 14},
        "room": {"type": "string", "enum": ["single", "double", "suite"]},
        "guests": {
            "type": "array",
            "items": {"$ref": "#/$defs/guest"},
            "minItems": 1,
            "maxItems": 4,
        },
        "budget": {
            "type": "object",
            "properties": {
                "currency": {"type": "string", "enum": ["USD", "EUR", "CNY"]},
                "max_per_night": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
            },
            "required": ["currency", "max_per_night"],
            "additionalProperties": False,
        },
        "breakfast": {"type": "boolean"},
        "notes": {"type": ["string", "null"], "maxLength": 200},
        "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True, "maxItems": 3},
    },
    "required": ["city", "nights", "room", "guests", "budget"],
    "additionalProperties": False,
}
WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["C", "F"]}},
    "required": ["city"],
}


def function_tool(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": schema},
    }


TOOLS = [
    function_tool("book_hotel", BOOKING_SCHEMA, "Book a hotel room."),
    function_tool("get_weather", WEATHER_SCHEMA, "Current weather in a city."),
]


def validate(instance: Any, schema: dict[str, Any]) -> None:
    """Validate with the independent `jsonschema` library, formats included."""
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    validator.validate(instance)


# ---- raw HTTP -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """A response as it came off the wire (body de-chunked, nothing else touched)."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def raw(emulator: RunningEmulator, method: str, path: str, body: Any = None) -> Raw:
    """One request to `/compatible-mode/v1{path}` with the seat's Bearer key."""
    url = urllib.parse.urlsplit(emulator.url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    headers = {"Authorization": f"Bearer {emulator.api_key}"}
    payload = None
    if body is not None:
        payload = json.dumps(body, ensure_ascii=False).encode()
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, OPENAI_BASE + path, body=payload, headers=headers)
        response = connection.getresponse()
        return Raw(response.status, response.headers, response.read())
    finally:
        connection.close()


def chat(emulator: RunningEmulator, **body: Any) -> Raw:
    return raw(emulator, "POST", "/chat/completions", body)


def sse_chunks(body: bytes) -> list[dict[str, Any]]:
    """The JSON chunks of an SSE body, checking the framing on the way: only `data: ` lines,
    one per frame, frames separated by a blank line, `data: [DONE]` last."""
    assert body.endswith(b"\n\n")
    frames = body[: -len(b"\n\n")].split(b"\n\n")
    for frame in frames:
        assert frame.startswith(b"data: "), frame
        assert b"\n" not in frame, frame
    assert frames[-1] == b"data: [DONE]"
    assert frames.count(b"data: [DONE]") == 1
    return [json.loads(frame[len(b"data: ") :]) for frame in frames[:-1]]


def joined(chunks: list[dict[str, Any]], key: str, index: int = 0) -> str:
    """The concatenated `delta[key]` strings of choice `index`."""
    return "".join(
        choice["delta"].get(key) or ""
        for chunk in chunks
        for choice in chunk["choices"]
        if choice["index"] == index
    )


# ---- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def frozen_oai(frozen_emulator: RunningEmulator) -> openai.OpenAI:
    return openai.OpenAI(**frozen_emulator.openai_kwargs(max_retries=0))


def bad_request(call: Callable[[], object]) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as caught:
        call()
    return caught.value


def assert_invalid_parameter(error: openai.BadRequestError, message: str) -> None:
    """The envelope every parameter error has: 400, invalid_parameter_error, the exact text."""
    assert error.status_code == 400
    assert error.code == "invalid_parameter_error"
    assert error.type == "invalid_request_error"
    assert error.param is None
    assert isinstance(error.body, dict)
    assert error.body["message"] == message
    assert error.request_id is not None and UUID.match(error.request_id)


# ---- non-streaming ------------------------------------------------------------------------


def test_raw_completion_body_has_dashscope_key_order_and_headers(
    frozen_emulator: RunningEmulator,
) -> None:
    """A non-streamed body is compact JSON in DashScope's key order; its id is `chatcmpl-` plus
    the `x-request-id` header; `created` and `Date` come from the frozen clock."""
    response = chat(frozen_emulator, model="qwen3.6-plus", messages=HELLO)

    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    request_id = response.headers["x-request-id"]
    assert UUID.match(request_id)
    assert response.headers["Date"] == "Fri, 01 May 2026 00:00:00 GMT"
    assert response.headers["Server"] == "istio-envoy"
    assert response.headers["x-dashscope-call-gateway"] == "true"
    assert b": " not in response.body.split(b'"content"')[0]  # compact separators

    body = response.json()
    assert list(body) == COMPLETION_KEYS
    assert body["id"] == f"chatcmpl-{request_id}"
    assert body["model"] == "qwen3.6-plus"
    assert body["object"] == "chat.completion"
    assert body["created"] == FROZEN_EPOCH
    assert body["system_fingerprint"] is None
    assert "request_id" not in body
    [choice] = body["choices"]
    assert list(choice) == ["message", "finish_reason", "index", "logprobs"]
    assert list(choice["message"]) == ["content", "reasoning_content", "role"]
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] == "stop"
    assert choice["index"] == 0
    assert choice["logprobs"] is None


def test_usage_adds_up_and_reports_reasoning_tokens_only_when_thinking(
    frozen_emulator: RunningEmulator,
) -> None:
    """`total_tokens` is prompt + completion; `cached_tokens` is always there; the reasoning
    count appears only for a thinking answer and is part of `completion_tokens`."""
    thinking = chat(frozen_emulator, model="qwen3.6-plus", messages=HELLO).json()
    usage = thinking["usage"]
    assert list(usage) == [
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "prompt_tokens_details",
        "completion_tokens_details",
    ]
    # 3 per request + 4 per message + "Hello" ("Hell", "o"): the documented counting rule.
    assert usage["prompt_tokens"] == 9
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0}
    message = thinking["choices"][0]["message"]
    reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
    assert reasoning == tokens.count(message["reasoning_content"]) > 0
    assert usage["completion_tokens"] == reasoning + tokens.count(message["content"])

    plain = chat(frozen_emulator, model="deepseek-v3.2", messages=HELLO).json()
    assert "completion_tokens_details" not in plain["usage"]
    assert "reasoning_content" not in plain["choices"][0]["message"]
    assert plain["usage"]["completion_tokens"] == tokens.count(
        plain["choices"][0]["message"]["content"]
    )
    assert plain["usage"]["total_tokens"] == 9 + plain["usage"]["completion_tokens"]


def test_sdk_completion_matches_the_headers(frozen_oai: openai.OpenAI) -> None:
    """Through the SDK: the id carries the request id, `created` is the frozen epoch, usage parses
    into the SDK's types."""
    reply = frozen_oai.chat.completions.create(model="deepseek-v3.2", messages=HELLO)

    assert reply.id == f"chatcmpl-{reply._request_id}"
    assert reply.created == FROZEN_EPOCH
    assert reply.object == "chat.completion"
    assert reply.model == "deepseek-v3.2"
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == 9
    assert reply.usage.total_tokens == 9 + reply.usage.completion_tokens
    assert reply.usage.prompt_tokens_details is not None
    assert reply.usage.prompt_tokens_details.cached_tokens == 0
    assert reply.usage.completion_tokens_details is None
    assert reply.choices[0].message.content
    assert reply.choices[0].message.tool_calls is None


def test_system_developer_roles_and_content_parts_are_accepted(oai: openai.OpenAI) -> None:
    """System and developer messages and a list of text parts are all part of the prompt."""
    reply = oai.chat.completions.create(
        model="glm-5",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": "Answer in English."},
            {
                "role": "user",
                "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}],
            },
        ],
        extra_body={"enable_thinking": False},
    )
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    # 3 + 3 messages x 4 + "Be brief." (4) + "Answer in English." (6) + "Hi\nthere" (3)
    assert reply.usage.prompt_tokens == 28


def test_client_extras_are_accepted_and_change_nothing(oai: openai.OpenAI) -> None:
    """Fields Qwen Code sends (`metadata`, `preserve_thinking`, `vl_high_resolution_images`,
    `cache_control` on parts) and unknown fields are never rejected and change nothing but
    the explicit-cache usage details `cache_control` asks for (docs/sources.md)."""
    question = "Summarise the plan."
    plain = oai.chat.completions.create(
        model="qwen3.6-plus", messages=[{"role": "user", "content": question}]
    )
    decorated = oai.chat.completions.create(
        model="qwen3.6-plus",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": question, "cache_control": {"type": "ephemeral"}}
                ],
            }
        ],
        extra_body={
            "metadata": {"sessionId": "s-1", "promptId": "p-1", "channel": "cli"},
            "preserve_thinking": True,
            "vl_high_resolution_images": True,
            "some_future_field": {"x": 1},
        },
    )
    assert decorated.choices[0].message.content == plain.choices[0].message.content
    assert reasoning_of(decorated) == reasoning_of(plain)
    assert decorated.usage is not None and plain.usage is not None
    details = decorated.usage.model_dump(exclude_none=True)["prompt_tokens_details"]
    # explicit mode, but far below the 1,024-token minimum: nothing created, nothing read
    assert details == {
        "cached_tokens": 0,
        "cache_type": "ephemeral",
        "cache_creation_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0},
    }
    assert decorated.usage.model_dump(exclude={"prompt_tokens_details"}) == plain.usage.model_dump(
        exclude={"prompt_tokens_details"}
    )


async def test_concurrent_async_requests_get_their_own_ids(aoai: openai.AsyncOpenAI) -> None:
    """Eight concurrent requests all complete, each with its own request id, and the same
    conversation still gets the same text."""
    replies = await asyncio.gather(
        *(
            aoai.chat.completions.create(
                model="deepseek-v3.2", messages=HELLO, seed=index % 2, max_tokens=12
            )
            for index in range(8)
        )
    )
    assert len({reply.id for reply in replies}) == 8
    assert all(reply.id == f"chatcmpl-{reply._request_id}" for reply in replies)
    texts = [reply.choices[0].message.content for reply in replies]
    assert texts[0::2] == [texts[0]] * 4
    assert texts[1::2] == [texts[1]] * 4
    assert texts[0] != texts[1]


# ---- streaming ----------------------------------------------------------------------------


def test_raw_stream_framing_chunk_order_and_usage_chunk(frozen_emulator: RunningEmulator) -> None:
    """A stream is chunked `text/event-stream;charset=UTF-8` of `data: ` frames: a role chunk
    with empty content, content chunks, a finish chunk, the usage chunk (asked for), `[DONE]`."""
    request = {"model": "deepseek-v3.2", "messages": HELLO}
    response = chat(frozen_emulator, **request, stream=True, stream_options={"include_usage": True})

    assert response.status == 200
    assert response.headers["Content-Type"] == "text/event-stream;charset=UTF-8"
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert b"event:" not in response.body
    chunks = sse_chunks(response.body)
    request_id = response.headers["x-request-id"]
    for chunk in chunks:
        assert list(chunk) == CHUNK_KEYS
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["created"] == FROZEN_EPOCH
        assert chunk["system_fingerprint"] is None
        assert chunk["model"] == "deepseek-v3.2"
        assert chunk["id"] == f"chatcmpl-{request_id}"

    first, *middle, finish, usage = chunks
    assert first["choices"] == [
        {
            "delta": {"content": "", "role": "assistant"},
            "index": 0,
            "logprobs": None,
            "finish_reason": None,
        }
    ]
    assert middle and all(c["choices"][0]["finish_reason"] is None for c in middle)
    assert all(c["usage"] is None for c in [first, *middle, finish])
    assert finish["choices"] == [
        {"finish_reason": "stop", "delta": {"content": ""}, "index": 0, "logprobs": None}
    ]
    assert usage["choices"] == []
    # choice key orders as DashScope's documented chunks have them (docs/sources.md)
    assert list(first["choices"][0]) == ["delta", "index", "logprobs", "finish_reason"]
    assert list(first["choices"][0]["delta"]) == ["content", "role"]
    assert all(
        list(c["choices"][0]) == ["finish_reason", "delta", "index", "logprobs"] for c in middle
    )
    assert list(finish["choices"][0]) == ["finish_reason", "delta", "index", "logprobs"]

    whole = chat(frozen_emulator, **request).json()
    assert joined(chunks, "content") == whole["choices"][0]["message"]["content"]
    assert usage["usage"] == whole["usage"]


def test_stream_has_no_usage_chunk_unless_asked(frozen_emulator: RunningEmulator) -> None:
    """Without `stream_options.include_usage` (or with it false) no chunk carries usage."""
    for options in (None, {"include_usage": False}):
        body: dict[str, Any] = {"model": "glm-5", "messages": HELLO, "stream": True}
        if options is not None:
            body["stream_options"] = options
        chunks = sse_chunks(chat(frozen_emulator, **body).body)
        assert all(chunk["usage"] is None for chunk in chunks)
        assert all(chunk["choices"] for chunk in chunks)
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_aiohttp_reads_the_stream_as_it_arrives(frozen_emulator: RunningEmulator) -> None:
    """A raw aiohttp client sees the same frames, line by line, as the complete body holds."""
    url = frozen_emulator.openai_base_url + "/chat/completions"
    headers = {"Authorization": f"Bearer {frozen_emulator.api_key}"}
    body = {"model": "glm-5", "messages": HELLO, "stream": True}
    lines: list[bytes] = []
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers) as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/event-stream;charset=UTF-8"
        assert response.headers["Transfer-Encoding"] == "chunked"
        async for line in response.content:
            lines.append(line)

    assert b"".join(lines) == chat(frozen_emulator, **body).body
    data = [line for line in lines if line != b"\n"]
    assert all(line.startswith(b"data: ") for line in data)
    assert data[-1] == b"data: [DONE]\n"


def test_sdk_stream_joins_to_the_non_streamed_answer(oai: openai.OpenAI) -> None:
    """The SDK's chunk iterator: the content joins to the non-streamed content and the usage
    chunk is the last one, with no choices."""
    request: dict[str, Any] = {"model": "deepseek-v3.2", "messages": HELLO, "seed": 11}
    whole = oai.chat.completions.create(**request)

    stream = oai.chat.completions.create(
        **request, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage == whole.usage
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert {c.id for c in chunks} == {f"chatcmpl-{stream.response.headers['x-request-id']}"}


def test_sdk_stream_helper_accumulates_the_final_completion(oai: openai.OpenAI) -> None:
    """`client.chat.completions.stream(...)` emits content events and its final completion
    equals the non-streamed one (text, finish reason, usage)."""
    request: dict[str, Any] = {"model": "glm-5", "messages": HELLO, "seed": 5}
    whole = oai.chat.completions.create(**request)

    deltas: list[str] = []
    with oai.chat.completions.stream(**request, stream_options={"include_usage": True}) as stream:
        for event in stream:
            if event.type == "content.delta":
                deltas.append(event.delta)
            if event.type == "content.done":
                assert event.content == whole.choices[0].message.content
        final = stream.get_final_completion()

    assert "".join(deltas) == whole.choices[0].message.content
    assert final.choices[0].message.content == whole.choices[0].message.content
    assert final.choices[0].finish_reason == "stop"
    assert final.usage == whole.usage
    assert getattr(final.choices[0].message, "reasoning_content", None) == getattr(
        whole.choices[0].message, "reasoning_content", None
    )


async def test_async_sdk_streams_and_completes(aoai: openai.AsyncOpenAI) -> None:
    """The async client: a plain completion and a stream of the same request agree."""
    request: dict[str, Any] = {
        "model": "qwen3.6-plus",
        "messages": [{"role": "user", "content": "Write a haiku."}],
    }
    whole = await aoai.chat.completions.create(**request)
    stream = await aoai.chat.completions.create(**request, stream=True)
    content, reasoning = [], []
    async for chunk in stream:
        delta = chunk.choices[0].delta
        content.append(delta.content or "")
        reasoning.append(getattr(delta, "reasoning_content", None) or "")

    assert "".join(content) == whole.choices[0].message.content
    assert "".join(reasoning) == getattr(whole.choices[0].message, "reasoning_content", None)

    async with aoai.chat.completions.stream(**request) as helper:
        final = await helper.get_final_completion()
    assert final.choices[0].message.content == whole.choices[0].message.content


# ---- thinking -----------------------------------------------------------------------------


def reasoning_of(reply: Any) -> str | None:
    """The DashScope `reasoning_content` extra field of the first choice, if sent."""
    return (reply.choices[0].message.model_extra or {}).get("reasoning_content")


def test_qwen_thinks_by_default_and_enable_thinking_false_turns_it_off(
    oai: openai.OpenAI,
) -> None:
    """qwen3.6-plus is hybrid, on by default; `enable_thinking: false` in extra_body removes
    `reasoning_content` and the reasoning token count."""
    on = oai.chat.completions.create(model="qwen3.6-plus", messages=HELLO)
    reasoning = reasoning_of(on)
    assert isinstance(reasoning, str) and reasoning
    assert on.usage is not None and on.usage.completion_tokens_details is not None
    assert on.usage.completion_tokens_details.reasoning_tokens == tokens.count(reasoning)

    off = oai.chat.completions.create(
        model="qwen3.6-plus", messages=HELLO, extra_body={"enable_thinking": False}
    )
    assert "reasoning_content" not in (off.choices[0].message.model_extra or {})
    assert off.usage is not None and off.usage.completion_tokens_details is None
    assert off.choices[0].message.content


def test_deepseek_does_not_think_unless_asked(oai: openai.OpenAI) -> None:
    """deepseek-v3.2 is hybrid, off by default; `enable_thinking: true` turns it on."""
    off = oai.chat.completions.create(model="deepseek-v3.2", messages=HELLO)
    assert reasoning_of(off) is None

    on = oai.chat.completions.create(
        model="deepseek-v3.2", messages=HELLO, extra_body={"enable_thinking": True}
    )
    assert reasoning_of(on)


def test_minimax_is_thinking_only(oai: openai.OpenAI) -> None:
    """MiniMax-M2.5 always thinks and refuses `enable_thinking: false` with the documented
    message."""
    reply = oai.chat.completions.create(model="MiniMax-M2.5", messages=HELLO)
    assert reasoning_of(reply)

    error = bad_request(
        lambda: oai.chat.completions.create(
            model="MiniMax-M2.5", messages=HELLO, extra_body={"enable_thinking": False}
        )
    )
    assert_invalid_parameter(
        error, ALGO + "The value of the enable_thinking parameter is restricted to True."
    )
    assert str(error).startswith("Error code: 400 - ")


@pytest.mark.parametrize(
    ("model", "limit"), [("qwen3.6-plus", 81920), ("glm-5", 32768), ("deepseek-v3.2", 32768)]
)
def test_thinking_budget_above_the_model_max_is_refused(
    oai: openai.OpenAI, model: str, limit: int
) -> None:
    """`thinking_budget` must be in [1, the model's max]; the message names that max; the max
    itself is accepted."""
    for budget in (limit + 1, 0, -5):
        error = bad_request(
            lambda budget=budget: oai.chat.completions.create(
                model=model,
                messages=HELLO,
                extra_body={"enable_thinking": True, "thinking_budget": budget},
            )
        )
        assert_invalid_parameter(
            error,
            ALGO + "The thinking_budget parameter must be a positive integer and not greater "
            f"than {limit}",
        )
    accepted = oai.chat.completions.create(
        model=model, messages=HELLO, extra_body={"enable_thinking": True, "thinking_budget": limit}
    )
    assert reasoning_of(accepted)


def test_thinking_budget_caps_the_reasoning(oai: openai.OpenAI) -> None:
    """A small budget cuts the reasoning to exactly that many tokens; the answer is untouched."""
    reply = oai.chat.completions.create(
        model="qwen3.6-plus", messages=HELLO, extra_body={"thinking_budget": 5}
    )
    assert reply.usage is not None and reply.usage.completion_tokens_details is not None
    assert reply.usage.completion_tokens_details.reasoning_tokens == 5
    assert tokens.count(reasoning_of(reply) or "") == 5
    assert reply.choices[0].finish_reason == "stop"


def test_streamed_reasoning_deltas(frozen_emulator: RunningEmulator) -> None:
    """A thinking stream opens with `content: null, reasoning_content: ""`, sends reasoning
    (content null) before the answer (reasoning null), and ends with `reasoning_content: null`."""
    request = {"model": "qwen3.6-plus", "messages": HELLO}
    chunks = sse_chunks(chat(frozen_emulator, **request, stream=True).body)
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks]

    assert deltas[0] == {"content": None, "role": "assistant", "reasoning_content": ""}
    assert list(deltas[0]) == ["content", "role", "reasoning_content"]
    assert deltas[-1] == {"content": "", "reasoning_content": None}
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    kinds = ["reasoning" if d["content"] is None else "answer" for d in deltas[1:-1]]
    assert kinds == sorted(kinds, reverse=True)  # every reasoning delta before any answer one
    assert "reasoning" in kinds and "answer" in kinds
    for delta in deltas[1:-1]:
        assert (delta["content"] is None) != (delta["reasoning_content"] is None)
    thought = chunks[1]["choices"][0]
    assert list(thought) == ["finish_reason", "logprobs", "delta", "index"]
    assert list(thought["delta"]) == ["content", "reasoning_content"]

    message = chat(frozen_emulator, **request).json()["choices"][0]["message"]
    assert joined(chunks, "reasoning_content") == message["reasoning_content"]
    assert joined(chunks, "content") == message["content"]


# ---- tools --------------------------------------------------------------------------------


def test_auto_tool_call_has_a_call_id_and_schema_valid_arguments(
    emulator_factory: Callable[..., RunningEmulator],
) -> None:
    """With `tool_calls: always` (the scenario setting) and `tool_choice` auto the model calls a
    tool on every user turn: `call_` + 24 hex id, finish reason `tool_calls`, and arguments that
    satisfy the tool's schema for many conversations, both tools among them."""
    always = emulator_factory(clock=FROZEN_AT, tool_calls="always")
    client = openai.OpenAI(**always.openai_kwargs(max_retries=0))
    schemas = {tool["function"]["name"]: tool["function"]["parameters"] for tool in TOOLS}
    called: set[str] = set()
    for seed in range(24):
        reply = client.chat.completions.create(
            model="deepseek-v3.2",
            messages=[{"role": "user", "content": "Plan a weekend away."}],
            tools=TOOLS,  # type: ignore[arg-type]
            seed=seed,
        )
        choice = reply.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.content == ""
        [call] = choice.message.tool_calls or []
        assert call.type == "function"
        assert CALL_ID.match(call.id), call.id
        arguments = json.loads(call.function.arguments)
        validate(arguments, schemas[call.function.name])
        called.add(call.function.name)
    assert called == {"book_hotel", "get_weather"}


def test_rich_schema_arguments_validate_with_jsonschema(frozen_oai: openai.OpenAI) -> None:
    """Named tool choice on the rich schema: nested $ref objects, enums, bounds and required
    keys all hold, across seeds (so optional branches are exercised too)."""
    seen_optional: set[str] = set()
    for seed in range(30):
        reply = frozen_oai.chat.completions.create(
            model="glm-5",
            messages=[{"role": "user", "content": "Book me something nice."}],
            tools=TOOLS,  # type: ignore[arg-type]
            tool_choice={"type": "function", "function": {"name": "book_hotel"}},
            seed=seed,
            extra_body={"enable_thinking": False},
        )
        [call] = reply.choices[0].message.tool_calls or []
        assert call.function.name == "book_hotel"
        arguments = json.loads(call.function.arguments)
        validate(arguments, BOOKING_SCHEMA)
        assert 1 <= len(arguments["guests"]) <= 4
        seen_optional |= set(arguments) & {"breakfast", "notes", "tags"}
    assert seen_optional == {"breakfast", "notes", "tags"}


def test_tool_choice_none_answers_in_text(oai: openai.OpenAI) -> None:
    """`tool_choice: none` keeps the model from calling a tool even though tools are offered."""
    reply = oai.chat.completions.create(
        model="deepseek-v3.2",
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice="none",
    )
    assert reply.choices[0].finish_reason == "stop"
    assert reply.choices[0].message.tool_calls is None
    assert reply.choices[0].message.content


@pytest.mark.parametrize("name", ["book_hotel", "get_weather"])
def test_named_tool_choice_calls_that_tool(oai: openai.OpenAI, name: str) -> None:
    """A named `tool_choice` calls exactly the named function."""
    reply = oai.chat.completions.create(
        model="deepseek-v3.2",
        messages=[{"role": "user", "content": "Go ahead."}],
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice={"type": "function", "function": {"name": name}},
    )
    [call] = reply.choices[0].message.tool_calls or []
    assert call.function.name == name
    assert reply.choices[0].finish_reason == "tool_calls"


def test_named_tool_choice_must_be_offered(oai: openai.OpenAI) -> None:
    """Naming a function that is not in `tools` is a parameter error."""
    error = bad_request(
        lambda: oai.chat.completions.create(
            model="deepseek-v3.2",
            messages=HELLO,
            tools=TOOLS,  # type: ignore[arg-type]
            tool_choice={"type": "function", "function": {"name": "search_web"}},
        )
    )
    assert_invalid_parameter(
        error, ALGO + "tool_choice names 'search_web', which is not in 'tools'"
    )


def test_auto_picks_the_tool_the_user_names(oai: openai.OpenAI) -> None:
    """When the user's message names a tool, auto mode calls that one."""
    for name in ("get_weather", "book_hotel"):
        reply = oai.chat.completions.create(
            model="deepseek-v3.2",
            messages=[{"role": "user", "content": f"Please use {name} for Rome."}],
            tools=TOOLS,  # type: ignore[arg-type]
        )
        [call] = reply.choices[0].message.tool_calls or []
        assert call.function.name == name


def test_tool_result_turn_answers_in_text_unless_required(oai: openai.OpenAI) -> None:
    """After a tool result the model answers in text (auto); `required` still forces a call."""
    first = oai.chat.completions.create(
        model="deepseek-v3.2",
        messages=[{"role": "user", "content": "Use get_weather for Oslo."}],
        tools=TOOLS,  # type: ignore[arg-type]
    )
    [call] = first.choices[0].message.tool_calls or []
    history: list[Any] = [
        {"role": "user", "content": "Use get_weather for Oslo."},
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 4, "sky": "snow"}'},
    ]

    answer = oai.chat.completions.create(model="deepseek-v3.2", messages=history, tools=TOOLS)  # type: ignore[arg-type]
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.tool_calls is None
    assert answer.choices[0].message.content

    forced = oai.chat.completions.create(
        model="deepseek-v3.2",
        messages=history,
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice="required",
    )
    assert forced.choices[0].finish_reason == "tool_calls"
    [again] = forced.choices[0].message.tool_calls or []
    assert CALL_ID.match(again.id) and again.id != call.id


def test_thinking_model_reasons_before_calling_a_tool(oai: openai.OpenAI) -> None:
    """qwen3.6-plus with tools: reasoning content and a tool call in the same message."""
    reply = oai.chat.completions.create(
        model="qwen3.6-plus",
        messages=[{"role": "user", "content": "Weather in Hangzhou?"}],
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert reasoning_of(reply)
    [call] = reply.choices[0].message.tool_calls or []
    validate(json.loads(call.function.arguments), WEATHER_SCHEMA)


def test_streamed_tool_call_fragments_reassemble(frozen_emulator: RunningEmulator) -> None:
    """The stream opens the call with its id, name and empty arguments, sends argument
    fragments with `id: ""`, and ends with an empty delta and `tool_calls`; the fragments join
    to the non-streamed arguments."""
    request = {
        "model": "deepseek-v3.2",
        "messages": [{"role": "user", "content": "Book a hotel in Lisbon."}],
        "tools": TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "book_hotel"}},
    }
    message = chat(frozen_emulator, **request).json()["choices"][0]["message"]
    assert list(message) == ["content", "role", "tool_calls"]
    assert message["content"] == ""
    [expected] = message["tool_calls"]
    assert list(expected) == ["index", "id", "type", "function"]
    assert list(expected["function"]) == ["name", "arguments"]
    chunks = sse_chunks(chat(frozen_emulator, **request, stream=True).body)
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks]

    assert deltas[0] == {"content": "", "role": "assistant"}
    opening = deltas[1]["tool_calls"][0]
    assert opening == {
        "index": 0,
        "id": expected["id"],
        "type": "function",
        "function": {"name": "book_hotel", "arguments": ""},
    }
    fragments = [d["tool_calls"][0] for d in deltas[2:-1]]
    assert len(fragments) > 1
    assert all(f["id"] == "" and f["index"] == 0 and "name" not in f["function"] for f in fragments)
    arguments = "".join(f["function"]["arguments"] for f in fragments)
    assert arguments == expected["function"]["arguments"]
    assert deltas[-1] == {}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_sdk_stream_helper_reassembles_tool_arguments(oai: openai.OpenAI) -> None:
    """The SDK's stream helper rebuilds the same tool call as the non-streamed reply."""
    request: dict[str, Any] = {
        "model": "glm-5",
        "messages": [{"role": "user", "content": "Use book_hotel for Kyoto."}],
        "tools": TOOLS,
        "extra_body": {"enable_thinking": False},
    }
    whole = oai.chat.completions.create(**request)
    arguments_done: list[str] = []
    with oai.chat.completions.stream(**request) as stream:
        for event in stream:
            if event.type == "tool_calls.function.arguments.done":
                arguments_done.append(event.arguments)
        final = stream.get_final_completion()

    [expected] = whole.choices[0].message.tool_calls or []
    [call] = final.choices[0].message.tool_calls or []
    assert (call.id, call.function.name) == (expected.id, "book_hotel")
    assert call.function.arguments == expected.function.arguments
    assert arguments_done == [expected.function.arguments]
    assert final.choices[0].finish_reason == "tool_calls"
    validate(json.loads(call.function.arguments), BOOKING_SCHEMA)


# ---- response_format ----------------------------------------------------------------------


def test_json_object_answer_parses_as_an_object(oai: openai.OpenAI) -> None:
    """`response_format: json_object` (thinking off) returns a JSON object as the content."""
    reply = oai.chat.completions.create(
        model="deepseek-v3.2",
        messages=[{"role": "user", "content": "List three fruits as JSON."}],
        response_format={"type": "json_object"},
    )
    parsed = json.loads(reply.choices[0].message.content or "")
    assert isinstance(parsed, dict) and parsed


def test_json_object_needs_the_word_json(oai: openai.OpenAI) -> None:
    """Without "json" anywhere in the messages json_object mode is refused."""
    error = bad_request(
        lambda: oai.chat.completions.create(
            model="deepseek-v3.2",
            messages=[{"role": "user", "content": "List three fruits."}],
            response_format={"type": "json_object"},
        )
    )
    assert_invalid_parameter(
        error,
        ALGO + "'messages' must contain the word 'json' in some form, to use 'response_format' "
        "of type 'json_object'.",
    )


def test_json_mode_is_refused_while_thinking(oai: openai.OpenAI) -> None:
    """qwen3.6-plus thinks by default, so JSON mode needs `enable_thinking: false`."""
    request: dict[str, Any] = {
        "model": "qwen3.6-plus",
        "messages": [{"role": "user", "content": "Answer in JSON."}],
        "response_format": {"type": "json_object"},
    }
    error = bad_request(lambda: oai.chat.completions.create(**request))
    assert_invalid_parameter(
        error, ALGO + "Json mode response is not supported when enable_thinking is true"
    )
    reply = oai.chat.completions.create(**request, extra_body={"enable_thinking": False})
    assert isinstance(json.loads(reply.choices[0].message.content or ""), dict)


def test_json_schema_answer_validates(oai: openai.OpenAI) -> None:
    """`response_format: json_schema`: the content validates against the given schema."""
    for seed in range(10):
        reply = oai.chat.completions.create(
            model="deepseek-v3.2",
            messages=[{"role": "user", "content": "Fill in a booking."}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "booking", "schema": BOOKING_SCHEMA, "strict": True},
            },
            seed=seed,
        )
        validate(json.loads(reply.choices[0].message.content or ""), BOOKING_SCHEMA)


class Forecast(BaseModel):
    city: str
    unit: Literal["C", "F"]
    highs: list[int]
    rain: bool


def test_sdk_parse_with_a_pydantic_model(oai: openai.OpenAI) -> None:
    """`client.chat.completions.parse(response_format=Model)` gets a parsed instance."""
    reply = oai.chat.completions.parse(
        model="glm-5",
        messages=[{"role": "user", "content": "Forecast for Chengdu."}],
        response_format=Forecast,
        extra_body={"enable_thinking": False},
    )
    parsed = reply.choices[0].message.parsed
    assert isinstance(parsed, Forecast)
    assert parsed.unit in ("C", "F")
    assert Forecast.model_validate_json(reply.choices[0].message.content or "") == parsed


# ---- sampling parameters ------------------------------------------------------------------


def test_n_returns_that_many_distinct_choices(frozen_emulator: RunningEmulator) -> None:
    """n=3 gives choices indexed 0..2 with different texts; usage counts all of them; a stream
    carries each choice under its index."""
    request = {"model": "deepseek-v3.2", "messages": HELLO, "n": 3}
    body = chat(frozen_emulator, **request).json()
    choices = body["choices"]
    assert [c["index"] for c in choices] == [0, 1, 2]
    texts = [c["message"]["content"] for c in choices]
    assert len(set(texts)) == 3
    assert body["usage"]["completion_tokens"] == sum(tokens.count(t) for t in texts)

    chunks = sse_chunks(chat(frozen_emulator, **request, stream=True).body)
    assert {c["choices"][0]["index"] for c in chunks} == {0, 1, 2}
    assert [joined(chunks, "content", index) for index in range(3)] == texts
    finishes = [c["choices"][0] for c in chunks if c["choices"][0]["finish_reason"]]
    assert [(f["index"], f["finish_reason"]) for f in finishes] == [(i, "stop") for i in range(3)]


@pytest.mark.parametrize("n", [0, 5])
def test_n_out_of_range(oai: openai.OpenAI, n: int) -> None:
    """n must be in [1, 4]."""
    error = bad_request(
        lambda: oai.chat.completions.create(model="deepseek-v3.2", messages=HELLO, n=n)
    )
    assert_invalid_parameter(error, ALGO + "Range of n should be [1, 4]")


def test_seed_picks_the_answer(oai: openai.OpenAI) -> None:
    """The same seed gives the same text; another seed another text."""

    def text(seed: int) -> str:
        reply = oai.chat.completions.create(model="deepseek-v3.2", messages=HELLO, seed=seed)
        return reply.choices[0].message.content or ""

    assert text(42) == text(42)
    assert text(42) != text(43)
    assert text(0) != text(2**31 - 1)


@pytest.mark.parametrize(
    ("seed", "message"),
    [
        (-1, "-1 is lesser than the minimum of 0 - 'seed'"),
        (2**31, "2147483648 is greater than the maximum of 2147483647 - 'seed'"),
    ],
)
def test_seed_out_of_range_is_invalid_value(oai: openai.OpenAI, seed: int, message: str) -> None:
    """`seed` outside [0, 2^31-1] is the `invalid_value` error, without the Algo prefix."""
    error = bad_request(
        lambda: oai.chat.completions.create(model="deepseek-v3.2", messages=HELLO, seed=seed)
    )
    assert error.code == "invalid_value"
    assert error.type == "invalid_request_error"
    assert isinstance(error.body, dict)
    assert error.body["message"] == message


def test_stop_cuts_the_answer_before_the_stop_word(frozen_oai: openai.OpenAI) -> None:
    """A word taken from the unstopped answer, sent as `stop`, ends the answer just before its
    first occurrence; with several stops the earliest wins; streaming cuts the same way."""
    request: dict[str, Any] = {"model": "deepseek-v3.2", "messages": HELLO, "seed": 3}
    full = frozen_oai.chat.completions.create(**request).choices[0].message.content or ""
    words = [w.strip(".,") for w in full.split()]
    candidates = [w for w in words if len(w) >= 3 and full.find(w) > 0]
    late, early = candidates[len(candidates) * 3 // 4], candidates[len(candidates) // 3]
    cut = min(full.find(late), full.find(early))
    assert 0 < cut < len(full)

    stopped = frozen_oai.chat.completions.create(**request, stop=late)
    assert stopped.choices[0].message.content == full[: full.find(late)]
    assert stopped.choices[0].finish_reason == "stop"

    both = frozen_oai.chat.completions.create(**request, stop=[late, early])
    assert both.choices[0].message.content == full[:cut]

    stream = frozen_oai.chat.completions.create(**request, stop=[late, early], stream=True)
    chunks = [c for c in stream if c.choices]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == full[:cut]
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_max_tokens_truncates_with_finish_reason_length(oai: openai.OpenAI) -> None:
    """Without thinking, `max_tokens` (or `max_completion_tokens`) cuts the answer to exactly
    that many tokens: a prefix of the full answer, finish reason `length`."""
    request: dict[str, Any] = {"model": "deepseek-v3.2", "messages": HELLO, "seed": 9}
    full = oai.chat.completions.create(**request).choices[0].message.content or ""

    for limit in ({"max_tokens": 7}, {"max_completion_tokens": 7}):
        reply = oai.chat.completions.create(**request, **limit)
        content = reply.choices[0].message.content or ""
        assert reply.choices[0].finish_reason == "length"
        assert reply.usage is not None and reply.usage.completion_tokens == 7
        assert tokens.count(content) == 7
        assert full.startswith(content) and len(content) < len(full)

    roomy = oai.chat.completions.create(**request, max_tokens=65536)
    assert roomy.choices[0].message.content == full
    assert roomy.choices[0].finish_reason == "stop"


def test_max_tokens_caps_only_the_answer_when_thinking(oai: openai.OpenAI) -> None:
    """With thinking on, `max_tokens` caps the answer; the reasoning is counted on top."""
    reply = oai.chat.completions.create(model="qwen3.6-plus", messages=HELLO, max_tokens=4)
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens_details is not None
    reasoning = reply.usage.completion_tokens_details.reasoning_tokens
    assert reasoning is not None and reasoning > 0
    assert reply.usage.completion_tokens == 4 + reasoning


@pytest.mark.parametrize(
    ("model", "limit"),
    [
        ("qwen3.6-plus", 131072),
        ("deepseek-v3.2", 65536),
        ("glm-5", 131072),
        ("MiniMax-M2.5", 32768),
    ],
)
def test_max_tokens_above_the_model_max(oai: openai.OpenAI, model: str, limit: int) -> None:
    """`max_tokens` must be in [1, the model's max_tokens_limit]: its documented max output, or
    (qwen3.6-plus, glm-5) an assumed bound that takes the tools' defaults."""
    for value in (limit + 1, 0):
        error = bad_request(
            lambda value=value: oai.chat.completions.create(
                model=model, messages=HELLO, max_tokens=value
            )
        )
        assert_invalid_parameter(error, ALGO + f"Range of max_tokens should be [1, {limit}]")


@pytest.mark.parametrize("temperature", [2.0, -0.1, 7])
def test_temperature_out_of_range(oai: openai.OpenAI, temperature: float) -> None:
    """`temperature` must be in [0.0, 2.0): 2.0 itself is refused."""
    error = bad_request(
        lambda: oai.chat.completions.create(
            model="deepseek-v3.2", messages=HELLO, temperature=temperature
        )
    )
    assert_invalid_parameter(error, ALGO + "Range of temperature should be [0.0, 2.0)")


@pytest.mark.parametrize("top_p", [0.0, 1.01, -1])
def test_top_p_out_of_range(oai: openai.OpenAI, top_p: float) -> None:
    """`top_p` must be in (0.0, 1.0]: 0 itself is refused."""
    error = bad_request(
        lambda: oai.chat.completions.create(model="deepseek-v3.2", messages=HELLO, top_p=top_p)
    )
    assert_invalid_parameter(error, ALGO + "Range of top_p should be (0.0, 1.0]")


def test_sampling_values_at_the_edges_are_accepted(oai: openai.OpenAI) -> None:
    """The inclusive ends of each range are accepted and change nothing in a seeded answer."""
    plain = oai.chat.completions.create(model="deepseek-v3.2", messages=HELLO, seed=1)
    tuned = oai.chat.completions.create(
        model="deepseek-v3.2",
        messages=HELLO,
        seed=1,
        temperature=0.0,
        top_p=1.0,
        presence_penalty=2.0,
        frequency_penalty=-2.0,
    )
    assert tuned.choices[0].message.content == plain.choices[0].message.content
    also = oai.chat.completions.create(
        model="deepseek-v3.2", messages=HELLO, temperature=1.99, top_p=0.01
    )
    assert also.choices[0].finish_reason == "stop"


def test_stream_request_with_a_bad_parameter_raises_before_streaming(
    oai: openai.OpenAI,
) -> None:
    """A parameter error on a streaming request is a 400 the SDK raises at `create`, with the
    envelope's code parsed."""
    error = bad_request(
        lambda: oai.chat.completions.create(model="deepseek-v3.2", messages=HELLO, n=9, stream=True)
    )
    assert_invalid_parameter(error, ALGO + "Range of n should be [1, 4]")


# ---- determinism --------------------------------------------------------------------------


def test_frozen_clock_gives_byte_identical_responses(frozen_emulator: RunningEmulator) -> None:
    """Under a frozen clock the same request twice gets the same bytes, ids included."""
    request = {"model": "qwen3.6-plus", "messages": HELLO}
    first, second = chat(frozen_emulator, **request), chat(frozen_emulator, **request)
    assert first.body == second.body
    assert first.headers["x-request-id"] == second.headers["x-request-id"]

    streamed = [chat(frozen_emulator, **request, stream=True).body for _ in range(2)]
    assert streamed[0] == streamed[1]


def test_another_emulator_with_the_same_seed_and_clock_answers_the_same(
    frozen_emulator: RunningEmulator,
    emulator_factory: Callable[..., RunningEmulator],
) -> None:
    """Determinism holds across instances: same seed and clock, same bytes; another server seed
    gives another answer (and another request id)."""
    request = {"model": "glm-5", "messages": HELLO}
    reference = chat(frozen_emulator, **request)

    twin = emulator_factory(clock=FROZEN_AT, seed=0)
    assert chat(twin, **request).body == reference.body

    other = chat(emulator_factory(clock=FROZEN_AT, seed=1), **request).json()
    expected = reference.json()
    assert other["created"] == FROZEN_EPOCH
    assert other["id"] != expected["id"]
    assert other["choices"][0]["message"]["content"] != expected["choices"][0]["message"]["content"]


def test_different_conversations_get_different_answers(oai: openai.OpenAI) -> None:
    """The answer depends on the conversation (and the model), not on the time of asking."""

    def text(model: str, prompt: str) -> str:
        reply = oai.chat.completions.create(
            model=model, messages=[{"role": "user", "content": prompt}]
        )
        return reply.choices[0].message.content or ""

    answers = {
        text("deepseek-v3.2", "Hello"),
        text("deepseek-v3.2", "Hello!"),
        text("deepseek-v3.2", "What is a monad?"),
        text("glm-5", "Hello"),
    }
    assert len(answers) == 4
    assert text("deepseek-v3.2", "What is a monad?") == text("deepseek-v3.2", "What is a monad?")


# ---- limits -------------------------------------------------------------------------------


BIG_PROMPT = "The quick brown fox jumps over the lazy dog near the riverbank. " * 8000  # ~512 KB


def test_input_over_the_model_limit_is_refused(oai: openai.OpenAI) -> None:
    """~500 KB of text is over deepseek-v3.2's 98,304-token input limit: the documented 400,
    with the request id in the header and the body."""
    assert len(BIG_PROMPT.encode()) > 500_000
    error = bad_request(
        lambda: oai.chat.completions.create(
            model="deepseek-v3.2", messages=[{"role": "user", "content": BIG_PROMPT}]
        )
    )
    assert_invalid_parameter(error, ALGO + "Range of input length should be [1, 98304]")
    assert isinstance(error.body, dict)
    assert error.response.json()["request_id"] == error.request_id
    assert list(error.response.json()["error"]) == ["message", "type", "param", "code"]


def test_the_same_input_fits_a_bigger_model(oai: openai.OpenAI) -> None:
    """The limit is per model: qwen3.6-plus (983,616 input tokens) takes the same prompt."""
    reply = oai.chat.completions.create(
        model="qwen3.6-plus",
        messages=[{"role": "user", "content": BIG_PROMPT}],
        extra_body={"enable_thinking": False},
    )
    assert reply.usage is not None and 98304 < reply.usage.prompt_tokens <= 983616
    assert reply.choices[0].finish_reason == "stop"


# ---- models -------------------------------------------------------------------------------


def test_raw_models_list_shape(frozen_emulator: RunningEmulator) -> None:
    """GET /models is an OpenAI list of `{id, object, created, owned_by}` entries."""
    response = raw(frozen_emulator, "GET", "/models")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == ["object", "data"]
    assert body["object"] == "list"
    assert {entry["id"] for entry in body["data"]} == CATALOGUE
    for entry in body["data"]:
        assert list(entry) == ["id", "object", "created", "owned_by"]
        assert entry["object"] == "model"
        assert entry["owned_by"] == "system"
        assert isinstance(entry["created"], int)
    created = {entry["id"]: entry["created"] for entry in body["data"]}
    assert created["qwen3.6-plus"] == 1775001600
    assert created["deepseek-v3.2"] == 1774310400


def test_sdk_lists_all_catalogue_models(oai: openai.OpenAI) -> None:
    """`client.models.list()` yields all 20 models of the current catalogue, text and image."""
    models = list(oai.models.list())
    assert {model.id for model in models} == CATALOGUE
    assert all(model.owned_by == "system" for model in models)


# ---- languages ----------------------------------------------------------------------------


def test_cjk_conversation_gets_cjk_text(oai: openai.OpenAI) -> None:
    """A Chinese question gets a Chinese answer (and reasoning); an English one gets none."""
    reply = oai.chat.completions.create(
        model="qwen3.6-plus",
        messages=[{"role": "user", "content": "请用中文介绍一下长城的历史。"}],
    )
    content = reply.choices[0].message.content or ""
    assert len(CJK.findall(content)) > 0.8 * len(content.replace(" ", ""))
    assert not re.search(r"[A-Za-z]", content)
    assert CJK.search(reasoning_of(reply) or "")

    english = oai.chat.completions.create(model="deepseek-v3.2", messages=HELLO)
    assert not CJK.search(english.choices[0].message.content or "")


def test_cjk_text_is_sent_as_utf8_not_escaped(frozen_emulator: RunningEmulator) -> None:
    """The body carries CJK characters as UTF-8 bytes, not `\\u` escapes."""
    response = chat(
        frozen_emulator,
        model="deepseek-v3.2",
        messages=[{"role": "user", "content": "你好，世界"}],
    )
    content = response.json()["choices"][0]["message"]["content"]
    assert CJK.search(content)
    assert content.encode() in response.body
    assert b"\\u" not in response.body
