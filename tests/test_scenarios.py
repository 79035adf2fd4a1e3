"""Scenario rules through the real endpoints (issue 4, "Scenarios").

Each test writes its own scenarios YAML into tmp_path, loads it with `load_scenario` and starts an
emulator on it; requests go through the official SDKs (raw HTTP where the bytes matter), and the
outcome is read back through the admin API: which rule answered, which fields missed, what it
cost. Then the YAML validation, the admin switch and the command line.
"""

from __future__ import annotations

import json
import socket
import subprocess
import textwrap
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from emulator.config import (
    SHIPPED,
    ConfigError,
    embedded_scenarios_text,
    load_scenario,
    read_scenarios,
)
from emulator.engine import tokens
from emulator.harness import RunningEmulator
from emulator.scenarios.schema import validate
from tests.admin_api import Admin, anthropic_client, async_openai_client, openai_client
from tests.test_cli import clean_env, cli_server, emulator_command

Factory = Callable[..., RunningEmulator]
MODEL = "qwen3.6-plus"
CLOCK = "2026-05-01T00:00:00Z"
WEATHER_OPENAI = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
WEATHER_ANTHROPIC = [
    {
        "name": "get_weather",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
NO_THINKING = {"enable_thinking": False}


def write(tmp_path: Path, text: str, name: str = "scenarios.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), "utf-8")
    return path


def serve(
    factory: Factory, tmp_path: Path, rules: str, name: str = "s", extra: str = ""
) -> RunningEmulator:
    """An emulator on a one-scenario file: a frozen clock, `extra` scenario keys, and `rules`
    (YAML list items, indented as written under `rules:`)."""
    body = textwrap.indent(textwrap.dedent(rules).strip("\n"), "    ")
    head = textwrap.indent(textwrap.dedent(extra).strip("\n"), "  ")
    text = f"{name}:\n  clock: {CLOCK}\n{head}\n  rules:\n{body}\n"
    path = tmp_path / "scenarios.yaml"
    path.write_text(text, "utf-8")
    return factory(load_scenario(name, path))


def ask(emulator: RunningEmulator, text: str, **extra: Any) -> str:
    """One OpenAI turn without thinking; the answer's text."""
    extra.setdefault("extra_body", NO_THINKING)
    reply = openai_client(emulator).chat.completions.create(
        model=extra.pop("model", MODEL), messages=[{"role": "user", "content": text}], **extra
    )
    return reply.choices[0].message.content or ""


def ask_claude(emulator: RunningEmulator, text: str, **extra: Any) -> str:
    reply = anthropic_client(emulator).messages.create(
        model=extra.pop("model", MODEL),
        max_tokens=extra.pop("max_tokens", 256),
        messages=[{"role": "user", "content": text}],
        **extra,
    )
    return "".join(block.text for block in reply.content if block.type == "text")


def raw_post(emulator: RunningEmulator, path: str, body: dict[str, Any], key: str) -> Any:
    """POST over plain HTTP: (status, headers, parsed JSON body)."""
    request = urllib.request.Request(
        emulator.url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


# ---- matching on each field -----------------------------------------------------------------


def test_plan_matches_the_site_called(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(
        emulator_factory,
        tmp_path,
        """
        - {name: coding, match: {plan: coding_plan}, reply: {text: "coding plan"}}
        - {name: payg, match: {plan: payg}, reply: {text: "pay as you go"}}
        - {name: token, match: {plan: token_plan}, reply: {text: "token plan"}}
        """,
    )
    state = Admin(emulator).state()
    coding, payg = state["coding_plan"]["key"], state["payg"]["key"]
    for base, key, said in [
        ("/coding-plan/v1", coding, "coding plan"),
        ("/dashscope/compatible-mode/v1", payg, "pay as you go"),
        ("/compatible-mode/v1", emulator.api_key, "token plan"),
    ]:
        client = openai_client(emulator, key, base)
        reply = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], extra_body=NO_THINKING
        )
        assert reply.choices[0].message.content == said, base
    claude = anthropic_client(emulator, coding, "/coding-plan/apps/anthropic")
    message = claude.messages.create(
        model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.content[0].type == "text" and message.content[0].text == "coding plan"
    assert [e["rule"] for e in Admin(emulator).journal()] == ["coding", "payg", "token", "coding"]
    assert [e["plan"] for e in Admin(emulator).journal()] == [
        "coding_plan",
        "payg",
        "token_plan",
        "coding_plan",
    ]


def test_protocol_and_path(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(
        emulator_factory,
        tmp_path,
        """
        - name: counting
          match: {path: "/count_tokens$"}
          error: {kind: invalid_parameter, detail: "counting is down"}
        - {name: claude, match: {protocol: anthropic}, reply: {text: "anthropic side"}}
        """,
    )
    assert ask_claude(emulator, "hi") == "anthropic side"
    assert ask(emulator, "hi") != "anthropic side"
    with pytest.raises(anthropic.BadRequestError, match="counting is down"):
        anthropic_client(emulator).messages.count_tokens(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )
    rules = [e["rule"] for e in Admin(emulator).journal()]
    assert rules == ["claude", None, "counting"]


def test_model_key_and_member(emulator_factory: Factory, tmp_path: Path) -> None:
    alice_key = "sk-sp-" + "a" * 32
    bob_key = "sk-sp-" + "b" * 32
    emulator = serve(
        emulator_factory,
        tmp_path,
        f"""
        - {{name: glm, match: {{model: glm-5}}, reply: {{text: "glm answered"}}}}
        - {{name: bob, match: {{key: "{bob_key}"}}, reply: {{text: "bob's key"}}}}
        - {{name: alice, match: {{member: alice}}, reply: {{text: "hello {{member}}"}}}}
        """,
        extra=f"""
        seats:
          - {{member: alice, key: "{alice_key}"}}
          - {{member: bob, key: "{bob_key}"}}
        """,
    )
    assert ask(emulator, "hi", model="glm-5") == "glm answered"
    assert ask(emulator, "hi") == "hello alice"
    bob = openai_client(emulator, bob_key)
    reply = bob.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], extra_body=NO_THINKING
    )
    assert reply.choices[0].message.content == "bob's key"


def test_stream_and_tools(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(
        emulator_factory,
        tmp_path,
        """
        - {name: streamed, match: {stream: true}, reply: {text: "a streamed answer"}}
        - {name: tooled, match: {tools: true, stream: false}, reply: {text: "tools were offered"}}
        """,
    )
    client = openai_client(emulator)
    chunks = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        extra_body=NO_THINKING,
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "a streamed answer"
    )
    assert ask(emulator, "hi", tools=WEATHER_OPENAI, tool_choice="none") == "tools were offered"
    assert ask(emulator, "hi") not in ("a streamed answer", "tools were offered")


def test_last_user_and_system(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(
        emulator_factory,
        tmp_path,
        """
        - {name: pirate, match: {system: "(?i)pirate"}, reply: {text: "arr"}}
        - {name: refund, match: {last_user: "refund #\\\\d+"}, reply: {text: "refund noted"}}
        """,
    )
    client = openai_client(emulator)
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "You are a PIRATE."},
            {"role": "user", "content": "hi"},
        ],
        extra_body=NO_THINKING,
    )
    assert reply.choices[0].message.content == "arr"
    assert ask_claude(emulator, "hi", system="Talk like a pirate") == "arr"
    assert ask_claude(emulator, "hi", system="Be brief") != "arr"
    # The last user message counts, not an earlier one.
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "user", "content": "I want refund #12"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "thanks"},
        ],
        extra_body=NO_THINKING,
    )
    assert reply.choices[0].message.content != "refund noted"
    assert ask(emulator, "please process refund #12 today") == "refund noted"
    assert ask(emulator, "refund #abc") != "refund noted"


