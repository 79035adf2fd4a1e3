"""The Responses API (POST / GET / DELETE /compatible-mode/v1/responses) with the official openai
SDK (sync, async, streaming) and raw HTTP where the bytes matter: the object, the stream's framing
and event order, stored responses and previous_response_id, built-in tools, every documented
error, the ledger, scenario rules and faults."""

from __future__ import annotations

import itertools
import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest

from emulator.config import Config
from emulator.engine import tokens
from emulator.engine.types import Message
from emulator.harness import RunningEmulator
from tests.admin_api import Admin, credits
from tests.test_scenarios import serve

Factory = Callable[..., RunningEmulator]
MODEL = "qwen3.6-plus"
HARNESS = "qwen3.7-plus"  # a model with every built-in tool (the Harness tools table)
CLOCK = "2026-05-01T00:00:00Z"
EPOCH = 1777593600
WEATHER = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]
ALL_BUILTINS = [
    {"type": "web_search"},
    {"type": "web_extractor"},
    {"type": "code_interpreter"},
    {"type": "web_search_image"},
    {"type": "image_search"},
]


class Raw:
    """One raw HTTP answer."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    emulator: RunningEmulator,
    body: dict[str, Any] | None,
    method: str = "POST",
    path: str = "/responses",
    key: str | None = "",
    headers: dict[str, str] | None = None,
) -> Raw:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(emulator.openai_base_url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    token = emulator.api_key if key == "" else key
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Raw(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Raw(error.code, dict(error.headers), error.read())


def events(raw: bytes) -> list[tuple[int, str, dict[str, Any]]]:
    """(SSE id, event name, data) of every frame, checking the captured framing on the way."""
    frames = raw.decode().split("\n\n")
    assert frames[-1] == ""
    found = []
    for frame in frames[:-1]:
        lines = frame.split("\n")
        assert len(lines) == 4, frame
        assert lines[0].startswith("id:") and lines[1].startswith("event:"), frame
        assert lines[2] == ":HTTP_STATUS/200"
        assert lines[3].startswith("data:{"), frame
        data = json.loads(lines[3][len("data:") :])
        assert data["type"] == lines[1][len("event:") :]
        found.append((int(lines[0][len("id:") :]), data["type"], data))
    return found


@pytest.fixture
def frozen(frozen_emulator: RunningEmulator) -> RunningEmulator:
    """The session's emulator with a frozen clock (tests/conftest.py), at CLOCK."""
    return frozen_emulator


@pytest.fixture
def client(frozen: RunningEmulator) -> openai.OpenAI:
    return openai.OpenAI(**frozen.openai_kwargs(max_retries=0))


# ---- the response object ------------------------------------------------------------------


def test_a_response_object_as_the_service_writes_it(frozen: RunningEmulator) -> None:
    raw = call(frozen, {"model": MODEL, "input": "Hello", "enable_thinking": False})
    assert raw.status == 200
    assert raw.headers["Content-Type"] == "application/json"
    body = raw.json()
    assert list(body) == sorted(body)  # alphabetical, as the documentation's examples
    request_id = raw.headers["x-request-id"]
    assert body["id"] == f"resp_{request_id}"
    assert re.fullmatch(
        r"resp_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", body["id"]
    )
    assert (body["object"], body["status"], body["model"]) == ("response", "completed", MODEL)
    assert body["created_at"] == body["completed_at"] == EPOCH
    assert (body["background"], body["store"], body["tool_choice"], body["tools"]) == (
        False,
        True,
        "auto",
        [],
    )
    [message] = body["output"]
    assert re.fullmatch(r"msg_[0-9a-f-]{36}", message["id"])
    assert (message["type"], message["role"], message["status"]) == (
        "message",
        "assistant",
        "completed",
    )
    [part] = message["content"]
    assert (part["type"], part["annotations"]) == ("output_text", [])
    usage = body["usage"]
    assert usage["input_tokens_details"] == {"cached_tokens": 0}
    assert usage["output_tokens_details"] == {"reasoning_tokens": 0}
    assert usage["output_tokens"] == tokens.count(part["text"])
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage["x_details"] == [
        {
            "input_tokens": usage["input_tokens"],
            "output_tokens": usage["output_tokens"],
            "total_tokens": usage["total_tokens"],
            "x_billing_type": "response_api",
        }
    ]
    assert "x_tools" not in usage


