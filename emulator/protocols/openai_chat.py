"""OpenAI-compatible chat completions, as DashScope writes them (docs/sources.md)."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

from emulator.catalog import TextModel
from emulator.engine.types import (
    ChatRequest,
    ChatResult,
    Completion,
    Message,
    ResponseFormat,
    Role,
    ToolCall,
    ToolChoice,
    ToolSpec,
    Usage,
)
from emulator.errors import ApiError, invalid
from emulator.json_text import string as _string
from emulator.protocols import fields
from emulator.protocols.fields import compact
from emulator.protocols.frames import SLOT, Template
from emulator.protocols.meta import ResponseMeta

ARGUMENT_FRAGMENT = 16  # characters of tool-call arguments per streamed fragment
_SLOT = compact(SLOT)  # SLOT as the encoder writes it: where a template is cut
_ROLES: dict[str, Role] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
    "function": "tool",
}

# The sampling parameters only checked for their range (the fake model does not sample).
_SAMPLING = frozenset(("temperature", "top_p", "presence_penalty", "frequency_penalty"))
AUTO = ToolChoice("auto")  # the defaults, shared (frozen)
TEXT = ResponseFormat()

# ---- parsing ------------------------------------------------------------------------------


def parse(body: dict[str, Any], model: TextModel) -> ChatRequest:
    """A validated neutral request; raises ApiError with the documented message otherwise."""
    messages = _messages(body.get("messages"))
    # An optional field is checked only when the body has it (absent reads as null, which
    # every check passes): most requests name few of them. The checks keep their order, so
    # a body with several faults is refused for the same one.
    tools = _tools(body["tools"]) if "tools" in body else ()
    tool_choice = _tool_choice(body["tool_choice"], tools) if "tool_choice" in body else AUTO

    max_tokens = None
    if "max_tokens" in body:
        max_tokens = fields.int_in(body, "max_tokens", 1, model.max_tokens_limit)
    if max_tokens is None and "max_completion_tokens" in body:
        max_tokens = fields.int_in(body, "max_completion_tokens", 1, model.max_tokens_limit)
    n = (fields.int_in(body, "n", 1, 4) if "n" in body else None) or 1
    seed = fields.seed(body) if "seed" in body else None
    if not _SAMPLING.isdisjoint(body):
        fields.number_in(body, "temperature", 0.0, 2.0, bounds="[0.0, 2.0)", open_high=True)
        fields.number_in(body, "top_p", 0.0, 1.0, bounds="(0.0, 1.0]", open_low=True)
        fields.number_in(body, "presence_penalty", -2.0, 2.0, bounds="[-2.0, 2.0]")
        fields.number_in(body, "frequency_penalty", -2.0, 2.0, bounds="[-2.0, 2.0]")
    stop = fields.string_list(body["stop"], "stop") if "stop" in body else ()
    stream = fields.boolean(body, "stream") if "stream" in body else False
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise fields.type_error("stream_options", "Object")
    include_usage = stream and fields.boolean(options or {}, "include_usage")

    thinking, budget = _thinking(body, model)
    response_format = TEXT
    if "response_format" in body:
        response_format = _response_format(body["response_format"], messages, thinking)
    parallel_tool_calls = "parallel_tool_calls" in body and fields.boolean(
        body, "parallel_tool_calls"
    )
    # (positional, in ChatRequest's field order: keywords would cost a dict built and unpacked
    # on every request; tests/test_records.py holds the order)
    return ChatRequest(
        "openai",  # protocol
        model,
        messages,
        tools,
        tool_choice,
        model.output_cap(max_tokens),  # max_tokens
        False,  # max_tokens_cover_thinking: OpenAI's max_tokens caps the answer alone
        stop,
        n,
        seed,
        thinking,
        budget,  # thinking_budget
        response_format,
        stream,
        include_usage,
        parallel_tool_calls,
    )


def _messages(raw: Any) -> tuple[Message, ...]:
    if raw is None:
        raise invalid("'messages' is required")
    if not isinstance(raw, list) or not raw:
        raise invalid("'messages' must be a non-empty list")
    messages: list[Message] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise fields.type_error(f"messages[{index}]", "Object")
        name = item.get("role")
        role = _ROLES.get(name) if isinstance(name, str) else None
        if role is None:
            raise invalid(
                f"'messages[{index}].role' must be one of system, user, assistant, tool",
            )
        content = item.get("content")
        if isinstance(content, str):  # the usual message: no parts, so no images or marker
            text, images, marked = content, 0, False
        else:
            text, images = fields.text_of(content, f"messages[{index}].content")
            marked = fields.has_cache_marker(content)
        raw_calls = item.get("tool_calls")
        calls = _history_calls(raw_calls, index) if raw_calls is not None else ()
        call_id = item.get("tool_call_id")
        messages.append(
            Message(
                role, text, calls, call_id if isinstance(call_id, str) else None, images, marked
            )
        )
    return tuple(messages)


def _history_calls(raw: Any, index: int) -> tuple[ToolCall, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise fields.type_error(f"messages[{index}].tool_calls", "Array")
    calls = []
    for call in raw:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise invalid(f"'messages[{index}].tool_calls' entries need a function name")
        arguments = function.get("arguments")
        calls.append(
            ToolCall(
                id=str(call.get("id") or ""),
                name=function["name"],
                arguments=arguments if isinstance(arguments, str) else json.dumps(arguments),
            )
        )
    return tuple(calls)


def _tools(raw: Any) -> tuple[ToolSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise fields.type_error("tools", "Array")
    tools = []
    for index, tool in enumerate(raw):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise invalid(f"'tools[{index}].function.name' is required")
        schema = function.get("parameters")
        tools.append(
            ToolSpec(
                name=function["name"],
                description=str(function.get("description") or ""),
                schema=schema if isinstance(schema, dict) else {"type": "object"},
            )
        )
    return tuple(tools)


def _tool_choice(raw: Any, tools: tuple[ToolSpec, ...]) -> ToolChoice:
    if raw is None or raw == "auto":
        return AUTO
    if raw in ("none", "required"):
        return ToolChoice(raw)
    if isinstance(raw, dict):
        function = raw.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if isinstance(name, str):
            if not any(t.name == name for t in tools):
                raise invalid(f"tool_choice names '{name}', which is not in 'tools'")
            return ToolChoice("named", name)
    raise invalid("'tool_choice' must be none, auto, required or a function")


def _thinking(body: dict[str, Any], model: TextModel) -> tuple[bool, int | None]:
    asked = body.get("enable_thinking")
    if asked is not None and not isinstance(asked, bool):
        raise fields.type_error("enable_thinking", "Boolean")
    if model.thinking == "only" and asked is False:
        raise ApiError("thinking_required")
    thinking = model.thinking == "only" or (
        model.thinking == "hybrid" and (model.thinking_default if asked is None else asked)
    )
    budget = None
    if model.thinking == "hybrid" and body.get("thinking_budget") is not None:
        budget = body.get("thinking_budget")
        if (
            isinstance(budget, bool)
            or not isinstance(budget, int)
            or not 0 < budget <= model.max_thinking_budget
        ):
            raise ApiError("thinking_budget_range", limit=model.max_thinking_budget)
    return thinking, budget


def _response_format(raw: Any, messages: tuple[Message, ...], thinking: bool) -> ResponseFormat:
    if raw is None:
        return TEXT
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind == "text":
        return TEXT
    if kind not in ("json_object", "json_schema"):
        raise invalid(
            "'response_format.type' must be text, json_object or json_schema",
        )
    if thinking:
        raise ApiError("json_with_thinking")
    if kind == "json_object":
        if not any("json" in m.text.lower() for m in messages):
            raise ApiError("json_word_missing")
        return ResponseFormat("json_object")
    spec = raw.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict):
        raise invalid("'response_format.json_schema.schema' is required")
    return ResponseFormat("json_schema", schema)


# ---- rendering ----------------------------------------------------------------------------


def usage_body(usage: Usage, thinking: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": _prompt_details(usage),
    }
    if thinking:
        body["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    return body


def _prompt_details(usage: Usage) -> dict[str, Any]:
    """`cached_tokens` always; explicit-cache requests add the creation counters, in the key
    order of captured DashScope bodies (docs/sources.md), zeros included."""
    details: dict[str, Any] = {"cached_tokens": usage.cached_tokens}
    if usage.cache_explicit:
        details["cache_type"] = "ephemeral"
        details["cache_creation_input_tokens"] = usage.cache_creation_tokens
        details["cache_creation"] = {"ephemeral_5m_input_tokens": usage.cache_creation_tokens}
    return details


def _tool_calls_body(calls: tuple[ToolCall, ...]) -> list[dict[str, Any]]:
    return [
        {
            "index": index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments},
        }
        for index, call in enumerate(calls)
    ]


def completion_body(request: ChatRequest, result: ChatResult, meta: ResponseMeta) -> dict[str, Any]:
    """The non-streaming `chat.completion` object, in DashScope's key order."""
    choices = []
    for index, choice in enumerate(result.choices):
        message: dict[str, Any] = {"content": choice.text}
        if request.thinking:
            message["reasoning_content"] = choice.reasoning
        message["role"] = "assistant"
        if choice.tool_calls:
            message["tool_calls"] = _tool_calls_body(choice.tool_calls)
        choices.append(
            {
                "message": message,
                "finish_reason": choice.finish_reason,
                "index": index,
                "logprobs": None,
            }
        )
    return {
        "model": meta.model,
        "usage": usage_body(result.usage, request.thinking),
        "choices": choices,
        "object": "chat.completion",
        "created": meta.created,
        "system_fingerprint": None,
        "id": f"chatcmpl-{meta.request_id}",
    }


