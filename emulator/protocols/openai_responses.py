"""The OpenAI Responses API on /compatible-mode/v1/responses, as DashScope writes it
(docs/responses-api.md): flat error bodies with the API's own messages, response objects with
their keys in alphabetical order, `msg_<uuid>` item ids, and streams framed as
`id:N` / `event:NAME` / `:HTTP_STATUS/200` / `data:{...}` with no `[DONE]`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import field
from typing import Any

from emulator.catalog import TextModel
from emulator.engine.builtin_tools import ALIASES, ORDER, WEB_EXTRACTOR, WEB_SEARCH, ToolRun
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
    record,
)
from emulator.errors import ApiError
from emulator.json_text import encoder
from emulator.json_text import string as _string
from emulator.protocols import fields
from emulator.protocols.frames import SLOT
from emulator.protocols.meta import ResponseMeta
from emulator.seeds import uuid_shaped

MIN_OUTPUT_TOKENS = 16
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
ARGUMENT_FRAGMENT = 16  # characters of function-call arguments per streamed delta
_ROLES: dict[str, Role] = {
    "user": "user",
    "assistant": "assistant",
    "system": "system",
    "developer": "system",
}


# The usual tool choice and text format, made once: both are frozen, so every request can
# share them (a frozen dataclass costs a few times a plain one's to make).
_AUTO = ToolChoice("auto")
_PLAIN_TEXT = ResponseFormat()


def invalid(detail: str) -> ApiError:
    return ApiError("responses_invalid", detail=detail)


@record  # (one a request: engine/types.py's record)
class ResponsesRequest:
    """A validated Responses API call: the neutral chat, and what the response repeats."""

    chat: ChatRequest
    turn: tuple[Message, ...]  # this call's own input, kept for a later previous_response_id
    builtins: tuple[str, ...]  # built-in tools asked for, by wire name
    store: bool
    echo: dict[str, Any] = field(default_factory=dict)  # request fields the response repeats


# ---- parsing ------------------------------------------------------------------------------


def stream_asked(body: dict[str, Any]) -> bool:
    """Whether the body asks for a stream, read before validation: a refused streamed call is
    still answered as a stream (HTTP 200 and `response.failed`)."""
    return body.get("stream") is True


def previous_id(body: dict[str, Any]) -> Any:
    """The `previous_response_id` the call continues from (None: a new conversation)."""
    if body.get("previous_response_id") is not None and body.get("conversation") is not None:
        raise invalid(
            "Mutually exclusive parameters: Ensure you are only providing one of: "
            "previous_response_id or conversation."
        )
    return body.get("previous_response_id")


def parse(
    body: dict[str, Any], model: TextModel, history: tuple[Message, ...] = ()
) -> ResponsesRequest:
    """A validated request; `history` is the conversation of `previous_response_id`."""
    if body.get("input") is None:
        raise invalid("Missing required parameter: 'input'.")
    turn = _input(body["input"])
    tools, builtins = _tools(body.get("tools"))
    tool_choice = _tool_choice(body.get("tool_choice"), tools)
    instructions = body.get("instructions")
    system = (Message("system", instructions),) if isinstance(instructions, str) else ()
    max_output = _max_output_tokens(body.get("max_output_tokens"))
    if "temperature" in body:  # (absent passes: checked only when named)
        _between(body, "temperature", "[0,2)", lambda v: 0 <= v < 2)
    if "top_p" in body:
        _between(body, "top_p", "(0,1]", lambda v: 0 < v <= 1)
    store = body.get("store", True)
    if not isinstance(store, bool):
        raise invalid(f"Invalid 'store': {_shown(store)}. Must be a boolean.")
    stream = fields.boolean(body, "stream")
    thinking = _thinking(body, model)
    cap = model.max_output if max_output is None else min(max_output, model.max_output)
    chat = ChatRequest(
        protocol="openai",
        model=model,
        messages=(*system, *history, *turn),
        tools=tools,
        tool_choice=tool_choice,
        max_tokens=cap,
        thinking=thinking,
        response_format=_text_format(body.get("text")),
        stream=stream,
    )
    return ResponsesRequest(chat, turn, builtins, store, _echo(body, tool_choice))


def _shown(value: Any) -> str:
    """A value as the service quotes it in a message: numbers and strings bare."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else json.dumps(value)