def test_first_matching_rule_wins(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(
        emulator_factory,
        tmp_path,
        """
        - {name: narrow, match: {last_user: "^special"}, reply: {text: "narrow"}}
        - {name: broad, reply: {text: "broad"}}
        - {name: never, match: {last_user: "^special"}, reply: {text: "never"}}
        """,
    )
    assert ask(emulator, "special request") == "narrow"
    assert ask(emulator, "anything else") == "broad"
    assert [e["rule"] for e in Admin(emulator).journal()] == ["narrow", "broad"]


# ---- times, nth, states, reset --------------------------------------------------------------


def test_fail_the_first_n_calls_then_answer_normally(
    emulator_factory: Factory, tmp_path: Path
) -> None:
    emulator = serve(emulator_factory, tmp_path, "- {name: flaky, times: 2, error: rate_limited}")
    outcomes = []
    for _ in range(5):
        try:
            ask(emulator, "hi")
            outcomes.append("ok")
        except openai.RateLimitError as error:
            assert error.code == "limit_requests"
            outcomes.append("429")
    assert outcomes == ["429", "429", "ok", "ok", "ok"]
    journal = Admin(emulator).journal()
    assert [e["status"] for e in journal] == [429, 429, 200, 200, 200]
    assert [e["rule"] for e in journal] == ["flaky", "flaky", None, None, None]
    assert journal[-1]["near_misses"] == [{"rule": "flaky", "unmatched": ["times"]}]


def test_nth_answers_only_those_calls(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(
        emulator_factory,
        tmp_path,
        '- {name: even, match: {last_user: ping}, nth: [2, 4], reply: {text: "call {call}"}}',
    )
    answers = [ask(emulator, "ping") for _ in range(5)]
    assert [a if a.startswith("call ") else "normal" for a in answers] == [
        "normal",
        "call 2",
        "normal",
        "call 4",
        "normal",
    ]
    admin = Admin(emulator)
    assert admin.journal()[0]["near_misses"] == [{"rule": "even", "unmatched": ["nth"]}]
    # Calls that do not fit the match are not counted: ping's sixth call is still to come.
    ask(emulator, "pong")
    assert admin.last()["near_misses"] == [{"rule": "even", "unmatched": ["last_user"]}]
    admin.post("/reset")
    assert [ask(emulator, "ping").startswith("call ") for _ in range(2)] == [False, True]


def test_then_moves_the_state_and_reset_restores_it(
    emulator_factory: Factory, tmp_path: Path
) -> None:
    emulator = serve(
        emulator_factory,
        tmp_path,
        """
        - {name: login, match: {last_user: login}, reply: {text: "logged in"}, then: inside}
        - {name: secret, match: {state: inside, last_user: secret}, reply: {text: "the secret"}}
        - {name: logout, match: {state: inside, last_user: logout}, reply: {text: bye}, then: start}
        - {name: once, match: {last_user: once}, times: 1, reply: {text: "first time"}}
        """,
    )
    admin = Admin(emulator)
    assert ask(emulator, "secret") != "the secret"
    assert {"rule": "secret", "unmatched": ["state"]} in admin.last()["near_misses"]
    assert ask(emulator, "login") == "logged in"
    assert ask(emulator, "secret") == "the secret"
    assert ask(emulator, "secret") == "the secret"
    assert ask(emulator, "logout") == "bye"
    assert ask(emulator, "secret") != "the secret"
    assert ask(emulator, "once") == "first time"
    assert ask(emulator, "once") != "first time"
    assert ask(emulator, "login") == "logged in"

    admin.post("/reset")
    assert admin.journal() == []
    assert ask(emulator, "secret") != "the secret"  # back in `start`
    assert ask(emulator, "once") == "first time"  # the counts start again


def test_initial_state_from_the_scenario(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(
        emulator_factory,
        tmp_path,
        '- {name: warm, match: {state: warm}, reply: {text: "already warm"}, then: cold}',
        extra="state: warm",
    )
    assert ask(emulator, "hi") == "already warm"
    assert ask(emulator, "hi") != "already warm"
    Admin(emulator).post("/reset")
    assert ask(emulator, "hi") == "already warm"


# ---- scripted replies -------------------------------------------------------------------------

TEMPLATE = "{member} asked {model} (call {call}): {last_user} [{request_id}] {unknown}"


def expected(member: str, model: str, call: int, said: str, request_id: str) -> str:
    return f"{member} asked {model} (call {call}): {said} [{request_id}] {{unknown}}"


def test_templates_on_openai(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(emulator_factory, tmp_path, f'- {{name: echo, reply: {{text: "{TEMPLATE}"}}}}')
    client = openai_client(emulator)
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "what time?"}], extra_body=NO_THINKING
    )
    request_id = raw.headers["x-request-id"]
    reply = raw.parse()
    assert reply.choices[0].message.content == expected("alice", MODEL, 1, "what time?", request_id)
    assert reply.choices[0].finish_reason == "stop"

    stream = client.chat.completions.with_raw_response.create(
        model="glm-5",
        messages=[{"role": "user", "content": "and now?"}],
        stream=True,
        extra_body=NO_THINKING,
    )
    request_id = stream.headers["x-request-id"]
    joined = "".join(c.choices[0].delta.content or "" for c in stream.parse() if c.choices)
    assert joined == expected("alice", "glm-5", 2, "and now?", request_id)


def test_templates_on_anthropic(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(emulator_factory, tmp_path, f'- {{name: echo, reply: {{text: "{TEMPLATE}"}}}}')
    claude = anthropic_client(emulator)
    raw = claude.messages.with_raw_response.create(
        model=MODEL, max_tokens=512, messages=[{"role": "user", "content": "what time?"}]
    )
    message = raw.parse()
    request_id = raw.headers["x-request-id"]
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == expected("alice", MODEL, 1, "what time?", request_id)
    assert message.stop_reason == "end_turn"

    with claude.messages.stream(
        model="glm-5", max_tokens=512, messages=[{"role": "user", "content": "and now?"}]
    ) as stream:
        pieces = [event.text for event in stream if event.type == "text"]
        stream.get_final_message()
    request_id = stream.response.headers["x-request-id"]
    assert "".join(pieces) == expected("alice", "glm-5", 2, "and now?", request_id)
    assert len(pieces) > 1  # streamed in pieces, not one frame


async def test_templates_on_async_openai_stream(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(
        emulator_factory, tmp_path, '- {name: echo, reply: {text: "you said {last_user}"}}'
    )
    client = async_openai_client(emulator)
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "async hello"}],
        stream=True,
        extra_body=NO_THINKING,
    )
    pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(pieces) == "you said async hello"
    await client.close()