def completion_json(request: ChatRequest, result: ChatResult, meta: ResponseMeta) -> str:
    """compact(completion_body(...)), the same text: the usual answer (one choice of text, no
    thinking, no tool calls, no explicit cache) is written straight into its frame, without
    building the dict and walking it (tests/test_rendering.py holds the two equal)."""
    usage = result.usage
    if len(result.choices) == 1 and not request.thinking and not usage.cache_explicit:
        choice = result.choices[0]
        if not choice.tool_calls:
            return (
                f'{{"model":{_string(meta.model)},"usage":{{"prompt_tokens":{usage.input_tokens},'
                f'"completion_tokens":{usage.output_tokens},'
                f'"total_tokens":{usage.total_tokens},'
                f'"prompt_tokens_details":{{"cached_tokens":{usage.cached_tokens}}}}},'
                f'"choices":[{{"message":{{"content":{_string(choice.text)},"role":"assistant"}},'
                f'"finish_reason":{_string(choice.finish_reason)},"index":0,"logprobs":null}}],'
                f'"object":"chat.completion","created":{meta.created},'
                f'"system_fingerprint":null,"id":{_string("chatcmpl-" + meta.request_id)}}}'
            )
    return compact(completion_body(request, result, meta))


def _chunk(choices: list[dict[str, Any]] | str, meta: ResponseMeta, usage: Any = None) -> bytes:
    chunk = {
        "choices": choices,
        "object": "chat.completion.chunk",
        "usage": usage,
        "created": meta.created,
        "system_fingerprint": None,
        "model": meta.model,
        "id": f"chatcmpl-{meta.request_id}",
    }
    return b"data: " + compact(chunk).encode() + b"\n\n"