def _between(body: dict[str, Any], name: str, bounds: str, ok: Any) -> None:
    value = body.get(name)
    if value is None:
        return
    number = not isinstance(value, bool) and isinstance(value, (int, float))
    if not number or not ok(value):
        raise invalid(
            f"Invalid '{name}': {_shown(value)}. Expected a value between {bounds}, "
            f"but got {_shown(value)} instead."
        )


def _max_output_tokens(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < MIN_OUTPUT_TOKENS:
        raise invalid(
            f"Invalid 'max_output_tokens': must be greater than or equal to "
            f"{MIN_OUTPUT_TOKENS}, got {_shown(value)}."
        )
    return value


def _thinking(body: dict[str, Any], model: TextModel) -> bool:
    """`reasoning.effort` wins over `enable_thinking`; `none` turns thinking off."""
    if model.thinking == "none":
        return False
    if model.thinking == "only":
        return True
    reasoning = body.get("reasoning")
    effort = reasoning.get("effort") if isinstance(reasoning, dict) else None
    if effort is not None:
        if effort not in EFFORTS:
            supported = ",".join(f"'{e}'" for e in EFFORTS)
            raise invalid(
                f"Invalid 'reasoning.effort': {_shown(effort)}. "
                f"Supported values are: ({supported})."
            )
        return bool(effort != "none")
    asked = body.get("enable_thinking")
    if asked is not None and not isinstance(asked, bool):
        raise fields.type_error("enable_thinking", "Boolean")
    return model.thinking_default if asked is None else asked


def _input(raw: Any) -> tuple[Message, ...]:
    if isinstance(raw, str):
        return (Message("user", raw),)
    if not isinstance(raw, list) or not raw:
        raise invalid("Invalid 'input': must be a string or a non-empty array of input items.")
    messages: list[Message] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise invalid(f"Invalid 'input[{index}]': must be an object.")
        kind = item.get("type")
        if kind in (None, "message"):
            named = item.get("role")
            role = _ROLES.get(named) if isinstance(named, str) else None
            if role is None:
                raise invalid(
                    f"Invalid 'input[{index}].role': must be one of user, assistant, system, "
                    "developer."
                )
            text, images = fields.text_of(item.get("content"), f"input[{index}].content")
            messages.append(Message(role, text, images=images))
        elif kind == "function_call":
            call = _call(item, index)
            last = messages[-1] if messages else None
            if last is not None and last.role == "assistant" and last.tool_calls:
                messages[-1] = Message("assistant", last.text, (*last.tool_calls, call))
            else:
                messages.append(Message("assistant", "", (call,)))
        elif kind == "function_call_output":
            call_id = item.get("call_id")
            if not isinstance(call_id, str):
                raise invalid(f"Invalid 'input[{index}].call_id': must be a string.")
            text, images = fields.text_of(item.get("output"), f"input[{index}].output")
            messages.append(Message("tool", text, tool_call_id=call_id, images=images))
        # reasoning, web_search_call, item_reference, ...: context the fake model does not need
    return tuple(messages)


def _call(item: dict[str, Any], index: int) -> ToolCall:
    name, arguments, call_id = item.get("name"), item.get("arguments"), item.get("call_id")
    if not isinstance(name, str) or not isinstance(call_id, str):
        raise invalid(f"Invalid 'input[{index}]': a function_call needs a name and a call_id.")
    text = arguments if isinstance(arguments, str) else fields.compact(arguments or {})
    return ToolCall(id=call_id, name=name, arguments=text)


def _tools(raw: Any) -> tuple[tuple[ToolSpec, ...], tuple[str, ...]]:
    """Function tools and built-in tools; unknown tool types are accepted and ignored."""
    if raw is None:
        return (), ()
    if not isinstance(raw, list):
        raise invalid("Invalid 'tools': must be an array.")
    tools: list[ToolSpec] = []
    builtins: list[str] = []
    for index, tool in enumerate(raw):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if not isinstance(tool, dict):
            raise invalid(f"Invalid 'tools[{index}]': must be an object.")
        if kind == "function":
            if isinstance(tool.get("function"), dict):  # the Chat Completions shape
                raise ApiError(
                    "invalid_parameter",
                    detail="The parameters, when provided as a dict, must confirm to a valid "
                    "openai-compatible JSON schema.",
                )
            name = tool.get("name")
            if not isinstance(name, str) or not name:
                raise invalid(f"Missing required parameter: 'tools[{index}].name'.")
            schema = tool.get("parameters")
            tools.append(
                ToolSpec(
                    name=name,
                    description=str(tool.get("description") or ""),
                    schema=schema if isinstance(schema, dict) else {"type": "object"},
                )
            )
        elif isinstance(kind, str) and ALIASES.get(kind, kind) in ORDER:
            builtins.append(ALIASES.get(kind, kind))
    if WEB_EXTRACTOR in builtins and WEB_SEARCH not in builtins:
        raise invalid("The web_extractor tool must be executed with web_search tool.")
    return tuple(tools), tuple(dict.fromkeys(builtins))


def _tool_choice(raw: Any, tools: tuple[ToolSpec, ...]) -> ToolChoice:
    """Strings, a named function, or `allowed_tools` with a mode; other forms mean auto."""
    if raw in ("none", "required"):
        return ToolChoice(raw)
    if isinstance(raw, dict):
        if raw.get("type") == "function" and isinstance(raw.get("name"), str):
            if not any(t.name == raw["name"] for t in tools):
                raise invalid(f"Invalid 'tool_choice': no function named '{raw['name']}' in tools.")
            return ToolChoice("named", raw["name"])
        if raw.get("type") == "allowed_tools" and raw.get("mode") == "required":
            return ToolChoice("required")
    return _AUTO


def _text_format(raw: Any) -> ResponseFormat:
    """`text.format`: a JSON schema is followed, JSON mode gives an object; the rest is text."""
    fmt = raw.get("format") if isinstance(raw, dict) else None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_schema" and isinstance(fmt, dict) and isinstance(fmt.get("schema"), dict):
        return ResponseFormat("json_schema", fmt["schema"])
    if kind == "json_object":
        return ResponseFormat("json_object")
    return _PLAIN_TEXT


def _echo(body: dict[str, Any], choice: ToolChoice) -> dict[str, Any]:
    """The request fields a response object repeats, as the service repeats them."""
    echo: dict[str, Any] = {
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": body["metadata"] if isinstance(body.get("metadata"), dict) else {},
        "parallel_tool_calls": body.get("parallel_tool_calls") is True,
        "temperature": body.get("temperature", 1.0),
        "tool_choice": body.get("tool_choice", "auto") if choice.mode != "auto" else "auto",
        "tools": body.get("tools") if isinstance(body.get("tools"), list) else [],
        "top_p": body.get("top_p", 1.0),
    }
    if isinstance(body.get("instructions"), str):
        echo["instructions"] = body["instructions"]
    for name in ("reasoning", "text"):
        if isinstance(body.get(name), dict):
            echo[name] = body[name]
    return echo


# ---- rendering ----------------------------------------------------------------------------


def response_id(request_id: str) -> str:
    return f"resp_{request_id}"


def item_id(request_id: str, index: int) -> str:
    """`msg_<uuid>` for every output item, derived from the request id (deterministic)."""
    return "msg_" + uuid_shaped(hashlib.sha256(f"{request_id}:{index}".encode()).hexdigest())


def x_tools(runs: tuple[ToolRun, ...]) -> dict[str, dict[str, int]]:
    counted: dict[str, dict[str, int]] = {}
    for run in runs:
        counted.setdefault(run.kind, {"count": 0})["count"] += 1
    return counted


def usage_body(usage: Usage, runs: tuple[ToolRun, ...]) -> dict[str, Any]:
    details: dict[str, Any] = {"cached_tokens": usage.cached_tokens}
    if usage.cache_explicit:  # the session cache (`x-dashscope-session-cache: enable`)
        details["cache_creation_input_tokens"] = usage.cache_creation_tokens
        details["cache_creation"] = {"ephemeral_5m_input_tokens": usage.cache_creation_tokens}
        details["cache_type"] = "ephemeral"
    billed: dict[str, Any] = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "x_billing_type": "response_api",
    }
    body: dict[str, Any] = {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": details,
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
        "x_details": [billed],
    }
    if runs:
        billed["plugins"] = body["x_tools"] = x_tools(runs)
    return body