def test_braces_that_are_not_placeholders_stay(emulator_factory: Factory, tmp_path: Path) -> None:
    """A scripted JSON answer is common (testing a JSON-mode parser): only `{field}`s of the
    request are filled in, every other brace is the text as written."""
    emulator = serve(
        emulator_factory,
        tmp_path,
        """
        - name: json
          reply: {text: '{"answer": 42, "echo": "{last_user}", "keep": "{nope} { }"}'}
        """,
    )
    assert json.loads(ask(emulator, "hi")) == {"answer": 42, "echo": "hi", "keep": "{nope} { }"}
    assert json.loads(ask_claude(emulator, "hi"))["answer"] == 42


def test_templates_off_the_token_plan(emulator_factory: Factory, tmp_path: Path) -> None:
    """No seat on the Coding Plan: `{member}` is empty, in replies and in error parameters."""
    emulator = serve(
        emulator_factory,
        tmp_path,
        """
        - {name: hi, match: {last_user: hi}, reply: {text: "member=[{member}]"}}
        - {name: bad, error: {kind: invalid_parameter, detail: "member=[{member}]"}}
        """,
    )
    coding = Admin(emulator).state()["coding_plan"]["key"]
    client = openai_client(emulator, coding, "/coding-plan/v1")
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], extra_body=NO_THINKING
    )
    assert reply.choices[0].message.content == "member=[]"
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["message"].endswith("member=[]")