def _envelope(meta: ResponseMeta) -> Template:
    """A stream's chunk with a slot for its choices: every chunk of a stream but the usage one
    is this one with other choices, so the rest is rendered once a stream."""
    return Template.of(_chunk(SLOT, meta).decode(), _SLOT)


# The choices of the opening and closing chunks, and of the delta chunks around their piece,
# hold nothing of the request but the choice's index, whether it thinks and how it finished:
# each is rendered once, by the same encoder from the same dicts as a whole chunk was.


@functools.cache
def _opening(index: int, thinking: bool) -> str:
    if thinking:
        role_delta = {"content": None, "role": "assistant", "reasoning_content": ""}
    else:
        role_delta = {"content": "", "role": "assistant"}
    return compact([{"delta": role_delta, "index": index, "logprobs": None, "finish_reason": None}])


@functools.cache
def _closing(index: int, finish_reason: str, calls: bool, thinking: bool) -> str:
    if calls:
        final: dict[str, Any] = {}
    elif thinking:
        final = {"content": "", "reasoning_content": None}
    else:
        final = {"content": ""}
    return compact(
        [{"finish_reason": finish_reason, "delta": final, "index": index, "logprobs": None}]
    )


@functools.cache
def _reasoning_delta(index: int) -> tuple[str, str]:
    choice = {
        "finish_reason": None,
        "logprobs": None,
        "delta": {"content": None, "reasoning_content": SLOT},
        "index": index,
    }
    return _around_slot([choice])


