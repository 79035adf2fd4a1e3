"""Stream frames rendered from templates are the bytes the generic encoder writes (issue 12).

The delta frames of a stream are rendered once and filled with each piece of text
(emulator/protocols/frames.py). Here a long scripted answer, with thinking, tool calls,
unicode and every kind of character JSON must escape, is streamed over raw HTTP in each
protocol, and every frame is checked two ways: it parses, and its bytes are `json.dumps` of
what it parses to (so of a dict in the same key order); and every delta frame's bytes are
`json.dumps` of the dict the emulator built per frame before the templates, field for field.
"""

from __future__ import annotations

import http.client
import itertools
import json
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulator.catalog import base_catalog
from emulator.config import load_scenario
from emulator.harness import RunningEmulator, start_emulator
from tests.conftest import FROZEN_AT
from tests.responses_requests import UNUSUAL_FIELDS

# Quotes, backslashes, control characters (NUL included, and the template's own marker),
# line and paragraph separators, HTML, accents, CJK, and a character beyond the BMP.
AWKWARD = (
    'a "quoted" \\path\\ \t tab\nnew line \x01\x1f \x00slot\x00 \u2028\u2029 </script> é 海 🌊'
)
TEXT = " ".join(f"word{i} {AWKWARD}" if i % 7 == 0 else f"word{i}" for i in range(400))
THOUGHT = " ".join(f"thought{i} {AWKWARD}" if i % 5 == 0 else f"thought{i}" for i in range(200))
ARGUMENTS = {"city": 'Zürich "Nord"', "note": AWKWARD, "days": 3}
MODEL = "qwen3.6-plus"
MODEL_SPEC = base_catalog().text_models[MODEL]


