"""The fake model is safe to point a real agent at (docs/fidelity.md, "Tools: when the fake
model calls one, and with what").

It calls a tool only when `tool_choice` forces one or the user's last turn names one; otherwise
it answers in text, even with write and shell tools on offer. The arguments it invents are
harmless if an agent that auto-approves runs them: a command is an `echo`, a path is relative
under `token-plan-emulator-scratch/`, numbers are small. After tool results a forced choice
ends the loop with a tool named like a final answer. `tool_calls: always` in a scenario
restores a call on every user turn, for tool round-trip tests.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import jsonschema
import openai
import pytest

from emulator.config import load_scenario
from emulator.engine.generate import FINAL_ANSWER_TOOLS
from emulator.harness import RunningEmulator
from tests.conftest import FROZEN_AT

SCRATCH = "token-plan-emulator-scratch/"

# Schemas shaped like a coding agent's tools (opencode, Claude Code, Cline), absolute-path
# descriptions included: what an agent that auto-approves would run.
AGENT_SCHEMAS: dict[str, dict[str, Any]] = {
    "write_file": {
        "type": "object",
        "properties": {
            "file_path": {"type": "string", "description": "The absolute path to the file."},
            "content": {"type": "string", "description": "The content to write."},
        },
        "required": ["file_path", "content"],
    },
    "read_file": {
        "type": "object",
        "properties": {
            "filePath": {"type": "string"},
            "offset": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer", "minimum": 1, "maximum": 2**31},
        },
        "required": ["filePath", "offset", "limit"],
    },
    "bash": {
        "type": "object",
        "properties": {
            "command": {"type": "string", "description": "The command to execute."},
            "cwd": {"type": "string"},
            "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 1e12},
            "timeout_ms": {"type": "integer", "maximum": 600000},
            "run_in_background": {"type": "boolean"},
            "dangerouslyDisableSandbox": {"type": "boolean"},
            "yield_time_ms": {"type": "number"},
            "max_output_tokens": {"type": "number", "default": 10000},
        },
        "required": [
            "command",
            "cwd",
            "timeout",
            "timeout_ms",
            "run_in_background",
            "dangerouslyDisableSandbox",
            "yield_time_ms",
            "max_output_tokens",
        ],
    },
    "list_directory": {
        "type": "object",
        "properties": {
            "directory": {"type": "string"},
            "glob": {"type": "string"},
            "depth": {"type": "integer", "minimum": -(2**53), "maximum": 2**53},
        },
        "required": ["directory", "glob", "depth"],
    },
    "run": {
        "type": "object",
        "properties": {
            "script": {"type": "string", "maxLength": 12},
            "notebook_path": {"type": "string"},
            "url": {"type": "string", "format": "uri"},
            "steps": {"type": "integer", "minimum": 1000, "multipleOf": 7},
            "mode": {"type": "string", "enum": ["/bin/sh", "dry"]},
        },
        "required": ["script", "notebook_path", "url", "steps", "mode"],
    },
}
FINAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
}


def openai_tools(*names: str) -> list[Any]:
    schemas = {**AGENT_SCHEMAS, "final_answer": FINAL_SCHEMA}
    return [
        {"type": "function", "function": {"name": name, "parameters": schemas[name]}}
        for name in names or AGENT_SCHEMAS
    ]


def anthropic_tools(*names: str) -> list[Any]:
    schemas = {**AGENT_SCHEMAS, "final_answer": FINAL_SCHEMA}
    return [{"name": name, "input_schema": schemas[name]} for name in names or AGENT_SCHEMAS]


def validate(instance: Any, schema: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    validator.validate(instance)


def assert_harmless(name: str, arguments: dict[str, Any]) -> None:
    """Valid for the tool's schema, and nothing an agent could hurt a project with."""
    validate(arguments, AGENT_SCHEMAS[name])
    for key, value in arguments.items():
        if isinstance(value, str) and key != "mode":  # an enum value wins, whatever it says
            assert not value.startswith(("/", "~", "\\")) and ".." not in value, (key, value)
    if name == "write_file":
        assert arguments["file_path"].startswith(SCRATCH)
    if name == "read_file":
        assert arguments["filePath"].startswith(SCRATCH)
        assert 1 <= arguments["limit"] <= 100
    if name == "bash":
        assert arguments["command"].startswith("echo ")
        assert arguments["cwd"] == SCRATCH.rstrip("/") or arguments["cwd"].startswith(SCRATCH)
        assert arguments["timeout"] == 120  # two minutes: a tiny timeout would kill the command
        assert arguments["timeout_ms"] == 120_000
        # Flags that widen what a tool may do stay off.
        assert arguments["run_in_background"] is False
        assert arguments["dangerouslyDisableSandbox"] is False
        # A wide number is a whole one (Codex parses yield_time_ms as an integer); a default wins.
        assert isinstance(arguments["yield_time_ms"], int)
        assert arguments["max_output_tokens"] == 10000
    if name == "list_directory":
        assert arguments["directory"].startswith(SCRATCH.rstrip("/"))
        assert arguments["glob"] == SCRATCH + "*.txt"
        assert 1 <= arguments["depth"] <= 100
    if name == "run":
        assert arguments["script"].startswith("echo ")
        assert arguments["notebook_path"].startswith(SCRATCH)
        assert arguments["url"].startswith("https://example.com/")
        assert 1000 <= arguments["steps"] <= 1100