@functools.cache
def _text_delta(index: int, thinking: bool) -> tuple[str, str]:
    choice: dict[str, Any]
    if thinking:
        choice = {
            "finish_reason": None,
            "logprobs": None,
            "delta": {"content": SLOT, "reasoning_content": None},
            "index": index,
        }
    else:
        choice = {
            "finish_reason": None,
            "delta": {"content": SLOT},
            "index": index,
            "logprobs": None,
        }
    return _around_slot([choice])


def _around_slot(choices: list[dict[str, Any]]) -> tuple[str, str]:
    """The choices' text before and after their one SLOT."""
    head, tail = compact(choices).split(_SLOT)
    return head, tail


def _choice_frames(
    index: int, choice: Completion, thinking: bool, envelope: Template
) -> Iterator[bytes]:
    """One choice's chunks: the envelope filled with the choices of each (rendered once, see
    above); the pieces of text and arguments fill a delta chunk made once a choice."""
    yield envelope.fill(_opening(index, thinking))
    # A piece goes in as _string writes it: compact's text for a str, without its encoder.
    reasoning: Template | None = None  # made by the first piece: an empty part costs nothing
    for piece in choice.reasoning_pieces:
        reasoning = reasoning or envelope.around(*_reasoning_delta(index))
        yield reasoning.fill(_string(piece))
    text: Template | None = None
    for piece in choice.text_pieces:
        text = text or envelope.around(*_text_delta(index, thinking))
        yield text.fill(_string(piece))
    for call_index, call in enumerate(choice.tool_calls):
        opening_call = {
            "index": call_index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        yield envelope.fill(
            compact(
                [
                    {
                        "finish_reason": None,
                        "delta": {"tool_calls": [opening_call]},
                        "index": index,
                        "logprobs": None,
                    }
                ]
            )
        )
        fragment = {
            "index": call_index,
            "id": "",
            "type": "function",
            "function": {"arguments": SLOT},
        }
        arguments = envelope.around(
            *_around_slot(
                [
                    {
                        "finish_reason": None,
                        "delta": {"tool_calls": [fragment]},
                        "index": index,
                        "logprobs": None,
                    }
                ]
            )
        )
        for start in range(0, len(call.arguments), ARGUMENT_FRAGMENT):
            yield arguments.fill(_string(call.arguments[start : start + ARGUMENT_FRAGMENT]))
    yield envelope.fill(_closing(index, choice.finish_reason, bool(choice.tool_calls), thinking))


def stream_frames(request: ChatRequest, result: ChatResult, meta: ResponseMeta) -> Iterator[bytes]:
    """Every SSE frame of a streamed completion, `data: [DONE]` last."""
    envelope = _envelope(meta)
    for index, choice in enumerate(result.choices):
        yield from _choice_frames(index, choice, request.thinking, envelope)
    if request.include_usage:
        yield _chunk([], meta, usage_body(result.usage, request.thinking))
    yield b"data: [DONE]\n\n"


def models_body(ids: list[str], created: dict[str, int]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"id": mid, "object": "model", "created": created[mid], "owned_by": "system"}
            for mid in ids
        ],
    }


def error_body(error: ApiError, request_id: str) -> dict[str, Any]:
    return {
        "error": {
            "message": error.message,
            "type": error.kind.openai_type,
            "param": None,  # every captured DashScope error has param null (docs/sources.md)
            "code": error.kind.openai_code,
        },
        "request_id": request_id,
    }


def stream_error_frame(error: ApiError, request_id: str) -> bytes:
    """An error after the stream started: a `data:` frame the SDK raises `APIError` on."""
    return b"data: " + compact(error_body(error, request_id)).encode() + b"\n\n"