def test_scripted_tool_calls_on_openai(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(
        emulator_factory,
        tmp_path,
        """
        - name: weather
          match: {tools: true}
          reply:
            tool_calls:
              - {name: get_weather, arguments: {city: Paris, days: 3}}
              - {name: get_weather, arguments: {city: "Zürich"}}
        """,
    )
    client = openai_client(emulator)
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "weather?"}],
        tools=WEATHER_OPENAI,
        extra_body=NO_THINKING,
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_weather"]
    assert [json.loads(c.function.arguments) for c in calls] == [
        {"city": "Paris", "days": 3},
        {"city": "Zürich"},
    ]
    assert all(c.id.startswith("call_") for c in calls)
    assert len({c.id for c in calls}) == 2

    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "weather?"}],
            tools=WEATHER_OPENAI,
            stream=True,
            extra_body=NO_THINKING,
        )
    )
    arguments: dict[int, str] = {}
    ids: dict[int, str] = {}
    for chunk in chunks:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            arguments[delta.index] = arguments.get(delta.index, "") + (
                delta.function.arguments or "" if delta.function else ""
            )
            if delta.id:
                ids[delta.index] = delta.id
    assert [json.loads(arguments[i]) for i in sorted(arguments)] == [
        {"city": "Paris", "days": 3},
        {"city": "Zürich"},
    ]
    assert [ids[i] for i in sorted(ids)] == [c.id for c in calls]
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert [f for f in finishes if f] == ["tool_calls"]