@pytest.fixture
def frozen_claude(frozen_emulator: RunningEmulator) -> anthropic.Anthropic:
    return anthropic.Anthropic(**frozen_emulator.anthropic_kwargs(max_retries=0))


@pytest.fixture
def frozen_oai(frozen_emulator: RunningEmulator) -> openai.OpenAI:
    return openai.OpenAI(**frozen_emulator.openai_kwargs(max_retries=0))


# ---- no tool named: a text answer -----------------------------------------------------------


@pytest.mark.parametrize("prompt", ["Say hi", "Build the project and test it."])
def test_say_hi_with_agent_tools_answers_in_text_on_openai(oai: openai.OpenAI, prompt: str) -> None:
    """`opencode run "Say hi"`: write and shell tools on offer, none named, so no call."""
    for seed in range(8):
        reply = oai.chat.completions.create(
            model="qwen3.6-plus",
            messages=[
                {"role": "system", "content": "You are a coding agent."},
                {"role": "user", "content": prompt},
            ],
            tools=openai_tools(),
            seed=seed,
        )
        assert reply.choices[0].finish_reason == "stop"
        assert reply.choices[0].message.tool_calls is None
        assert reply.choices[0].message.content


def test_say_hi_streamed_on_openai_has_no_tool_call_delta(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="glm-5",
        messages=[{"role": "user", "content": "Say hi"}],
        tools=openai_tools(),
        stream=True,
    )
    chunks = list(stream)
    assert not [c for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_say_hi_with_agent_tools_answers_in_text_on_anthropic(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model="glm-5",
        max_tokens=2000,
        tools=anthropic_tools(),
        messages=[{"role": "user", "content": "Say hi"}],
    )
    assert message.stop_reason == "end_turn"
    assert [block.type for block in message.content] == ["text"]

    with claude.messages.stream(
        model="qwen3.6-plus",
        max_tokens=2000,
        tools=anthropic_tools(),
        messages=[{"role": "user", "content": [{"type": "text", "text": "Say hi"}]}],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "end_turn"
    assert "tool_use" not in [block.type for block in final.content]


def test_a_word_that_only_contains_a_tool_name_names_no_tool(oai: openai.OpenAI) -> None:
    """Names match as whole words: "bashful" and "rerun" name neither `bash` nor `run`."""
    reply = oai.chat.completions.create(
        model="deepseek-v3.2",
        messages=[{"role": "user", "content": "A bashful rerun of write_files_now."}],
        tools=openai_tools(),
    )
    assert reply.choices[0].message.tool_calls is None


def test_tools_mentioned_in_agent_reminders_are_not_named_by_the_user(
    claude: anthropic.Anthropic,
) -> None:
    """Claude Code adds <system-reminder> blocks to the user's turn; they are not the user."""
    reminder = "<system-reminder>Prefer write_file over bash for edits.</system-reminder>"
    message = claude.messages.create(
        model="glm-5",
        max_tokens=2000,
        tools=anthropic_tools(),
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": reminder}, {"type": "text", "text": "hi"}],
            }
        ],
    )
    assert message.stop_reason == "end_turn"


# ---- a tool named, or forced: a call --------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "name"),
    [
        ("Use write_file to save a note.", "write_file"),
        ("Please READ_FILE the changelog.", "read_file"),
        ("Read file notes.txt for me.", "read_file"),  # spaces for underscores
        ("Try list-directory, then bash.", "list_directory"),  # hyphens; the first named wins
        ("Call `bash`: what is in here?", "bash"),
        ("请用bash看看", "bash"),  # a name inside Chinese text is still a word
    ],
)
def test_naming_a_tool_calls_it_on_openai(oai: openai.OpenAI, prompt: str, name: str) -> None:
    reply = oai.chat.completions.create(
        model="deepseek-v3.2",
        messages=[{"role": "user", "content": prompt}],
        tools=openai_tools(),
    )
    assert reply.choices[0].finish_reason == "tool_calls"
    [call] = reply.choices[0].message.tool_calls or []
    assert call.function.name == name
    assert_harmless(name, json.loads(call.function.arguments))