def dumps(value: Any, sort_keys: bool = False) -> str:
    """The generic encoder, as the service writes JSON: compact, UTF-8 kept."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    reply = {"text": TEXT, "thinking": THOUGHT}
    tool = {"name": "get_weather", "arguments": ARGUMENTS}
    rules = [
        {"name": "tool", "match": {"tools": True}, "reply": {**reply, "tool_calls": [tool]}},
        {"name": "text", "reply": reply},
    ]
    path = Path(tmp_path_factory.mktemp("frames")) / "frames.yaml"
    path.write_text(yaml.safe_dump({"frames": {"clock": FROZEN_AT, "rules": rules}}), "utf-8")
    emulator = start_emulator(load_scenario("frames", path))
    yield emulator
    emulator.stop()


def stream(emulator: RunningEmulator, path: str, body: dict[str, Any]) -> list[bytes]:
    """The frames of one streamed call, as bytes, from a raw HTTP exchange."""
    parts = urllib.parse.urlsplit(emulator.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {emulator.api_key}"}
    connection.request("POST", path, json.dumps(body).encode(), headers)
    reply = connection.getresponse()
    payload = reply.read()
    connection.close()
    assert reply.status == 200, payload
    assert payload.endswith(b"\n\n")
    return [frame + b"\n\n" for frame in payload[:-2].split(b"\n\n")]


def chat_tool() -> dict[str, Any]:
    parameters = {"type": "object", "properties": {"city": {"type": "string"}}}
    return {"type": "function", "function": {"name": "get_weather", "parameters": parameters}}


# ---- chat completions ------------------------------------------------------------------------


def old_chat_delta(choice: dict[str, Any], thinking: bool) -> dict[str, Any] | None:
    """The choice dict the emulator built for a delta chunk before the templates (None: not a
    delta chunk), from the piece the chunk carries."""
    delta, index = choice["delta"], choice["index"]
    if choice["finish_reason"] is not None or "role" in delta:
        return None
    calls = delta.get("tool_calls")
    if calls:
        if calls[0]["id"]:  # the call's opening chunk
            return None
        fragment = {
            "index": calls[0]["index"],
            "id": "",
            "type": "function",
            "function": {"arguments": calls[0]["function"]["arguments"]},
        }
        return {
            "finish_reason": None,
            "delta": {"tool_calls": [fragment]},
            "index": index,
            "logprobs": None,
        }
    if thinking and delta["content"] is None:
        return {
            "finish_reason": None,
            "logprobs": None,
            "delta": {"content": None, "reasoning_content": delta["reasoning_content"]},
            "index": index,
        }
    if thinking:
        return {
            "finish_reason": None,
            "logprobs": None,
            "delta": {"content": delta["content"], "reasoning_content": None},
            "index": index,
        }
    return {
        "finish_reason": None,
        "delta": {"content": delta["content"]},
        "index": index,
        "logprobs": None,
    }


@pytest.mark.parametrize("thinking", [False, True])
@pytest.mark.parametrize("tools", [False, True])
def test_chat_stream_frames_are_the_generic_encoders(
    emulator: RunningEmulator, thinking: bool, tools: bool
) -> None:
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Tell me about the sea."}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "enable_thinking": thinking,
        "n": 2,
    }
    if tools:
        body["tools"] = [chat_tool()]
    frames = stream(emulator, "/compatible-mode/v1/chat/completions", body)
    assert frames[-1] == b"data: [DONE]\n\n"
    said: dict[int, list[str]] = {0: [], 1: []}
    thought: dict[int, list[str]] = {0: [], 1: []}
    arguments: dict[int, list[str]] = {0: [], 1: []}
    deltas = 0
    for frame in frames[:-1]:
        chunk = json.loads(frame.removeprefix(b"data: "))
        assert frame == b"data: " + dumps(chunk).encode() + b"\n\n"
        if not chunk["choices"]:
            continue  # the usage chunk
        choice = chunk["choices"][0]
        old = old_chat_delta(choice, thinking)
        if old is None:
            continue
        whole = {
            "choices": [old],
            "object": "chat.completion.chunk",
            "usage": None,
            "created": chunk["created"],
            "system_fingerprint": None,
            "model": MODEL,
            "id": chunk["id"],
        }
        assert frame == b"data: " + dumps(whole).encode() + b"\n\n"
        deltas += 1
        delta, index = choice["delta"], choice["index"]
        if delta.get("tool_calls"):
            arguments[index].append(delta["tool_calls"][0]["function"]["arguments"])
        elif delta["content"] is None:
            thought[index].append(delta["reasoning_content"])
        else:
            said[index].append(delta["content"])
    assert deltas > 500
    for index in (0, 1):
        assert "".join(said[index]) == TEXT
        assert "".join(thought[index]) == (THOUGHT if thinking else "")
        assert json.loads("".join(arguments[index]) or "null") == (ARGUMENTS if tools else None)


# ---- Anthropic messages ----------------------------------------------------------------------

ANTHROPIC_DELTAS = {
    "thinking_delta": "thinking",
    "text_delta": "text",
    "input_json_delta": "partial_json",
}


def test_anthropic_stream_frames_are_the_generic_encoders(emulator: RunningEmulator) -> None:
    tool = {"name": "get_weather", "input_schema": {"type": "object"}}
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Tell me about the sea."}],
        "max_tokens": 8000,
        "thinking": {"type": "enabled", "budget_tokens": 4000},
        "tools": [tool],
        "stream": True,
    }
    frames = stream(emulator, "/apps/anthropic/v1/messages", body)
    pieces: dict[str, list[str]] = {field: [] for field in ANTHROPIC_DELTAS.values()}
    deltas = 0
    for frame in frames:
        head, data = frame.removesuffix(b"\n\n").split(b"\n")
        event = head.removeprefix(b"event: ").decode()
        parsed = json.loads(data.removeprefix(b"data: "))
        assert frame == f"event: {event}\ndata: {dumps(parsed)}\n\n".encode()
        kind = parsed.get("delta", {}).get("type")
        if event != "content_block_delta" or kind not in ANTHROPIC_DELTAS:
            continue
        field = ANTHROPIC_DELTAS[kind]
        old = {
            "type": "content_block_delta",
            "index": parsed["index"],
            "delta": {"type": kind, field: parsed["delta"][field]},
        }
        assert frame == f"event: content_block_delta\ndata: {dumps(old)}\n\n".encode()
        pieces[field].append(parsed["delta"][field])
        deltas += 1
    assert deltas > 250
    assert "".join(pieces["thinking"]) == THOUGHT
    assert "".join(pieces["text"]) == TEXT
    assert json.loads("".join(pieces["partial_json"])) == ARGUMENTS


# ---- Responses API ---------------------------------------------------------------------------

RESPONSES_DELTAS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "response.reasoning_text.delta": lambda at: at,
    "response.output_text.delta": lambda at: {**at, "logprobs": []},
    "response.function_call_arguments.delta": lambda at: at,
}


@pytest.mark.parametrize("instructions", [None, "\x00slot\x00"])
def test_responses_stream_frames_are_the_generic_encoders(
    emulator: RunningEmulator, instructions: str | None
) -> None:
    """Instructions that are the templates' own slot text are echoed, not taken for a slot."""
    tool = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
    body: dict[str, Any] = {
        "model": MODEL,
        "input": "Tell me about the sea.",
        "enable_thinking": True,
        "tools": [tool],
        "stream": True,
    }
    if instructions is not None:
        body["instructions"] = instructions
    frames = stream(emulator, "/compatible-mode/v1/responses", body)
    opened = [json.loads(frame.split(b"\ndata:")[1]) for frame in frames[:2]]
    assert [frame["response"]["status"] for frame in opened] == ["queued", "in_progress"]
    assert all(frame["response"].get("instructions") == instructions for frame in opened)
    pieces: dict[str, list[str]] = {kind: [] for kind in RESPONSES_DELTAS}
    for number, frame in enumerate(frames):
        ident, event, status, data = frame.removesuffix(b"\n\n").split(b"\n")
        assert ident == f"id:{number + 1}".encode()
        assert status == b":HTTP_STATUS/200"
        kind = event.removeprefix(b"event:").decode()
        parsed = json.loads(data.removeprefix(b"data:"))
        assert parsed["sequence_number"] == number
        assert parsed["type"] == kind
        head = f"id:{number + 1}\nevent:{kind}\n:HTTP_STATUS/200\ndata:"
        assert frame == f"{head}{dumps(parsed, sort_keys=True)}\n\n".encode()
        if kind not in RESPONSES_DELTAS:
            continue
        at = {"item_id": parsed["item_id"], "output_index": parsed["output_index"]}
        if "content_index" in parsed:
            at["content_index"] = parsed["content_index"]
        data_before = RESPONSES_DELTAS[kind](at)
        old = {**data_before, "delta": parsed["delta"], "sequence_number": number, "type": kind}
        assert frame == f"{head}{dumps(old, sort_keys=True)}\n\n".encode()
        pieces[kind].append(parsed["delta"])
    assert sum(len(found) for found in pieces.values()) > 250
    assert "".join(pieces["response.reasoning_text.delta"]) == THOUGHT
    assert "".join(pieces["response.output_text.delta"]) == TEXT
    assert json.loads("".join(pieces["response.function_call_arguments.delta"])) == ARGUMENTS