def test_scripted_tool_calls_on_anthropic(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(
        emulator_factory,
        tmp_path,
        """
        - name: weather
          match: {tools: true}
          reply:
            text: "Let me check."
            tool_calls: [{name: get_weather, arguments: {city: Paris}}]
        """,
    )
    claude = anthropic_client(emulator)
    message = claude.messages.create(
        model=MODEL,
        max_tokens=256,
        messages=[{"role": "user", "content": "weather?"}],
        tools=WEATHER_ANTHROPIC,
    )
    assert message.stop_reason == "tool_use"
    uses = [b for b in message.content if b.type == "tool_use"]
    assert [(u.name, u.input) for u in uses] == [("get_weather", {"city": "Paris"})]
    assert uses[0].id
    with claude.messages.stream(
        model=MODEL,
        max_tokens=256,
        messages=[{"role": "user", "content": "weather?"}],
        tools=WEATHER_ANTHROPIC,
    ) as stream:
        final = stream.get_final_message()
    assert [(b.name, b.input) for b in final.content if b.type == "tool_use"] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert final.stop_reason == "tool_use"


def test_scripted_thinking_shows_only_on_a_thinking_request(
    emulator_factory: Factory, tmp_path: Path
) -> None:
    emulator = serve(
        emulator_factory,
        tmp_path,
        '- {name: ponder, reply: {text: "42", thinking: "Let me think about {last_user}."}}',
    )
    client = openai_client(emulator)
    thinking = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "life"}],
        extra_body={"enable_thinking": True},
    )
    message = thinking.choices[0].message
    assert message.content == "42"
    assert getattr(message, "reasoning_content", None) == "Let me think about life."
    plain = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "life"}], extra_body=NO_THINKING
    )
    assert plain.choices[0].message.content == "42"
    assert not getattr(plain.choices[0].message, "reasoning_content", None)

    claude = anthropic_client(emulator)
    thought = claude.messages.create(
        model=MODEL,
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "life"}],
    )
    assert [b.type for b in thought.content] == ["thinking", "text"]
    assert thought.content[0].thinking == "Let me think about life."
    assert thought.content[0].signature
    unthought = claude.messages.create(
        model=MODEL, max_tokens=256, messages=[{"role": "user", "content": "life"}]
    )
    assert [b.type for b in unthought.content] == ["text"]


def test_max_tokens_cuts_a_scripted_text(emulator_factory: Factory, tmp_path: Path) -> None:
    text = "one two three four five six seven eight nine ten"
    emulator = serve(emulator_factory, tmp_path, f'- {{name: long, reply: {{text: "{text}"}}}}')
    reply = openai_client(emulator).chat.completions.create(
        model=MODEL,
        max_tokens=3,
        messages=[{"role": "user", "content": "count"}],
        extra_body=NO_THINKING,
    )
    cut = reply.choices[0].message.content or ""
    assert reply.choices[0].finish_reason == "length"
    assert cut and text.startswith(cut) and cut != text
    assert reply.usage is not None and reply.usage.completion_tokens == 3

    message = anthropic_client(emulator).messages.create(
        model=MODEL, max_tokens=3, messages=[{"role": "user", "content": "count"}]
    )
    assert message.stop_reason == "max_tokens"
    assert message.content[0].text == cut
    assert message.usage.output_tokens == 3