def test_the_same_request_gets_the_same_bytes(frozen: RunningEmulator) -> None:
    body = {"model": MODEL, "input": "Same words, same answer", "store": False}
    first, second = call(frozen, body), call(frozen, body)
    assert first.body == second.body


def test_the_sdk_reads_text_reasoning_and_usage(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, input="Why is the sky blue?")
    kinds = [item.type for item in response.output]
    assert kinds == ["reasoning", "message"]  # qwen3.6-plus thinks by default
    reasoning = response.output[0]
    assert reasoning.type == "reasoning" and reasoning.summary[0].type == "summary_text"
    assert response.output_text
    assert response.usage is not None
    assert response.usage.output_tokens_details.reasoning_tokens == tokens.count(
        reasoning.summary[0].text
    )


@pytest.mark.parametrize(
    "extra",
    [{"enable_thinking": False}, {"reasoning": {"effort": "none"}}],
    ids=["enable_thinking", "effort-none"],
)
def test_thinking_is_switched_off(client: openai.OpenAI, extra: dict[str, Any]) -> None:
    response = client.responses.create(model=MODEL, input="Hi", extra_body=extra)
    assert [item.type for item in response.output] == ["message"]


def test_reasoning_effort_wins_over_enable_thinking(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model=MODEL, input="Hi", reasoning={"effort": "high"}, extra_body={"enable_thinking": False}
    )
    assert [item.type for item in response.output] == ["reasoning", "message"]


async def test_the_async_client(frozen: RunningEmulator) -> None:
    client = openai.AsyncOpenAI(**frozen.openai_kwargs(max_retries=0))
    response = await client.responses.create(model="glm-5", input="Hi", store=False)
    assert response.status == "completed" and response.output_text


def test_ignored_parameters_are_accepted_and_echoed(client: openai.OpenAI) -> None:
    """The documented rule: parameters not listed are ignored; instructions and background are
    not refused; unknown tool types are accepted."""
    response = client.responses.create(
        model=MODEL,
        input="Hi",
        instructions="Answer in one line.",
        background=False,
        metadata={"ticket": "42"},
        parallel_tool_calls=True,
        truncation="auto",
        tools=[
            {
                "type": "computer_use_preview",
                "display_width": 1,
                "display_height": 1,
                "environment": "linux",
            }
        ],  # type: ignore[list-item]
        extra_body={"bogus_parameter": 1, "reasoning": {"summary": "auto"}},
    )
    assert response.status == "completed"
    assert response.instructions == "Answer in one line."
    assert response.metadata == {"ticket": "42"}
    assert response.parallel_tool_calls is True


def test_json_schema_output_follows_the_schema(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    response = client.responses.create(
        model=MODEL,
        input="A person, please",
        text={"format": {"type": "json_schema", "name": "person", "schema": schema}},
    )
    person = json.loads(response.output_text)
    assert set(person) == {"name", "age"} and isinstance(person["age"], int)


def test_max_output_tokens_cuts_the_answer_and_marks_it_incomplete(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model=MODEL,
        input="Tell me a long story",
        max_output_tokens=16,
        reasoning={"effort": "none"},
    )
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert tokens.count(response.output_text) == 16
    assert response.max_output_tokens == 16


# ---- function tools -----------------------------------------------------------------------


def test_a_function_call_and_its_result(client: openai.OpenAI) -> None:
    first = client.responses.create(
        model=MODEL, input="Use get_weather for Paris", tools=WEATHER, reasoning={"effort": "none"}
    )
    [call] = first.output
    assert call.type == "function_call"
    assert call.name == "get_weather" and call.status == "completed"
    assert re.fullmatch(r"call_[0-9a-f]{24}", call.call_id)
    assert set(json.loads(call.arguments)) == {"city"}
    second = client.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "Sunny, 21 C"}],
        tools=WEATHER,
        reasoning={"effort": "none"},
    )
    assert [item.type for item in second.output] == ["message"]