def test_naming_a_tool_calls_it_on_anthropic_streamed_too(claude: anthropic.Anthropic) -> None:
    request: dict[str, Any] = {
        "model": "qwen3.6-plus",
        "max_tokens": 4000,
        "tools": anthropic_tools(),
        "messages": [{"role": "user", "content": "Use the bash tool to list the files."}],
    }
    message = claude.messages.create(**request)
    with claude.messages.stream(**request) as stream:
        streamed = stream.get_final_message()
    assert message.stop_reason == streamed.stop_reason == "tool_use"
    [call] = [block for block in message.content if block.type == "tool_use"]
    [again] = [block for block in streamed.content if block.type == "tool_use"]
    assert call.name == again.name == "bash"
    assert call.input == again.input
    assert_harmless("bash", call.input)


@pytest.mark.parametrize(
    "choice",
    ["required", {"type": "function", "function": {"name": "write_file"}}],
    ids=["required", "named"],
)
def test_forced_tool_choice_calls_a_tool_on_openai(oai: openai.OpenAI, choice: Any) -> None:
    reply = oai.chat.completions.create(
        model="deepseek-v3.2",
        messages=[{"role": "user", "content": "Say hi"}],
        tools=openai_tools(),
        tool_choice=choice,
    )
    assert reply.choices[0].finish_reason == "tool_calls"
    [call] = reply.choices[0].message.tool_calls or []
    if isinstance(choice, dict):
        assert call.function.name == "write_file"
    assert_harmless(call.function.name, json.loads(call.function.arguments))


@pytest.mark.parametrize("choice", [{"type": "any"}, {"type": "tool", "name": "bash"}])
def test_forced_tool_choice_calls_a_tool_on_anthropic(
    claude: anthropic.Anthropic, choice: Any
) -> None:
    message = claude.messages.create(
        model="glm-5",
        max_tokens=2000,
        tools=anthropic_tools(),
        tool_choice=choice,
        messages=[{"role": "user", "content": "Say hi"}],
    )
    assert message.stop_reason == "tool_use"
    [call] = [block for block in message.content if block.type == "tool_use"]
    if choice["type"] == "tool":
        assert call.name == "bash"
    assert_harmless(call.name, call.input)


# ---- harmless arguments ---------------------------------------------------------------------


@pytest.mark.parametrize("name", list(AGENT_SCHEMAS))
def test_arguments_are_harmless_and_valid_across_seeds(
    frozen_oai: openai.OpenAI, name: str
) -> None:
    """Commands are echoes, paths are relative under the scratch folder (never absolute, never
    `..`), URLs are on example.com, numbers with huge or one-sided bounds are small, and the
    schema (enum, maxLength, multipleOf) still holds."""
    for seed in range(12):
        reply = frozen_oai.chat.completions.create(
            model="deepseek-v3.2",
            messages=[{"role": "user", "content": "Go."}],
            tools=openai_tools(),
            tool_choice={"type": "function", "function": {"name": name}},
            seed=seed,
        )
        [call] = reply.choices[0].message.tool_calls or []
        assert_harmless(name, json.loads(call.function.arguments))


# ---- after tool results: ending the loop ----------------------------------------------------


def openai_history(oai: openai.OpenAI, tools: list[Any]) -> list[Any]:
    """A conversation that has run bash once and holds its result."""
    first = oai.chat.completions.create(
        model="deepseek-v3.2",
        messages=[{"role": "user", "content": "Use bash, then give your final answer."}],
        tools=tools,
    )
    [call] = first.choices[0].message.tool_calls or []
    assert call.function.name == "bash"
    return [
        {"role": "user", "content": "Use bash, then give your final answer."},
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "README.md"},
    ]