def test_usage_counts_the_script_and_the_ledger_charges_it(
    emulator_factory: Factory, tmp_path: Path
) -> None:
    text = "The scripted answer, counted like any other."
    emulator = serve(emulator_factory, tmp_path, f'- {{name: fixed, reply: {{text: "{text}"}}}}')
    admin = Admin(emulator)
    before = admin.seat()["used"]
    reply = openai_client(emulator).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], extra_body=NO_THINKING
    )
    assert reply.usage is not None
    assert reply.usage.completion_tokens == tokens.count(text)
    entry = admin.last()
    assert entry["rule"] == "fixed"
    assert entry["output_tokens"] == tokens.count(text)
    assert float(entry["cost"]) > 0 and entry["charged"] == entry["cost"]
    assert admin.seat()["used"] > before

    message = anthropic_client(emulator).messages.create(
        model=MODEL, max_tokens=256, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.usage.output_tokens == tokens.count(text)


# ---- errors by catalogue name -----------------------------------------------------------------

TOO_LONG = "<400> InternalError.Algo.InvalidParameter: Range of input length should be [1, 1000]"


def test_error_with_parameters_in_each_protocol(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(
        emulator_factory,
        tmp_path,
        """
        - {name: long, match: {last_user: long}, error: {kind: input_too_long, limit: 1000}}
        - name: missing
          match: {last_user: missing}
          error: {kind: model_not_found, model: "{model}"}
        """,
    )
    with pytest.raises(openai.BadRequestError) as caught:
        ask(emulator, "long")
    assert caught.value.code == "invalid_parameter_error"
    assert caught.value.body["message"] == TOO_LONG
    body = {"model": MODEL, "messages": [{"role": "user", "content": "long"}]}
    status, headers, answer = raw_post(
        emulator, "/compatible-mode/v1/chat/completions", body, emulator.api_key
    )
    assert status == 400
    assert answer == {
        "error": {
            "message": TOO_LONG,
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_parameter_error",
        },
        "request_id": headers["x-request-id"],
    }
    with pytest.raises(anthropic.BadRequestError) as refused:
        ask_claude(emulator, "long")
    assert refused.value.body["error"] == {"type": "invalid_request_error", "message": TOO_LONG}

    body = {"model": "glm-5", "messages": [{"role": "user", "content": "missing"}]}
    status, headers, answer = raw_post(
        emulator, "/compatible-mode/v1/chat/completions", body, emulator.api_key
    )
    assert status == 404
    assert answer["error"]["message"] == "model 'glm-5' not found or not supported"
    assert answer["error"]["code"] == "model_not_found"
    assert answer["request_id"] == headers["x-request-id"]
    status, _, answer = raw_post(
        emulator, "/apps/anthropic/v1/messages", {**body, "max_tokens": 16}, emulator.api_key
    )
    assert status == 404
    assert answer["type"] == "error"
    assert answer["error"] == {
        "type": "not_found_error",
        "message": "model 'glm-5' not found or not supported",
    }


def test_gateway_error_renders_flat(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(emulator_factory, tmp_path, "- {name: deny, error: invalid_api_key}")
    for path, extra in [
        ("/compatible-mode/v1/chat/completions", {}),
        ("/apps/anthropic/v1/messages", {"max_tokens": 16}),
    ]:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], **extra}
        status, headers, answer = raw_post(emulator, path, body, emulator.api_key)
        assert status == 401
        assert answer == {
            "code": "InvalidApiKey",
            "message": "Invalid API-key provided.",
            "request_id": headers["x-request-id"],
        }
    with pytest.raises(openai.AuthenticationError):
        ask(emulator, "hi")


def test_rule_errors_never_charge(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(emulator_factory, tmp_path, "- {name: busy, error: model_unavailable}")
    admin = Admin(emulator)
    before = admin.books()
    with pytest.raises(openai.InternalServerError):
        ask(emulator, "hi")
    with pytest.raises(anthropic.InternalServerError):
        ask_claude(emulator, "hi")
    with pytest.raises(openai.InternalServerError):
        list(
            openai_client(emulator).chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
            )
        )
    assert admin.books() == before
    journal = admin.journal()
    assert [(e["status"], e["error"], e["rule"], e["cost"]) for e in journal] == [
        (503, "model_unavailable", "busy", "0")
    ] * 3


# ---- the journal ------------------------------------------------------------------------------


def test_journal_names_the_rule_or_the_near_misses(
    emulator_factory: Factory, tmp_path: Path
) -> None:
    emulator = serve(
        emulator_factory,
        tmp_path,
        """
        - {name: glm-only, match: {model: glm-5, last_user: hello}, reply: {text: glm}}
        - {name: greeting, match: {last_user: "^hello"}, reply: {text: "hi there"}}
        - name: claude-stream
          match: {protocol: anthropic, stream: true, last_user: nope}
          reply: {text: x}
        """,
    )
    admin = Admin(emulator)
    assert ask(emulator, "hello") == "hi there"
    answered = admin.last()
    assert answered["rule"] == "greeting" and answered["near_misses"] == []

    ask(emulator, "goodbye")
    missed = admin.last()
    assert missed["rule"] is None
    assert missed["near_misses"] == [
        {"rule": "greeting", "unmatched": ["last_user"]},
        {"rule": "glm-only", "unmatched": ["model", "last_user"]},
        {"rule": "claude-stream", "unmatched": ["protocol", "stream", "last_user"]},
    ]
    ask(emulator, "say hello", model="glm-5")
    assert admin.last()["rule"] == "glm-only"
    ask(emulator, "well hello", model="deepseek-v3.2")
    assert admin.last()["near_misses"][0] == {"rule": "glm-only", "unmatched": ["model"]}


# ---- validation -------------------------------------------------------------------------------

BAD = """\
broken:
  descripton: typo in a key
  seed: -1
  rules:
    - name: a
      match: {modle: x, last_user: "([", plan: tokenplan, stream: "yes"}
      reply: {text: hi}
    - name: b
      error: input_too_lng
    - name: c
      error: input_too_long
    - name: d
      match: {model: x}
    - name: e
      fault: {error_after: 2}
    - name: f
      reply: {text: hi}
      error: internal_error
      fault: {status: 418, stal: true}
      times: 0
"""
PROBLEMS = [
    "{f}:2: broken: unknown key 'descripton'; did you mean 'description'?",
    "{f}:3: broken.seed: must be at least 0",
    "{f}:6: broken.rules[0].match: unknown key 'modle'; did you mean 'model'?",
    "{f}:6: broken.rules[0].match.last_user: is not a valid regular expression",
    "{f}:6: broken.rules[0].match.plan: must be one of token_plan, coding_plan, payg; "
    "did you mean 'token_plan'?",
    "{f}:6: broken.rules[0].match.stream: must be bool",
    "{f}:9: broken.rules[1].error: names no documented error 'input_too_lng'; "
    "did you mean 'input_too_long'?",
    "{f}:11: broken.rules[2].error: error 'input_too_long' needs limit",
    "{f}:12: broken.rules[3]: a rule needs a reply, an error or a fault",
    "{f}:15: broken.rules[4]: fault.error_after needs the rule's `error` to send",
    "{f}:16: broken.rules[5]: a rule answers with a reply or an error, not both",
    "{f}:19: broken.rules[5].fault: unknown key 'stal'; did you mean 'stall'?",
    "{f}:19: broken.rules[5].fault.status: must be one of 500, 502, 503, 504",
    "{f}:20: broken.rules[5].times: must be at least 1",
]


def test_check_reports_every_problem_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, BAD, "bad.yaml")
    done = subprocess.run(
        emulator_command("check", str(path)),
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=30,
    )
    assert done.returncode == 1, done
    printed = done.stderr.splitlines()
    for problem in PROBLEMS:
        wanted = problem.format(f=path)
        assert any(line.startswith(wanted) for line in printed), (wanted, printed)
    assert len(printed) == len(PROBLEMS), printed


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("s:\n  rules: {a: 1}\n", "s.rules: must be list"),
        ("s:\n  rules:\n    - {nth: [0, 2], reply: {text: x}}\n", "must be a call number"),
        ("s:\n  rules:\n    - {match: {protocol: antropic}, reply: {text: x}}\n", "'anthropic'"),
        ("s:\n  rules:\n    - {match: {system: '*x'}, reply: {text: x}}\n", "regular expression"),
        ("s:\n  rules:\n    - {match: {path: '(x'}, reply: {text: x}}\n", "regular expression"),
        ("s:\n  rules:\n    - {error: {kind: internal_error, limit: 3}}\n", "takes no limit"),
        ("s:\n  rules:\n    - {error: {kind: method_not_allowed, path: x}}\n", "needs method"),
        ("s:\n  rules:\n    - {reply: {txt: x}}\n", "did you mean 'text'?"),
        ("s:\n  rules:\n    - {fault: {latency: -1}}\n", "must be at least 0"),
        ("s:\n  rules:\n    - {fault: {cut_after: 1.5}}\n", "must be integer"),
        ("s:\n  seats:\n    - {member: a, tier: prp}\n", "did you mean 'pro'?"),
        ("s:\n  clock: yesterday\n", "ISO-8601"),
        ("s:\n  tool_calls: allways\n", "must be one of named, always; did you mean 'always'?"),
        (
            "s:\n  rules:\n    - {name: x, reply: {text: a}}\n    - {name: x, reply: {text: b}}\n",
            "rule name 'x' is already used by s.rules[0]",
        ),
        (
            "s:\n  rules:\n    - {reply: {text: a}}\n    - {name: rule-1, reply: {text: b}}\n",
            "rule name 'rule-1' is already used",
        ),
        ("s: [1, 2\n", "not valid YAML"),
        ("- a\n- b\n", "must map names to scenarios"),
    ],
)
def test_validation_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        read_scenarios(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:"), message
    assert problem in message, message


def test_a_bad_file_never_starts_a_server(tmp_path: Path) -> None:
    path = write(tmp_path, BAD, "bad.yaml")
    done = subprocess.run(
        emulator_command("--scenarios", str(path), "--port", "0"),
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=30,
    )
    assert done.returncode == 2, done
    assert "listening" not in done.stdout
    assert f"{path}:6: broken.rules[0].match: unknown key 'modle'" in done.stderr


GOOD = """\
first:
  description: |
    The first scenario.
    A second line the listing leaves out.
  clock: 2026-05-01T00:00:00Z
  rules:
    - {name: hello, match: {last_user: "^hello"}, reply: {text: "scripted hello"}}
    - {name: flaky, times: 2, error: internal_error}
second:
  description: Only errors.
  rules:
    - {error: {kind: input_too_long, limit: 1000}}
"""


def test_check_a_good_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, "good.yaml")
    done = subprocess.run(
        emulator_command("check", str(path)),
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=30,
    )
    assert done.returncode == 0, done
    assert done.stdout.strip() == f"{path}: 2 scenarios, 3 rules: OK"