def test_the_whole_conversation_can_be_sent_as_items(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model=MODEL,
        input=[
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "input_text", "text": "Weather in Oslo?"}]},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": '{"city": "Oslo"}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "Snow"},
            {"type": "reasoning", "id": "rs_1", "summary": []},
        ],
        tools=WEATHER,
        store=False,
    )
    assert response.output_text


def test_tool_choice_required_forces_a_call(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model=MODEL, input="Hello", tools=WEATHER, tool_choice="required", store=False
    )
    assert [item.type for item in response.output][-1] == "function_call"
    assert response.tool_choice == "required"


# ---- stored responses ---------------------------------------------------------------------


def test_retrieve_and_delete(client: openai.OpenAI) -> None:
    created = client.responses.create(model=MODEL, input="Keep this")
    fetched = client.responses.retrieve(created.id)
    assert fetched.model_dump() == created.model_dump()
    client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.retrieve(created.id)
    assert caught.value.body == {
        "message": f"Response with id '{created.id}' not found.",
        "type": "InvalidParameter",
    }


def test_delete_answers_deleted_and_the_id(frozen: RunningEmulator, client: openai.OpenAI) -> None:
    created = client.responses.create(model=MODEL, input="Delete me")
    raw = call(frozen, None, method="DELETE", path=f"/responses/{created.id}")
    assert (raw.status, raw.json()) == (200, {"deleted": True, "id": created.id})
    again = call(frozen, None, method="DELETE", path=f"/responses/{created.id}")
    assert again.status == 404


def test_previous_response_id_carries_the_conversation(client: openai.OpenAI) -> None:
    first = client.responses.create(model=MODEL, input="My name is Ada.", store=True)
    second = client.responses.create(
        model=MODEL, input="And my name?", previous_response_id=first.id
    )
    alone = client.responses.create(model=MODEL, input="And my name?", store=False)
    assert first.usage and second.usage and alone.usage
    # The history (the first turn and the answer's text, not its reasoning) is input again.
    history = tokens.message_tokens(Message("user", "My name is Ada."))
    history += tokens.message_tokens(Message("assistant", first.output_text))
    assert second.usage.input_tokens == alone.usage.input_tokens + history


def test_a_stored_response_expires_after_seven_days(emulator_factory: Factory) -> None:
    emulator = emulator_factory(Config(clock=CLOCK))
    client = openai.OpenAI(**emulator.openai_kwargs(max_retries=0))
    created = client.responses.create(model=MODEL, input="Remember")
    Admin(emulator).post("/clock", {"advance": "6d"})
    assert client.responses.retrieve(created.id).id == created.id
    Admin(emulator).post("/clock", {"advance": "1d"})
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=MODEL, input="Again", previous_response_id=created.id)
    assert caught.value.body == {
        "request_id": caught.value.request_id,
        "code": "InvalidParameter",
        "message": f"Not found previous_response_id: {created.id}",
    }


def test_store_false_is_not_kept(client: openai.OpenAI) -> None:
    created = client.responses.create(model=MODEL, input="Forget me", store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    with pytest.raises(openai.BadRequestError, match="Not found previous_response_id"):
        client.responses.create(model=MODEL, input="x", previous_response_id=created.id)


def test_another_account_cannot_read_a_response(frozen: RunningEmulator) -> None:
    created = call(frozen, {"model": MODEL, "input": "Token Plan only"}).json()
    payg_key = Admin(frozen).get("/state")["payg"]["key"]
    payg = openai.OpenAI(
        base_url=frozen.url + "/dashscope/compatible-mode/v1", api_key=payg_key, max_retries=0
    )
    with pytest.raises(openai.NotFoundError):
        payg.responses.retrieve(created["id"])
    assert payg.responses.create(model=MODEL, input="pay-as-you-go works too").output_text


# ---- streaming ----------------------------------------------------------------------------

TEXT_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def _distinct(names: list[str]) -> list[str]:
    return [name for i, name in enumerate(names) if i == 0 or names[i - 1] != name]


def test_a_stream_as_captured(frozen: RunningEmulator) -> None:
    raw = call(frozen, {"model": MODEL, "input": "Hello", "stream": True, "enable_thinking": False})
    assert raw.status == 200
    assert raw.headers["Content-Type"] == "text/event-stream;charset=UTF-8"
    assert b"[DONE]" not in raw.body
    found = events(raw.body)
    assert [ident for ident, _, _ in found] == list(range(1, len(found) + 1))
    assert [data["sequence_number"] for _, _, data in found] == list(range(len(found)))
    assert _distinct([name for _, name, _ in found]) == TEXT_EVENTS
    assert found[0][2]["response"]["status"] == "queued"
    assert found[1][2]["response"]["status"] == "in_progress"
    final = found[-1][2]["response"]
    text = "".join(d["delta"] for _, name, d in found if name == "response.output_text.delta")
    assert final["output"][0]["content"][0]["text"] == text
    assert final["usage"]["output_tokens"] == tokens.count(text)


def test_a_stream_with_thinking_and_a_function_call(frozen: RunningEmulator) -> None:
    body = {"model": MODEL, "input": "Call get_weather", "tools": WEATHER, "stream": True}
    names = _distinct([name for _, name, _ in events(call(frozen, body).body)])
    assert names == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]