def test_required_after_a_tool_result_calls_the_final_answer_tool(oai: openai.OpenAI) -> None:
    tools = openai_tools("bash", "write_file", "final_answer")
    history = openai_history(oai, tools)
    for seed in range(6):
        reply = oai.chat.completions.create(
            model="deepseek-v3.2",
            messages=history,
            tools=tools,
            tool_choice="required",
            seed=seed,
        )
        [call] = reply.choices[0].message.tool_calls or []
        assert call.function.name == "final_answer"
        validate(json.loads(call.function.arguments), FINAL_SCHEMA)

    # Without a final-answer tool the forced call is one of the others, as before; a named
    # choice always calls the tool it names; auto answers the result in text.
    others = openai_tools("bash", "write_file")
    forced = oai.chat.completions.create(
        model="deepseek-v3.2", messages=history, tools=others, tool_choice="required"
    )
    [call] = forced.choices[0].message.tool_calls or []
    assert call.function.name in ("bash", "write_file")
    named = oai.chat.completions.create(
        model="deepseek-v3.2",
        messages=history,
        tools=tools,
        tool_choice={"type": "function", "function": {"name": "bash"}},
    )
    [call] = named.choices[0].message.tool_calls or []
    assert call.function.name == "bash"
    auto = oai.chat.completions.create(model="deepseek-v3.2", messages=history, tools=tools)
    assert auto.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("final", ["attempt_completion", "FinalResult", "task-complete"])
def test_any_after_a_tool_result_ends_the_loop_on_anthropic(
    claude: anthropic.Anthropic, final: str
) -> None:
    tools = [*anthropic_tools("bash", "write_file"), {"name": final, "input_schema": FINAL_SCHEMA}]
    history: list[Any] = [
        {"role": "user", "content": "Say hi"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "bash", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "hi"}],
        },
    ]
    message = claude.messages.create(
        model="glm-5", max_tokens=2000, tools=tools, tool_choice={"type": "any"}, messages=history
    )
    [call] = [block for block in message.content if block.type == "tool_use"]
    assert call.name == final


def test_final_answer_names_are_documented() -> None:
    """The list lives in one place, and docs/fidelity.md shows it."""
    fidelity = (Path(__file__).parent.parent / "docs" / "fidelity.md").read_text("utf-8")
    assert all(f"`{name}`" in fidelity for name in FINAL_ANSWER_TOOLS)


# ---- `tool_calls: always` and determinism ---------------------------------------------------


def test_scenario_setting_always_calls_a_tool_on_every_user_turn(
    emulator_factory: Callable[..., RunningEmulator], tmp_path: Path
) -> None:
    """The old behaviour, for tool round-trip tests: any tools and a user turn give a call (a
    named tool if the user names one, else a seeded pick); a tool result still gets text."""
    path = tmp_path / "scenarios.yaml"
    path.write_text(f"round-trips:\n  clock: {FROZEN_AT}\n  tool_calls: always\n", "utf-8")
    config = load_scenario("round-trips", path)
    assert config.tool_calls == "always"
    emulator = emulator_factory(config)
    oai = openai.OpenAI(**emulator.openai_kwargs(max_retries=0))
    claude = anthropic.Anthropic(**emulator.anthropic_kwargs(max_retries=0))

    called: set[str] = set()
    for seed in range(16):
        reply = oai.chat.completions.create(
            model="deepseek-v3.2",
            messages=[{"role": "user", "content": "Say hi"}],
            tools=openai_tools(),
            seed=seed,
        )
        [call] = reply.choices[0].message.tool_calls or []
        assert_harmless(call.function.name, json.loads(call.function.arguments))
        called.add(call.function.name)
    assert len(called) > 2
    message = claude.messages.create(
        model="glm-5",
        max_tokens=2000,
        tools=anthropic_tools(),
        messages=[{"role": "user", "content": "Say hi, with write_file."}],
    )
    assert [b.name for b in message.content if b.type == "tool_use"] == ["write_file"]

    history = openai_history(oai, openai_tools())
    answer = oai.chat.completions.create(
        model="deepseek-v3.2", messages=history, tools=openai_tools()
    )
    assert answer.choices[0].finish_reason == "stop"


def test_same_request_same_bytes(emulator_factory: Callable[..., RunningEmulator]) -> None:
    """Deterministic as ever: twin emulators answer a text turn and a tool call byte for byte."""
    twins = [emulator_factory(clock=FROZEN_AT, seed=0) for _ in range(2)]
    for prompt in ("Say hi", "Use write_file to save a note."):
        body = json.dumps(
            {
                "model": "deepseek-v3.2",
                "messages": [{"role": "user", "content": prompt}],
                "tools": openai_tools(),
            }
        ).encode()
        first, second = (post(twin, body) for twin in twins)
        assert first == second
        assert json.loads(first)["choices"][0]["finish_reason"] == (
            "stop" if prompt == "Say hi" else "tool_calls"
        )


def post(emulator: RunningEmulator, body: bytes) -> bytes:
    request = urllib.request.Request(
        emulator.openai_base_url + "/chat/completions",
        data=body,
        headers={"Authorization": f"Bearer {emulator.api_key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        data: bytes = response.read()
    return data
