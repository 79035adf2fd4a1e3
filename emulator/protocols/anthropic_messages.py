"""Anthropic-compatible Messages API on /apps/anthropic (docs/sources.md)."""

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

ARGUMENT_FRAGMENT = 16
_SLOT = compact(SLOT)  # SLOT as the encoder writes it: where a template is cut
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
# The sampling parameters only checked for their range (the fake model does not sample).
_SAMPLING = frozenset(("temperature", "top_p", "top_k"))
AUTO = ToolChoice("auto")  # shared (frozen)
TEXT = ResponseFormat()


# ---- parsing ------------------------------------------------------------------------------


def parse(body: dict[str, Any], model: TextModel) -> ChatRequest:
    """A validated neutral request; raises ApiError with the documented message otherwise."""
    if body.get("max_tokens") is None:
        raise invalid("max_tokens: Field required")
    max_tokens = fields.int_in(body, "max_tokens", 1, model.max_tokens_limit)
    # An optional field is read only when the body names it (most name few), in the order
    # the checks always had: a body with several faults is refused for the same one.
    system = _system(body["system"]) if "system" in body else ()
    messages = _messages(body.get("messages"))
    if system:
        messages = (*system, *messages)
    tools = _tools(body["tools"]) if "tools" in body else ()
    tool_choice = _tool_choice(body["tool_choice"], tools) if "tool_choice" in body else AUTO
    if not _SAMPLING.isdisjoint(body):  # checked only when named (absent passes), in order
        fields.number_in(body, "temperature", 0.0, 2.0, bounds="[0.0, 2.0)", open_high=True)
        fields.number_in(body, "top_p", 0.0, 1.0, bounds="(0.0, 1.0]", open_low=True)
        fields.integer(body, "top_k")
    thinking, budget = _thinking(body.get("thinking"), model)
    stop = (
        fields.string_list(body["stop_sequences"], "stop_sequences")
        if "stop_sequences" in body
        else ()
    )
    stream = "stream" in body and fields.boolean(body, "stream")
    # (positional, in ChatRequest's field order: keywords would cost a dict built and unpacked
    # on every request; tests/test_records.py holds the order)
    return ChatRequest(
        "anthropic",  # protocol
        model,
        messages,
        tools,
        tool_choice,
        model.output_cap(max_tokens),  # max_tokens
        True,  # max_tokens_cover_thinking: Anthropic's max_tokens caps thinking + answer
        stop,
        1,  # n
        None,  # seed
        thinking,
        budget,  # thinking_budget
        TEXT,  # response_format
        stream,
    )


def parse_for_count(body: dict[str, Any], model: TextModel) -> ChatRequest:
    """count_tokens takes the same body without `max_tokens`."""
    return parse({**body, "max_tokens": 1, "stream": False}, model)


def _system(raw: Any) -> tuple[Message, ...]:
    if raw is None:
        return ()
    text, _ = fields.text_of(raw, "system")
    return (Message("system", text, cache_marked=fields.has_cache_marker(raw)),)


def _messages(raw: Any) -> tuple[Message, ...]:
    if raw is None:
        raise invalid("messages: Field required")
    if not isinstance(raw, list) or not raw:
        raise invalid("'messages' must be a non-empty list")
    out: list[Message] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise fields.type_error(f"messages[{index}]", "Object")
        role = item.get("role")
        content = item.get("content")
        if role not in ("user", "assistant", "system"):
            raise invalid(f"'messages[{index}].role' must be one of user, assistant")
        if isinstance(content, str) or content is None:
            out.append(Message(role, content or ""))
            continue
        if not isinstance(content, list):
            raise fields.type_error(f"messages[{index}].content", "a string or a list of blocks")
        out.extend(_blocks(role, content, index))
    return tuple(out)


def _blocks(role: Any, blocks: list[Any], index: int) -> list[Message]:
    """One Anthropic message as neutral messages: tool results first, then the rest."""
    results: list[Message] = []
    texts: list[str] = []
    calls: list[ToolCall] = []
    images = 0
    for block in blocks:
        if not isinstance(block, dict):
            raise fields.type_error(f"messages[{index}].content", "a list of blocks")
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind in ("image", "video", "document"):
            images += 1
        elif kind == "tool_use":
            calls.append(
                ToolCall(
                    id=str(block.get("id") or ""),
                    name=str(block.get("name") or ""),
                    arguments=compact(block.get("input") or {}),
                )
            )
        elif kind == "tool_result":
            text, more = fields.text_of(block.get("content"), f"messages[{index}].content")
            results.append(
                Message("tool", text, tool_call_id=str(block.get("tool_use_id") or ""), images=more)
            )
        # thinking, redacted_thinking and other block types are accepted and ignored
    marked = fields.has_cache_marker(blocks)
    rest = [Message(role, "\n".join(texts), tuple(calls), images=images, cache_marked=marked)]
    if results and not texts and not calls and not images:
        return results
    return [*results, *rest]