def test_the_sdk_stream_helper(client: openai.OpenAI) -> None:
    with client.responses.stream(model=MODEL, input="Stream it", tools=WEATHER) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert final.status == "completed"
    assert "".join(deltas) == final.output_text
    assert client.responses.retrieve(final.id).output_text == final.output_text


async def test_the_async_sdk_stream(frozen: RunningEmulator) -> None:
    client = openai.AsyncOpenAI(**frozen.openai_kwargs(max_retries=0))
    stream = await client.responses.create(model=MODEL, input="Hi", stream=True, store=False)
    kinds = [event.type async for event in stream]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"


def test_a_cut_stream_ends_with_response_incomplete(frozen: RunningEmulator) -> None:
    body = {"model": MODEL, "input": "Long", "stream": True, "max_output_tokens": 16}
    found = events(call(frozen, body).body)
    assert found[-1][1] == "response.incomplete"
    assert found[-1][2]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_a_refused_stream_is_http_200_and_response_failed(frozen: RunningEmulator) -> None:
    raw = call(frozen, {"model": "__no_such_model__", "input": "x", "stream": True})
    assert raw.status == 200
    [(ident, name, data)] = events(raw.body)
    assert (ident, name, data["sequence_number"]) == (1, "response.failed", 0)
    assert data["response"]["status"] == "failed"
    assert data["response"]["error"] == {
        "code": "InvalidParameter",
        "message": "Unsupported model: '__no_such_model__'",
    }


# ---- built-in tools -----------------------------------------------------------------------


def _tool_response(client: openai.OpenAI, tools: list[dict[str, Any]], **extra: Any) -> Any:
    return client.responses.create(
        model=HARNESS,
        input="Find pictures and facts about the Eiffel Tower",
        tools=tools,  # type: ignore[arg-type]
        store=False,
        **extra,
    )


def test_web_search(client: openai.OpenAI) -> None:
    response = _tool_response(client, [{"type": "web_search"}])
    kinds = [item.type for item in response.output]
    assert kinds == ["reasoning", "web_search_call", "message"]
    search = response.output[1]
    assert search.status == "completed" and search.action.type == "search"
    assert search.action.query.startswith("Find pictures")
    assert len(search.action.sources) == 4
    assert all(
        re.fullmatch(r"https://\w+\.example\.com/[\w-]+", s.url) for s in search.action.sources
    )
    assert response.usage.model_extra["x_tools"] == {"web_search": {"count": 1}}
    assert response.usage.model_extra["x_details"][0]["plugins"] == {"web_search": {"count": 1}}


def test_web_extractor_reads_the_first_source(frozen: RunningEmulator) -> None:
    body = {
        "model": HARNESS,
        "input": "Summarise aiohttp",
        "tools": [{"type": "web_search"}, {"type": "web_extractor"}],
    }
    output = call(frozen, body).json()["output"]
    search, extract = output[1], output[2]
    assert extract["type"] == "web_extractor_call" and extract["status"] == "completed"
    assert extract["urls"] == [search["action"]["sources"][0]["url"]]
    assert extract["goal"] == "Extract the key information about Summarise aiohttp"
    assert extract["output"].startswith(
        f"The useful information in {extract['urls'][0]} for user goal"
    )