# ---- Responses API: the frames written straight against the generic rendering --------------

STRANGE = (
    "",
    "Plain words.",
    'a "quote" \\ back\nslash\t\x00\x1f',
    "\u2028\u2029 é 中文 😀",
    "\x00slot\x00",
    "lone \ud800 surrogate",
)


def _responses_frames(
    body: dict[str, Any], choice: Any, runs: tuple[Any, ...], meta: Any
) -> tuple[list[bytes], str]:
    """Every frame of a stream, made in process, up to the error that ends it, if any."""
    from emulator.engine.types import ChatResult, Usage
    from emulator.protocols import openai_responses as responses

    parsed = responses.parse(body, MODEL_SPEC)
    result = ChatResult((choice,), Usage(20, 44, reasoning_tokens=3))
    rendered = responses.output_items(result, runs, meta.request_id)
    usage = responses.usage_body(result.usage, runs)
    final = responses.response_body(parsed, meta, rendered.items, rendered.status, usage)
    frames: list[bytes] = []
    try:
        frames.extend(responses.Stream().frames(parsed, meta, result, runs, final))
    except UnicodeEncodeError as error:  # a lone surrogate: no UTF-8 for it, either way
        return frames, repr(error)
    return frames, ""


def _responses_bodies() -> Iterator[dict[str, Any]]:
    for name, value in (*UNUSUAL_FIELDS, (None, None)):
        for instructions in (None, *STRANGE):
            body: dict[str, Any] = {"input": "Hi"}
            if name is not None:
                body[name] = value
            if instructions is not None:
                body["instructions"] = instructions
            yield body


def test_responses_frames_written_straight_are_the_generic_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The usual frames (the opening response, a message's frames, the finished response)
    written straight are the bytes of the generic path (frame() and dumps of each dict), for
    awkward text and requests, several items, function calls, reasoning, built-in tools and an
    incomplete answer; with the shortcuts turned off, the generic path makes every frame."""
    from emulator.engine.builtin_tools import ToolRun
    from emulator.engine.types import Completion, ToolCall
    from emulator.protocols import openai_responses as responses
    from emulator.protocols.meta import ResponseMeta

    meta = ResponseMeta("0f1e2d3c-aaaa-bbbb-cccc-0123456789ab", 1_777_593_600, 'qwen "3"')
    calls = ((), (ToolCall("call_1", "f", '{"path":"a \\"b\\""}'), ToolCall("call_2", "f", "{}")))
    runs = (
        (),
        (ToolRun("web_search", "sea", ("https://a.example/",)),),
        (ToolRun("code_interpreter", "sum", (), "3", "print(1 + 2)"),),
    )
    cases = []
    for body in _responses_bodies():
        cases.append((body, Completion("Some text.", "", (), "stop", piece_seed=1), ()))
    for text, reasoning, tool_calls, finish, ran in itertools.product(
        STRANGE, ("", "Why \u00fcber."), calls, ("stop", "length"), runs
    ):
        choice = Completion(text, reasoning, tool_calls, finish, piece_seed=len(text))  # type: ignore[arg-type]
        cases.append(({"input": "Hi", "instructions": text}, choice, ran))
    straight = [_responses_frames(body, choice, ran, meta) for body, choice, ran in cases]
    monkeypatch.setattr(responses, "opened_json", lambda request, meta: None)
    monkeypatch.setattr(responses, "message_json", lambda item: None)
    monkeypatch.setattr(responses, "response_json", responses.dumps)
    generic = [_responses_frames(body, choice, ran, meta) for body, choice, ran in cases]
    assert straight == generic
    complete = [frames for frames, error in generic if not error]
    assert len(complete) > len(cases) // 2
    for frames in complete:  # the generic path: each frame the sorted dumps of what it holds
        for number, frame in enumerate(frames):
            head, data = frame.split(b"\ndata:")
            parsed = json.loads(data)
            assert parsed["sequence_number"] == number
            assert data == f"{dumps(parsed, sort_keys=True)}\n\n".encode()
            assert head == f"id:{number + 1}\nevent:{parsed['type']}\n:HTTP_STATUS/200".encode()