def _tools(raw: Any) -> tuple[ToolSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise fields.type_error("tools", "Array")
    tools = []
    for index, tool in enumerate(raw):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise invalid(f"tools.{index}.name: Field required")
        if tool.get("type") not in (None, "custom"):
            continue  # server tools (web search, ...) are not run by this service: ignored
        schema = tool.get("input_schema")
        tools.append(
            ToolSpec(
                name=tool["name"],
                description=str(tool.get("description") or ""),
                schema=schema if isinstance(schema, dict) else {"type": "object"},
                cache_marked=isinstance(tool.get("cache_control"), dict),
            )
        )
    return tuple(tools)


def _tool_choice(raw: Any, tools: tuple[ToolSpec, ...]) -> ToolChoice:
    if raw is None:
        return AUTO
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind in ("auto", "none"):
        return ToolChoice(kind)
    if kind == "any":
        return ToolChoice("required")
    if kind == "tool" and isinstance(raw.get("name"), str):
        if not any(t.name == raw["name"] for t in tools):
            raise invalid(f"tool_choice names '{raw['name']}', which is not in 'tools'")
        return ToolChoice("named", raw["name"])
    raise invalid("tool_choice.type must be one of auto, any, tool, none")


def _thinking(raw: Any, model: TextModel) -> tuple[bool, int | None]:
    """`enabled` with a budget, `adaptive` (the model's own budget), `disabled`; absent means
    off, except on thinking-only models, which always think."""
    if raw is None:
        return model.thinking == "only", None
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind == "disabled":
        return model.thinking == "only", None
    if kind == "adaptive":
        return model.thinking != "none", None
    if kind != "enabled":
        raise invalid("thinking.type must be one of enabled, disabled, adaptive")
    budget = raw.get("budget_tokens")
    if (
        isinstance(budget, bool)
        or not isinstance(budget, int)
        or not 0 < budget <= model.max_thinking_budget
    ):
        raise ApiError("thinking_budget_range", limit=model.max_thinking_budget)
    return model.thinking != "none", budget


# ---- rendering ----------------------------------------------------------------------------


def usage_body(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens - usage.cached_tokens - usage.cache_creation_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_creation_tokens,
        "cache_read_input_tokens": usage.cached_tokens,
    }


def _stop(choice: Completion) -> tuple[str, str | None]:
    if choice.stop_sequence is not None:
        return "stop_sequence", choice.stop_sequence
    return _STOP_REASONS[choice.finish_reason], None


def _content(choice: Completion) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if choice.reasoning:
        blocks.append(
            {"type": "thinking", "thinking": choice.reasoning, "signature": choice.signature}
        )
    if choice.text:
        blocks.append({"type": "text", "text": choice.text})
    for call in choice.tool_calls:
        blocks.append(
            {
                "type": "tool_use",
                "id": call.id,
                "name": call.name,
                "input": json.loads(call.arguments),
            }
        )
    return blocks


def message_body(result: ChatResult, meta: ResponseMeta) -> dict[str, Any]:
    choice = result.choices[0]
    stop_reason, stop_sequence = _stop(choice)
    return _message(meta, _content(choice), stop_reason, stop_sequence, usage_body(result.usage))


def _message(
    meta: ResponseMeta,
    content: list[dict[str, Any]],
    stop_reason: str | None,
    stop_sequence: str | None,
    usage: dict[str, Any],
) -> dict[str, Any]:
    return {
        "id": f"msg_{meta.request_id}",
        "type": "message",
        "role": "assistant",
        "model": meta.model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage,
    }


def message_json(result: ChatResult, meta: ResponseMeta) -> str:
    """compact(message_body(...)), the same text: the usual answer (one text block, no
    thinking, no tool use, no stop sequence) is written straight into its frame
    (tests/test_rendering.py holds the two equal)."""
    choice = result.choices[0]
    plain = not choice.reasoning and not choice.tool_calls and choice.stop_sequence is None
    if choice.text and plain:
        usage = result.usage
        fresh = usage.input_tokens - usage.cached_tokens - usage.cache_creation_tokens
        return (
            f'{{"id":{_string("msg_" + meta.request_id)},"type":"message",'
            f'"role":"assistant","model":{_string(meta.model)},'
            f'"content":[{{"type":"text","text":{_string(choice.text)}}}],'
            f'"stop_reason":{_string(_STOP_REASONS[choice.finish_reason])},'
            f'"stop_sequence":null,"usage":{{"input_tokens":{fresh},'
            f'"output_tokens":{usage.output_tokens},'
            f'"cache_creation_input_tokens":{usage.cache_creation_tokens},'
            f'"cache_read_input_tokens":{usage.cached_tokens}}}}}'
        )
    return compact(message_body(result, meta))


def _frame(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {compact(data)}\n\n".encode()


# The frames that hold nothing of the request but a block's index and kind, rendered once by
# the same encoder from the same dicts (the frames of a tool_use block hold its id and name).
_PING = _frame("ping", {"type": "ping"})
_MESSAGE_STOP = _frame("message_stop", {"type": "message_stop"})
_DELTA_FIELDS = {"thinking": "thinking_delta", "text": "text_delta", "tool_use": "input_json_delta"}
_DELTA_SLOTS = {"thinking": "thinking", "text": "text", "tool_use": "partial_json"}


@functools.cache
def _delta_template(index: int, kind: str) -> Template:
    """The `content_block_delta` frame of a block of `kind` with a slot for its piece: the
    pieces fill it, as the generic encoder would write them."""
    delta = {"type": _DELTA_FIELDS[kind], _DELTA_SLOTS[kind]: SLOT}
    frame = {"type": "content_block_delta", "index": index, "delta": delta}
    return Template.of(_frame("content_block_delta", frame).decode(), _SLOT)


@functools.cache
def _plain_block_start(index: int, kind: str) -> bytes:
    """`content_block_start` of a thinking or text block."""
    if kind == "thinking":
        start: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
    else:
        start = {"type": "text", "text": ""}
    return _block_start(index, start)


def _block_start(index: int, content_block: dict[str, Any]) -> bytes:
    return _frame(
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": content_block},
    )


@functools.cache
def _block_stop(index: int) -> bytes:
    return _frame("content_block_stop", {"type": "content_block_stop", "index": index})


def _deltas(index: int, block: dict[str, Any], choice: Completion) -> Iterator[bytes]:
    """A block's delta frames, made as they are written (a long answer is never held twice)."""
    kind = block["type"]
    template = _delta_template(index, kind)
    if kind == "thinking":
        for piece in choice.reasoning_pieces:
            yield template.fill(_string(piece))
        delta = {"type": "signature_delta", "signature": choice.signature}
        yield _frame(
            "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        )
    elif kind == "text":
        for piece in choice.text_pieces:
            yield template.fill(_string(piece))
    else:
        arguments = compact(block["input"])
        yield template.fill(_string(""))
        for i in range(0, len(arguments), ARGUMENT_FRAGMENT):
            yield template.fill(_string(arguments[i : i + ARGUMENT_FRAGMENT]))


def _block_frames(index: int, block: dict[str, Any], choice: Completion) -> Iterator[bytes]:
    kind = block["type"]
    if kind == "tool_use":
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        yield _block_start(index, start)
    else:
        yield _plain_block_start(index, kind)
    if index == 0:
        yield _PING
    yield from _deltas(index, block, choice)
    yield _block_stop(index)


def stream_frames(result: ChatResult, meta: ResponseMeta) -> Iterator[bytes]:
    """Every SSE frame of a streamed message: named events, cumulative usage last."""
    choice = result.choices[0]
    usage = usage_body(result.usage)
    opening = _message(meta, [], None, None, {**usage, "output_tokens": 0})  # nothing said yet
    yield _frame("message_start", {"type": "message_start", "message": opening})
    for index, block in enumerate(_content(choice)):
        yield from _block_frames(index, block, choice)
    stop_reason, stop_sequence = _stop(choice)
    yield _frame(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
            "usage": usage,
        },
    )
    yield _MESSAGE_STOP


def count_tokens_body(input_tokens: int) -> dict[str, Any]:
    return {"input_tokens": input_tokens}


def error_body(error: ApiError, request_id: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": error.kind.anthropic_type, "message": error.message},
        "request_id": request_id,
    }


def stream_error_frame(error: ApiError, request_id: str) -> bytes:
    return _frame("error", error_body(error, request_id))