def test_web_extractor_needs_web_search(frozen: RunningEmulator) -> None:
    raw = call(frozen, {"model": HARNESS, "input": "x", "tools": [{"type": "web_extractor"}]})
    assert raw.status == 400
    assert raw.json() == {
        "request_id": raw.headers["x-request-id"],
        "code": "InvalidParameter",
        "message": "The web_extractor tool must be executed with web_search tool.",
    }


def test_code_interpreter_prints_what_it_computed(frozen: RunningEmulator) -> None:
    body = {"model": HARNESS, "input": "Average these", "tools": [{"type": "code_interpreter"}]}
    [run] = [i for i in call(frozen, body).json()["output"] if i["type"] == "code_interpreter_call"]
    assert run["status"] == "completed" and run["container_id"].startswith("cntr_")
    numbers = json.loads(run["code"].split(" = ", 1)[1].split("\n", 1)[0])
    [logs] = run["outputs"]
    assert logs == {"logs": f"{sum(numbers)} {sum(numbers) / len(numbers)}\n", "type": "logs"}


@pytest.mark.parametrize("kind", ["web_search_image", "t2i_search"])
def test_text_to_image_search(frozen: RunningEmulator, kind: str) -> None:
    body = {"model": HARNESS, "input": "cute cats", "tools": [{"type": kind}]}
    [run] = [i for i in call(frozen, body).json()["output"] if i["type"].endswith("_call")]
    assert run["type"] == "web_search_image_call" and run["name"] == "web_search_image"
    assert json.loads(run["arguments"]) == {"queries": ["cute cats"]}
    found = json.loads(run["output"])
    assert [image["index"] for image in found] == [1, 2, 3]
    assert all(image["url"].endswith(".jpg") for image in found)


def test_image_to_image_search_needs_an_input_image(frozen: RunningEmulator) -> None:
    without = {"model": HARNESS, "input": "similar?", "tools": [{"type": "i2i_search"}]}
    assert [i["type"] for i in call(frozen, without).json()["output"]] == ["reasoning", "message"]
    picture = {"type": "input_image", "image_url": "https://example.com/cat.png"}
    content = [{"type": "input_text", "text": "similar?"}, picture]
    with_image = {**without, "input": [{"role": "user", "content": content}]}
    output = call(frozen, with_image).json()["output"]
    [run] = [i for i in output if i["type"] == "image_search_call"]
    assert json.loads(run["arguments"]) == {"img_idx": 0, "bbox": [0, 0, 1000, 1000]}


@pytest.mark.parametrize("model", ["glm-5", MODEL])
def test_models_without_built_in_tools_ignore_them(client: openai.OpenAI, model: str) -> None:
    """qwen3.6-plus is not in the Harness tools' Team Edition table."""
    response = client.responses.create(
        model=model, input="Search", tools=[{"type": "web_search"}], store=False
    )
    assert "web_search_call" not in [item.type for item in response.output]


def test_built_in_tool_events_in_a_stream(frozen: RunningEmulator) -> None:
    body = {"model": HARNESS, "input": "Go", "stream": True, "tools": ALL_BUILTINS}
    names = _distinct([name for _, name, _ in events(call(frozen, body).body)])
    for phases in (
        [
            "response.web_search_call.in_progress",
            "response.web_search_call.searching",
            "response.web_search_call.completed",
        ],
        [
            "response.code_interpreter_call.in_progress",
            "response.code_interpreter_call.interpreting",
            "response.code_interpreter_call.completed",
        ],
    ):
        at = names.index(phases[0])
        assert names[at - 1 : at + 4] == [
            "response.output_item.added",
            *phases,
            "response.output_item.done",
        ]
    assert names[-1] == "response.completed"