@record  # (one a request)
class Rendered:
    """A response's output items, each with what a stream says of it."""

    items: list[dict[str, Any]]
    status: str  # completed, or incomplete when max_output_tokens cut the answer


def _tool_item(run: ToolRun, ident: str, done: bool) -> dict[str, Any]:
    status = "completed" if done else "in_progress"
    item: dict[str, Any] = {"id": ident, "status": status, "type": f"{run.kind}_call"}
    if run.kind == WEB_SEARCH:
        action: dict[str, Any] = {"query": run.query, "type": "search"}
        if done:
            action["sources"] = [{"type": "url", "url": url} for url in run.urls]
        item["action"] = action
    elif run.kind == WEB_EXTRACTOR:
        item.update(goal=run.query, urls=list(run.urls))
        if done:
            item["output"] = run.output
    elif run.kind == "code_interpreter":
        item.update(
            code=run.code if done else "",
            container_id="cntr_" + ident[4:].replace("-", ""),
            outputs=[{"logs": run.output, "type": "logs"}] if done else [],
        )
    else:  # the image searches
        item.update(name=run.kind, arguments=run.query)
        if done:
            item["output"] = run.output
    return item


def output_items(result: ChatResult, runs: tuple[ToolRun, ...], request_id: str) -> Rendered:
    """The finished output: reasoning, built-in tool calls, then the message or function calls."""
    choice = result.choices[0]
    items: list[dict[str, Any]] = []
    if choice.reasoning:
        items.append(
            {
                "id": item_id(request_id, len(items)),
                "summary": [{"text": choice.reasoning, "type": "summary_text"}],
                "type": "reasoning",
            }
        )
    for run in runs:
        items.append(_tool_item(run, item_id(request_id, len(items)), done=True))
    if choice.text or not choice.tool_calls:
        items.append(
            {
                "content": [{"annotations": [], "text": choice.text, "type": "output_text"}],
                "id": item_id(request_id, len(items)),
                "role": "assistant",
                "status": "completed",
                "type": "message",
            }
        )
    for call in choice.tool_calls:
        items.append(
            {
                "arguments": call.arguments,
                "call_id": call.id,
                "id": item_id(request_id, len(items)),
                "name": call.name,
                "status": "completed",
                "type": "function_call",
            }
        )
    status = "incomplete" if choice.finish_reason == "length" else "completed"
    return Rendered(items, status)