def test_the_shipped_scenarios_validate() -> None:
    """A start loads the shipped scenarios without the validator (they ship with the
    catalogue they are checked against): the validator passes them here, to the same data."""
    assert validate(embedded_scenarios_text(), SHIPPED) == read_scenarios()


def test_list_scenarios(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, "good.yaml")
    done = subprocess.run(
        emulator_command("scenarios", "--scenarios", str(path)),
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=30,
    )
    assert done.returncode == 0, done
    # The file's scenarios, under its name, then the shipped ones they add to.
    lines = done.stdout.splitlines()
    assert lines[0] == f"{path}:"
    assert [line.split(None, 1) for line in lines[1:3]] == [
        ["first", "The first scenario."],
        ["second", "Only errors."],
    ]
    assert lines[3] == "scenarios.yaml (shipped), not replaced above:"
    assert lines[4].split()[0] == "default"
    shipped = subprocess.run(
        emulator_command("scenarios"), capture_output=True, text=True, env=clean_env(), timeout=30
    )
    assert shipped.returncode == 0, shipped
    names = {line.split()[0]: line for line in shipped.stdout.splitlines()}
    assert "default" in names and len(names["default"].split()) > 1  # with its description


def test_serve_a_scenario_from_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, "good.yaml")
    with cli_server("--scenarios", str(path), "--scenario", "first") as server:
        assert "scenario 'first'" in server.banner[1]
        assert "frozen at 2026-05-01T00:00:00Z" in server.banner[1]
        client = openai.OpenAI(
            base_url=server.url + "/compatible-mode/v1", api_key=server.key, max_retries=0
        )
        reply = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hello"}], extra_body=NO_THINKING
        )
        assert reply.choices[0].message.content == "scripted hello"
        status, body = server.get("/_emulator/scenarios")
        assert status == 200
        assert json.loads(body)["current"] == "first"