def test_built_in_tools_are_charged_from_the_ledger(emulator_factory: Factory) -> None:
    emulator = emulator_factory(Config(clock=CLOCK))
    admin = Admin(emulator)
    client = openai.OpenAI(**emulator.openai_kwargs(max_retries=0))
    response = _tool_response(client, [{"type": "web_search"}, {"type": "code_interpreter"}])
    entry = admin.get("/journal")["entries"][0]
    assert response.usage is not None
    uncached = response.usage.input_tokens - response.usage.input_tokens_details.cached_tokens
    tokens_cost = (uncached * 200 + response.usage.output_tokens * 1200) / 1_000_000
    # web search: 0.4 Credits a call (an assumption); the code interpreter is free
    assert credits(entry["cost"]) == credits(round(tokens_cost + 0.4, 6))
    assert admin.get("/state")["seats"][0]["used"] == float(entry["charged"])


# ---- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"model": "__no_such_model__"}, "Unsupported model: '__no_such_model__'"),
        ({"model": "qwen-image-2.0"}, "Unsupported model: 'qwen-image-2.0'"),
        (
            {"max_output_tokens": 1},
            "Invalid 'max_output_tokens': must be greater than or equal to 16, got 1.",
        ),
        (
            {"temperature": 5},
            "Invalid 'temperature': 5. Expected a value between [0,2), but got 5 instead.",
        ),
        ({"top_p": 9}, "Invalid 'top_p': 9. Expected a value between (0,1], but got 9 instead."),
        (
            {"reasoning": {"effort": "bogus_level"}},
            "Invalid 'reasoning.effort': bogus_level. Supported values are: "
            "('none','minimal','low','medium','high','xhigh','max').",
        ),
        ({"store": "NOT_A_BOOL"}, "Invalid 'store': NOT_A_BOOL. Must be a boolean."),
        (
            {"previous_response_id": "resp_3cad"},
            "Not found previous_response_id: resp_3cad",
        ),
        (
            {"previous_response_id": "resp_3cad", "conversation": "conv_1"},
            "Mutually exclusive parameters: Ensure you are only providing one of: "
            "previous_response_id or conversation.",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f"}}]},
            "<400> InternalError.Algo.InvalidParameter: The parameters, when provided as a dict, "
            "must confirm to a valid openai-compatible JSON schema.",
        ),
        ({"input": None}, "Missing required parameter: 'input'."),
    ],
)
def test_documented_errors_in_the_flat_body(
    frozen: RunningEmulator, client: openai.OpenAI, extra: dict[str, Any], message: str
) -> None:
    body = {"model": MODEL, "input": "x", **extra}
    raw = call(frozen, body)
    assert raw.status == 400
    assert raw.body.startswith(b'{"request_id":')  # request_id first, as captured
    assert raw.json() == {
        "request_id": raw.headers["x-request-id"],
        "code": "InvalidParameter",
        "message": message,
    }
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(**body)
    assert (caught.value.code, caught.value.message) == (
        "InvalidParameter",
        f"Error code: 400 - {message}",
    )
    assert Admin(frozen).get("/journal")["entries"][0]["charged"] == "0"


def test_no_key_is_the_gateway_401(frozen: RunningEmulator) -> None:
    raw = call(frozen, {"model": MODEL, "input": "x"}, key=None)
    assert raw.status == 401
    assert raw.json() == {
        "code": "InvalidApiKey",
        "message": "No API-key provided.",
        "request_id": raw.headers["x-request-id"],
    }


def test_get_on_the_collection_is_405(frozen: RunningEmulator) -> None:
    raw = call(frozen, None, method="GET")
    assert raw.status == 405
    assert (
        raw.json()["message"] == "Method 'GET' is not allowed for '/compatible-mode/v1/responses'."
    )