def response_body(
    request: ResponsesRequest,
    meta: ResponseMeta,
    output: list[dict[str, Any]],
    status: str,
    usage: dict[str, Any] | None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The response object. The service writes its keys in alphabetical order, and so does
    every rendering of it here (dumps and response_json sort them): the dict is left unsorted
    (sorting it cost three times as much as building it)."""
    body: dict[str, Any] = {
        **request.echo,
        "background": False,
        "created_at": meta.created,
        "frequency_penalty": 0.0,
        "id": response_id(meta.request_id),
        "model": meta.model,
        "object": "response",
        "output": output,
        "presence_penalty": 0.0,
        "service_tier": "default",
        "status": status,
        "store": request.store,
        "top_logprobs": 0,
    }
    if status in ("completed", "incomplete"):
        body["completed_at"] = meta.created
    if status == "incomplete":
        body["incomplete_details"] = {"reason": "max_output_tokens"}
    if usage is not None:
        body["usage"] = usage
    if error is not None:
        body["error"] = error
    return body


def dumps(value: Any) -> str:
    """JSON as the service writes it here: compact, keys sorted."""
    return _SORTED(value)


# The keys of the usual finished response object (response_body's, sorted), with and without
# `instructions`; its one output item's, its text part's, and its usage's.
_USUAL = [
    "background",
    "completed_at",
    "created_at",
    "frequency_penalty",
    "id",
    "max_output_tokens",
    "metadata",
    "model",
    "object",
    "output",
    "parallel_tool_calls",
    "presence_penalty",
    "service_tier",
    "status",
    "store",
    "temperature",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "usage",
]
_USUAL_KEYS = frozenset(_USUAL)
_USUAL_KEYS_INSTRUCTED = frozenset((*_USUAL, "instructions"))
# The request fields the usual response echoes (_echo's), with and without `instructions`.
_ECHO_KEYS = frozenset(
    (
        "max_output_tokens",
        "metadata",
        "parallel_tool_calls",
        "temperature",
        "tool_choice",
        "tools",
        "top_p",
    )
)
_ECHO_KEYS_INSTRUCTED = frozenset((*_ECHO_KEYS, "instructions"))
_MESSAGE_KEYS = frozenset(("content", "id", "role", "status", "type"))
_TEXT_KEYS = frozenset(("annotations", "text", "type"))
_USAGE_KEYS = frozenset(
    (
        "input_tokens",
        "input_tokens_details",
        "output_tokens",
        "output_tokens_details",
        "total_tokens",
        "x_details",
    )
)
_BILLED_KEYS = frozenset(("input_tokens", "output_tokens", "total_tokens", "x_billing_type"))


def response_json(body: dict[str, Any]) -> str:
    """dumps(body) of a response object (response_body's), the same text: the usual one (one
    message of text, completed, the request's defaults echoed, no built-in tools, no explicit
    cache) is written straight into its frame, its keys in their sorted order, after checking
    it has exactly that shape and those constants; any other goes through dumps
    (tests/test_rendering.py holds the two equal)."""
    keys = body.keys()
    instructions = body.get("instructions")
    if keys != _USUAL_KEYS and (keys != _USUAL_KEYS_INSTRUCTED or type(instructions) is not str):
        return dumps(body)
    temperature, top_p, most = body["temperature"], body["top_p"], body["max_output_tokens"]
    output, usage = body["output"], body["usage"]
    if (
        not _usual_echo(body)
        or (
            body["background"],
            body["frequency_penalty"],
            body["object"],
            body["presence_penalty"],
            body["service_tier"],
            body["status"],
            body["top_logprobs"],
        )
        != _CONSTANTS
        or type(body["store"]) is not bool
        or len(output) != 1
        or usage.keys() != _USAGE_KEYS
    ):
        return dumps(body)
    message = message_json(output[0])
    details, reasoned, billed = (
        usage["input_tokens_details"],
        usage["output_tokens_details"],
        usage["x_details"],
    )
    if (
        message is None
        or details.keys() != {"cached_tokens"}
        or reasoned.keys() != {"reasoning_tokens"}
        or len(billed) != 1
        or billed[0].keys() != _BILLED_KEYS
        or billed[0]["x_billing_type"] != "response_api"
    ):
        return dumps(body)
    bill = billed[0]
    # The numbers below are the emulator's own integers (the clock's seconds, token counts).
    said = f',"instructions":{_string(instructions)}' if instructions is not None else ""
    return (
        f'{{"background":false,"completed_at":{body["completed_at"]},'
        f'"created_at":{body["created_at"]},"frequency_penalty":0.0,'
        f'"id":{_string(body["id"])}{said},'
        f'"max_output_tokens":{"null" if most is None else most},"metadata":{{}},'
        f'"model":{_string(body["model"])},"object":"response","output":[{message}],'
        f'"parallel_tool_calls":{"true" if body["parallel_tool_calls"] else "false"},'
        f'"presence_penalty":0.0,"service_tier":"default","status":"completed",'
        f'"store":{"true" if body["store"] else "false"},"temperature":{temperature!r},'
        f'"tool_choice":"auto","tools":[],"top_logprobs":0,"top_p":{top_p!r},'
        f'"usage":{{"input_tokens":{usage["input_tokens"]},'
        f'"input_tokens_details":{{"cached_tokens":{details["cached_tokens"]}}},'
        f'"output_tokens":{usage["output_tokens"]},'
        f'"output_tokens_details":{{"reasoning_tokens":{reasoned["reasoning_tokens"]}}},'
        f'"total_tokens":{usage["total_tokens"]},'
        f'"x_details":[{{"input_tokens":{bill["input_tokens"]},'
        f'"output_tokens":{bill["output_tokens"]},"total_tokens":{bill["total_tokens"]},'
        f'"x_billing_type":"response_api"}}]}}}}'
    )


def _usual_echo(fields: dict[str, Any]) -> bool:
    """Whether the request fields a response echoes (in `fields`: the response, or the echo)
    are the usual ones the straight renderings write: no metadata, tools or tool choice,
    float sampling numbers, an integer or no output cap."""
    temperature, top_p, most = fields["temperature"], fields["top_p"], fields["max_output_tokens"]
    return (
        fields["metadata"] == {}
        and fields["tools"] == []
        and fields["tool_choice"] == "auto"
        and type(temperature) is float  # (finite: parse checks its range)
        and type(top_p) is float
        and (most is None or type(most) is int)
        and type(fields["parallel_tool_calls"]) is bool
    )


def opened_json(request: ResponsesRequest, meta: ResponseMeta) -> list[str] | None:
    """dumps(response_body(request, meta, [], status, None)) cut at its status: the response
    a stream opens with, for a request that echoes the usual fields (response_json's, without
    reasoning or text options), written straight; None for any other request
    (tests/test_stream_frames.py)."""
    echo = request.echo
    keys = echo.keys()
    instructions = echo.get("instructions")
    if keys != _ECHO_KEYS and (keys != _ECHO_KEYS_INSTRUCTED or type(instructions) is not str):
        return None
    if not _usual_echo(echo) or type(request.store) is not bool:
        return None
    temperature, top_p, most = echo["temperature"], echo["top_p"], echo["max_output_tokens"]
    said = f',"instructions":{_string(instructions)}' if instructions is not None else ""
    return [
        f'{{"background":false,"created_at":{meta.created},"frequency_penalty":0.0,'
        f'"id":{_string(response_id(meta.request_id))}{said},'
        f'"max_output_tokens":{"null" if most is None else most},"metadata":{{}},'
        f'"model":{_string(meta.model)},"object":"response","output":[],'
        f'"parallel_tool_calls":{"true" if echo["parallel_tool_calls"] else "false"},'
        f'"presence_penalty":0.0,"service_tier":"default","status":',
        f',"store":{"true" if request.store else "false"},"temperature":{temperature!r},'
        f'"tool_choice":"auto","tools":[],"top_logprobs":0,"top_p":{top_p!r}}}',
    ]


def message_json(item: dict[str, Any]) -> str | None:
    """dumps(item) of the usual message item (output_items's: one text part, no annotations,
    completed), written straight; None for any other item (tests/test_rendering.py)."""
    if (
        item.keys() != _MESSAGE_KEYS
        or (item["role"], item["status"], item["type"], len(item["content"])) != _MESSAGE
    ):
        return None
    part = item["content"][0]
    if part.keys() != _TEXT_KEYS or part["annotations"] != [] or part["type"] != "output_text":
        return None
    return (
        f'{{"content":[{{"annotations":[],"text":{_string(part["text"])},'
        f'"type":"output_text"}}],"id":{_string(item["id"])},"role":"assistant",'
        f'"status":"completed","type":"message"}}'
    )


# What response_body writes as constants (background .. top_logprobs), and the usual message.
_CONSTANTS = (False, 0.0, "response", 0.0, "default", "completed", 0)
_MESSAGE = ("assistant", "completed", "message", 1)


# json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True), made once
_SORTED = encoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True)
_SLOT = _SORTED(SLOT)  # SLOT as the encoder writes it: where a stream frame's template is cut


def error_body(error: ApiError, request_id: str) -> dict[str, Any]:
    """The flat body every refused Responses call gets (request_id first, as captured)."""
    return {"request_id": request_id, "code": error.kind.code, "message": error.message}


def not_found_body(error: ApiError) -> dict[str, Any]:
    """GET or DELETE of an unknown id: the nested form the documentation gives."""
    return {"error": {"message": error.message, "type": error.kind.code}}


def deleted_body(ident: str) -> dict[str, Any]:
    return {"deleted": True, "id": ident}


# ---- streaming ----------------------------------------------------------------------------


def _event(ident: str, kind: str, payload: str) -> str:
    """An event as the service frames it: its id, its name, the status comment, its data."""
    return f"id:{ident}\nevent:{kind}\n:HTTP_STATUS/200\ndata:{payload}\n\n"


class Stream:
    """The frames of one streamed response, numbered as they are written."""

    def __init__(self) -> None:
        self.sequence = 0

    def encode(self, kind: str, data: dict[str, Any]) -> bytes:
        return self._framed(kind, dumps({**data, "sequence_number": self.sequence, "type": kind}))

    def _framed(self, kind: str, payload: str) -> bytes:
        return _event(str(self.sequence + 1), kind, payload).encode()

    def frame(self, kind: str, data: dict[str, Any]) -> Iterator[bytes]:
        """One frame; it counts once the writer comes back for the next, i.e. once it was
        sent, so an error frame after a stream fault takes the number of the unsent one."""
        yield self.encode(kind, data)
        self.sequence += 1

    def _written(self, kind: str, before: str, after: str = "") -> bytes:
        """`encode(kind, data)` written straight, for data whose JSON (keys sorted) is `{`,
        `before`, the frame's number, `after`, and the frame's type: `before` ends with a comma
        and `after` holds the keys between "sequence_number" and "type", if any. `kind` is
        one of this module's event names (no character to escape)."""
        # (_event's framing, in the same f-string as the data: building the data first and
        # framing it after copied a whole response once more, 1.3 % of a stream)
        sequence = self.sequence
        return (
            f"id:{sequence + 1}\nevent:{kind}\n:HTTP_STATUS/200\n"
            f'data:{{{before}"sequence_number":{sequence}{after},"type":"{kind}"}}\n\n'
        ).encode()

    def response(self, kind: str, rendered: str) -> Iterator[bytes]:
        """`frame(kind, {"response": body})` of a response object already rendered (dumps of
        it): the same bytes, as "response" sorts before the frame's own two keys."""
        yield self._written(kind, f'"response":{rendered},')
        self.sequence += 1

    def deltas(self, kind: str, at: dict[str, Any], pieces: Iterable[str]) -> Iterator[bytes]:
        """A frame per piece, `{**at, "delta": piece}` each, numbered as `frame` numbers them:
        the frame is rendered once, with SLOT for its id, its piece and its number, and cut
        there (the bytes `encode` writes; tests/test_stream_frames.py)."""
        cut: list[str] = []  # made by the first piece: no pieces cost nothing
        for piece in pieces:
            if not cut:
                data = {**at, "delta": SLOT, "sequence_number": SLOT, "type": kind}
                # The id comes first, then the keys in sorted order: "delta" before
                # "sequence_number" whatever else `at` holds (keys from "content_index" to
                # "output_index").
                rendered = _event(_SLOT, kind, dumps(data))
                cut = rendered.split(_SLOT)
                if len(cut) != 4:
                    raise ValueError(f"expected 3 slots in {rendered!r}")
            yield self._delta(cut, piece)
            self.sequence += 1

    def _delta(self, cut: list[str], piece: str) -> bytes:
        """The delta frame cut at its id, its piece and its number (`deltas`), with `piece`:
        one f-string, encoded once (a fifth of the cost of joining encoded parts)."""
        head, middle, number, tail = cut
        sequence = self.sequence
        return f"{head}{sequence + 1}{middle}{_string(piece)}{number}{sequence}{tail}".encode()

    def failed(
        self, error: ApiError, request: ResponsesRequest | None, meta: ResponseMeta
    ) -> bytes:
        """`response.failed`: how a stream ends in error, before or after it started."""
        failure = {"code": error.kind.code, "message": error.message}
        if request is None:
            response = {
                "created_at": meta.created,
                "error": failure,
                "id": response_id(meta.request_id),
                "model": meta.model,
                "object": "response",
                "output": [],
                "status": "failed",
            }
        else:
            response = response_body(request, meta, [], "failed", None, failure)
        return self.encode("response.failed", {"response": response})

    def frames(
        self,
        request: ResponsesRequest,
        meta: ResponseMeta,
        result: ChatResult,
        runs: tuple[ToolRun, ...],
        final: dict[str, Any],
    ) -> Iterator[bytes]:
        """Every frame of a streamed response; `final` is the finished response object."""
        # The response before its output, queued then in progress: rendered once, cut at its
        # status (the one field of the two that differs): the usual one written straight, any
        # other with a slot for its status, unless the request echoes the slot's own text
        # (its instructions, say): then each is rendered whole.
        opened = opened_json(request, meta) or dumps(
            response_body(request, meta, [], SLOT, None)
        ).split(_SLOT)
        for kind, status in (
            ("response.created", "queued"),
            ("response.in_progress", "in_progress"),
        ):
            if len(opened) == 2:
                rendered = opened[0] + _string(status) + opened[1]
            else:
                rendered = dumps(response_body(request, meta, [], status, None))
            yield from self.response(kind, rendered)
        choice = result.choices[0]
        for index, item in enumerate(final["output"]):
            yield from self._item(index, item, choice, runs)
        kind = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
        yield from self.response(kind, response_json(final))

    def _item(
        self, index: int, item: dict[str, Any], choice: Completion, runs: tuple[ToolRun, ...]
    ) -> Iterator[bytes]:
        kind = item["type"]
        at = {"item_id": item["id"], "output_index": index}
        if kind == "reasoning":
            yield from self._added(index, {**item, "summary": []})
            yield from self.deltas("response.reasoning_text.delta", at, choice.reasoning_pieces)
            yield from self.frame("response.reasoning_text.done", {**at, "text": choice.reasoning})
        elif kind == "message" and (said := message_json(item)) is not None:
            yield from self._message(index, item["id"], choice, said)
            return
        elif kind == "message":
            yield from self._added(index, {**item, "content": [], "status": "in_progress"})
            part: dict[str, Any] = {
                "annotations": [],
                "logprobs": None,
                "text": "",
                "type": "output_text",
            }
            at = {**at, "content_index": 0}
            yield from self.frame("response.content_part.added", {**at, "part": part})
            text = {**at, "logprobs": []}
            yield from self.deltas("response.output_text.delta", text, choice.text_pieces)
            yield from self.frame(
                "response.output_text.done", {**at, "logprobs": [], "text": choice.text}
            )
            yield from self.frame(
                "response.content_part.done", {**at, "part": {**part, "text": choice.text}}
            )
        elif kind == "function_call":
            yield from self._added(index, {**item, "arguments": "", "status": "in_progress"})
            arguments = item["arguments"]
            fragments = (
                arguments[start : start + ARGUMENT_FRAGMENT]
                for start in range(0, len(arguments), ARGUMENT_FRAGMENT)
            )
            yield from self.deltas("response.function_call_arguments.delta", at, fragments)
            yield from self.frame(
                "response.function_call_arguments.done", {**at, "arguments": arguments}
            )
        else:  # a built-in tool call
            run = next(r for r in runs if f"{r.kind}_call" == kind)
            yield from self._added(index, _tool_item(run, item["id"], done=False))
            phases = {
                "web_search_call": ("in_progress", "searching", "completed"),
                "code_interpreter_call": ("in_progress", "interpreting", "completed"),
            }.get(kind, ())
            for phase in phases:
                yield from self.frame(f"response.{kind}.{phase}", at)
        yield from self.frame("response.output_item.done", {"item": item, "output_index": index})

    def _message(self, index: int, ident: str, choice: Completion, said: str) -> Iterator[bytes]:
        """`_item`'s frames of the usual message item (`said`: its message_json), each written
        straight, without a dict and the sorted encoder's walk for each: the same bytes
        (tests/test_stream_frames.py)."""
        ident = _string(ident)
        at = f'"content_index":0,"item_id":{ident},"output_index":{index}'
        yield self._written(
            "response.output_item.added",
            f'"item":{{"content":[],"id":{ident},"role":"assistant","status":"in_progress",'
            f'"type":"message"}},"output_index":{index},',
        )
        self.sequence += 1
        empty = '"part":{"annotations":[],"logprobs":null,"text":"","type":"output_text"},'
        yield self._written("response.content_part.added", f"{at},{empty}")
        self.sequence += 1
        kind = "response.output_text.delta"
        delta = (
            f'{{"content_index":0,"delta":{_SLOT},"item_id":{ident},"logprobs":[],'
            f'"output_index":{index},"sequence_number":{_SLOT},"type":"{kind}"}}'
        )
        cut = _event(_SLOT, kind, delta).split(_SLOT)  # (the item id is ours: no slot in it)
        for piece in choice.text_pieces:
            yield self._delta(cut, piece)
            self.sequence += 1
        text = _string(choice.text)
        yield self._written(
            "response.output_text.done",
            f'"content_index":0,"item_id":{ident},"logprobs":[],"output_index":{index},',
            f',"text":{text}',
        )
        self.sequence += 1
        part = f'"part":{{"annotations":[],"logprobs":null,"text":{text},"type":"output_text"}},'
        yield self._written("response.content_part.done", f"{at},{part}")
        self.sequence += 1
        yield self._written("response.output_item.done", f'"item":{said},"output_index":{index},')
        self.sequence += 1

    def _added(self, index: int, item: dict[str, Any]) -> Iterator[bytes]:
        return self.frame("response.output_item.added", {"item": item, "output_index": index})