def test_an_unknown_scenario_name_suggests_the_closest(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, "good.yaml")
    done = subprocess.run(
        emulator_command("--scenarios", str(path), "--scenario", "frist", "--port", "0"),
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=30,
    )
    assert done.returncode == 2, done
    assert "no scenario named 'frist'; did you mean 'first'?" in done.stderr
    assert "listening" not in done.stdout
    with pytest.raises(ConfigError, match="did you mean 'second'"):
        load_scenario("secnd", path)


# ---- the admin API ----------------------------------------------------------------------------


def test_admin_lists_and_switches_scenarios(emulator_factory: Factory, tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, "good.yaml")
    emulator = emulator_factory(load_scenario("first", path))
    admin = Admin(emulator)
    listed = admin.get("/scenarios")
    assert listed["current"] == "first"
    # The file's scenarios first, then the shipped ones it adds to.
    assert list(listed["scenarios"].items())[:2] == [
        ("first", "The first scenario."),
        ("second", "Only errors."),
    ]
    assert "all-spent" in listed["scenarios"]
    assert ask(emulator, "hello") == "scripted hello"
    key = emulator.api_key

    state = admin.post("/scenario", {"name": "second", "seed": 7, "clock": "2027-01-02T03:04:05Z"})
    assert state["scenario"] == "second"
    assert state["clock"] == {"now": "2027-01-02T03:04:05Z", "frozen": True}
    assert admin.get("/scenarios")["current"] == "second"
    assert admin.journal() == []  # from its start
    new_key = emulator.api_key
    assert new_key != key  # keys derive from the new seed
    with pytest.raises(openai.BadRequestError, match=r"\[1, 1000\]"):
        ask(emulator, "hello")

    status, body = admin.call("POST", "/scenario", {"name": "frist"})
    assert status == 404
    assert "did you mean 'first'?" in body["error"]
    assert admin.get("/scenarios")["current"] == "second"  # a refused switch changes nothing

    admin.post("/scenario", {"name": "first"})
    assert ask(emulator, "hello") == "scripted hello"
    with pytest.raises(openai.InternalServerError):
        ask(emulator, "anything")  # flaky's counts start again


def test_admin_switch_refuses_a_bad_clock(emulator_factory: Factory, tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, "good.yaml")
    emulator = emulator_factory(load_scenario("first", path))
    status, body = Admin(emulator).call("POST", "/scenario", {"name": "second", "clock": "soon"})
    assert status == 400, body
    assert "clock" in body["error"]
    assert Admin(emulator).get("/scenarios")["current"] == "first"


def test_raw_socket_sees_a_scripted_reply(emulator_factory: Factory, tmp_path: Path) -> None:
    """The scripted answer's bytes are an ordinary completion: one JSON body, Content-Length."""
    emulator = serve(emulator_factory, tmp_path, '- {name: fixed, reply: {text: "bytes"}}')
    host, port = emulator.url.removeprefix("http://").split(":")
    body = json.dumps(
        {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "enable_thinking": False}
    ).encode()
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /compatible-mode/v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {emulator.api_key}\r\n".encode()
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"Content-Length" in head
    assert json.loads(payload)["choices"][0]["message"]["content"] == "bytes"