def test_quota_spent_is_a_flat_429(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(
        emulator_factory, tmp_path, "[]", extra="seats: [{member: alice, used: 100000}]"
    )
    raw = call(emulator, {"model": MODEL, "input": "x"})
    assert raw.status == 429
    assert raw.json() == {
        "request_id": raw.headers["x-request-id"],
        "code": "Throttling.AllocationQuota",
        "message": "You exceeded your current quota, please check your plan and billing details.",
    }


def test_a_long_history_is_truncated_not_refused(client: openai.OpenAI) -> None:
    """The service keeps ~20% of the window free and drops the oldest turns past that."""
    chunk = "word " * 20_000  # 20,000 tokens a message
    history = [{"role": "user", "content": chunk} for _ in range(6)]
    response = client.responses.create(
        model="deepseek-v3.2", input=[*history, {"role": "user", "content": "Last"}], store=False
    )
    assert response.usage is not None
    assert response.usage.input_tokens <= 98_304 < 6 * 20_000


def test_the_session_cache_header(frozen: RunningEmulator) -> None:
    body = {"model": MODEL, "input": "cached " * 1500, "store": False, "enable_thinking": False}
    headers = {"x-dashscope-session-cache": "enable"}
    first = call(frozen, body, headers=headers).json()["usage"]["input_tokens_details"]
    second = call(frozen, body, headers=headers).json()["usage"]["input_tokens_details"]
    assert first["cache_type"] == "ephemeral" and first["cache_creation_input_tokens"] > 1024
    assert second["cached_tokens"] == first["cache_creation_input_tokens"]


# ---- scenario rules and faults ------------------------------------------------------------


def test_a_scripted_reply_and_a_rule_error(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(
        emulator_factory,
        tmp_path,
        """
        - name: scripted
          match: {path: "/responses$", last_user: "^script"}
          reply: {text: "Scripted for {model}"}
        - name: refused
          match: {path: "/responses$", last_user: "^refuse"}
          error: rate_limited
        """,
    )
    client = openai.OpenAI(**emulator.openai_kwargs(max_retries=0))
    response = client.responses.create(model=MODEL, input="script me", reasoning={"effort": "none"})
    assert response.output_text == f"Scripted for {MODEL}"
    raw = call(emulator, {"model": MODEL, "input": "refuse me"})
    assert (raw.status, raw.json()["code"]) == (429, "Throttling.RateQuota")
    streamed = call(emulator, {"model": MODEL, "input": "refuse me", "stream": True})
    assert streamed.status == 200
    [(_, name, data)] = events(streamed.body)
    assert name == "response.failed"
    assert (
        data["response"]["error"]["message"]
        == "Requests rate limit exceeded, please try again later."
    )
    journal = Admin(emulator).get("/journal")["entries"]
    assert [(e["rule"], e["status"]) for e in journal[:3]] == [
        ("refused", 200),
        ("refused", 429),
        ("scripted", 200),
    ]


def test_an_error_mid_stream_is_response_failed(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(
        emulator_factory,
        tmp_path,
        """
        - name: late
          match: {path: "/responses$"}
          error: internal_error
          fault: {error_after: 3}
        """,
    )
    found = events(call(emulator, {"model": MODEL, "input": "Hi", "stream": True}).body)
    assert [name for _, name, _ in found][-1] == "response.failed"
    assert len(found) == 4
    assert [d["sequence_number"] for _, _, d in found] == [0, 1, 2, 3]
    assert found[-1][2]["response"]["error"]["code"] == "InternalError"


def test_a_prompt_said_to_fit_without_counting_counts_within_the_limit() -> None:
    """_fit skips counting a plain conversation whose bound is within the window's share: the
    bound is never under the count, whatever the text (NFC that makes three characters of
    one, four-byte characters, special tokens' spellings, nothing at all)."""
    from emulator.catalog import base_catalog
    from emulator.engine.types import ChatRequest
    from emulator.responses_routes import _surely_fits

    model = base_catalog().text_models[MODEL]
    texts = ("", "a", "word " * 50, "\ufb2c" * 40, "\u0344\U0001d15e" * 30, "海🌊" * 25)
    texts += ("<|im_start|>user\n<|im_end|>" * 5, "\x00\x1f\u2028 é" * 20)
    for text, roles in itertools.product(texts, (("user",), ("system", "user", "assistant"))):
        messages = tuple(Message(role, text) for role in roles)  # type: ignore[arg-type]
        chat = ChatRequest("openai", model, messages)
        counted = tokens.prompt_tokens(messages, ())
        low, high = 0, 10**7  # the least limit it is said to fit
        while low < high:
            middle = (low + high) // 2
            low, high = (low, middle) if _surely_fits(chat, middle) else (middle + 1, high)
        assert 0 < counted <= low < 10**7, (text, roles)
