"""Real AI coding tools complete a turn with a tool round trip against the emulator: Claude Code
(Anthropic Messages) and Codex CLI (the Responses API), each pinned, installed from the npm
registry into `.tools/` on first use (Node.js and npm are needed for these tests).

The fake model calls a tool when the last user message names one, so each prompt names a tool
the client really declares: Claude Code's `Bash`, Codex's `exec_command`."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from emulator.testing import TokenPlan

CLAUDE_CODE = "@anthropic-ai/claude-code@2.1.332"
CODEX = "@openai/codex@0.171.0"
TOOLS = Path(__file__).resolve().parent.parent / ".tools"


def npm_tool(spec: str, folder: str, command: str) -> Path:
    """The `command` of the npm package `spec` (name@version), installed into `.tools/<folder>`
    unless that exact version is there already. A file lock keeps pytest-xdist workers from
    installing into the same folder at once."""
    package, version = spec.rsplit("@", 1)
    prefix = TOOLS / folder
    binary = prefix / "node_modules" / ".bin" / command
    manifest = prefix / "node_modules" / package / "package.json"
    TOOLS.mkdir(exist_ok=True)
    with open(TOOLS / f"{folder}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        installed = json.loads(manifest.read_text())["version"] if manifest.exists() else None
        if not binary.exists() or installed != version:
            npm = shutil.which("npm")
            assert npm, f"this test needs Node.js and npm on PATH to install {spec}"
            done = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix), spec],
                capture_output=True,
                text=True,
                timeout=600,
                env={**os.environ, "npm_config_cache": str(TOOLS / "npm-cache")},
            )
            assert done.returncode == 0, f"npm install {spec} failed:\n{done.stderr}"
    assert binary.exists(), f"npm did not install {spec}"
    return binary


@pytest.fixture(scope="session")
def claude_code() -> Path:
    """The `claude` executable, installed by this fixture if it is not there yet."""
    return npm_tool(CLAUDE_CODE, "claude-code", "claude")


@pytest.fixture(scope="session")
def codex() -> Path:
    """The `codex` executable (the npm package brings the native binary for this platform)."""
    return npm_tool(CODEX, "codex", "codex")


def responses_calls(token_plan: TokenPlan) -> list[dict[str, Any]]:
    return [
        entry
        for entry in token_plan.admin.journal()
        if entry["method"] == "POST" and entry["path"] == "/compatible-mode/v1/responses"
    ]


# ---- Claude Code ----------------------------------------------------------------------------


def run_claude(
    claude_code: Path, env: dict[str, str], prompt: str, tmp_path: Path
) -> dict[str, object]:
    home = tmp_path / "home"
    home.mkdir()
    reply = subprocess.run(
        [str(claude_code), "-p", prompt, "--output-format", "json"],
        cwd=tmp_path,
        env={
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            # No `run_in_background` on Bash: a backgrounded call ends the turn before its output.
            "CLAUDE_CODE_DISABLE_BACKGROUND_TASKS": "1",
            **env,
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = reply.stdout.strip().splitlines()
    assert lines, f"Claude Code printed nothing (exit {reply.returncode}):\n{reply.stderr}"
    result: dict[str, object] = json.loads(lines[-1])
    return result


def claude_env(token_plan: TokenPlan, model: str) -> dict[str, str]:
    return {
        "ANTHROPIC_BASE_URL": token_plan.anthropic_base_url,
        "ANTHROPIC_AUTH_TOKEN": token_plan.api_key,
        "ANTHROPIC_MODEL": model,
        "ANTHROPIC_SMALL_FAST_MODEL": model,
    }


def tool_uses(home: Path) -> list[dict[str, Any]]:
    """The tool_use blocks of every Claude Code session transcript under `home`."""
    blocks: list[dict[str, Any]] = []
    for transcript in (home / ".claude" / "projects").glob("*/*.jsonl"):
        for line in transcript.read_text("utf-8").splitlines():
            message = json.loads(line).get("message")
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, list):
                blocks += [
                    b for b in content if isinstance(b, dict) and b.get("type") == "tool_use"
                ]
    return blocks


# The launch models the Token Plan documents with Claude Code (glm-5 needs the catalogue's
# max_tokens range: Claude Code asks for 32000).
@pytest.mark.parametrize("model", ["qwen3.6-plus", "glm-5", "MiniMax-M2.5"])
def test_claude_code_completes_a_turn_with_a_tool_round_trip(
    claude_code: Path, token_plan: TokenPlan, tmp_path: Path, model: str
) -> None:
    """Claude Code sends ~50 KB bodies with a dozen tools, adaptive thinking, beta headers,
    `?beta=true`, `context_management`, system entries in `messages`, max_tokens 32000: asked to
    use its Bash tool, the emulator answers with a Bash call, Claude Code runs it, sends the
    result, and gets the final text. The command it ran is a harmless `echo`, and nothing else
    was touched."""
    before = sorted(p.name for p in tmp_path.iterdir())
    prompt = "Use the Bash tool to list the files in this directory."
    result = run_claude(claude_code, claude_env(token_plan, model), prompt, tmp_path)
    assert result["is_error"] is False, json.dumps(result)
    assert result["subtype"] == "success"
    assert result["stop_reason"] == "end_turn"
    assert isinstance(result["num_turns"], int) and result["num_turns"] >= 2  # tool call, then text
    assert isinstance(result["result"], str) and result["result"]
    answered = [e for e in token_plan.admin.journal() if e["path"].startswith("/apps/anthropic")]
    assert answered and all(e["status"] == 200 for e in answered), answered
    assert {e["model"] for e in answered} == {model}

    [call] = tool_uses(tmp_path / "home")
    assert call["name"] == "Bash"
    assert call["input"]["command"].startswith("echo ")
    strings = [v for v in call["input"].values() if isinstance(v, str)]
    assert not [v for v in strings if v.startswith("/") or ".." in v]
    # The echo wrote nothing: only Claude Code's own home appeared in its working directory.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "home"])


def test_claude_code_says_hi_without_calling_a_tool(
    claude_code: Path, token_plan: TokenPlan, tmp_path: Path
) -> None:
    """A prompt that names no tool is answered in text: Claude Code's dozen tools (Bash, Write,
    Edit, ...) are offered, and none is called, so an agent that auto-approves runs nothing."""
    result = run_claude(claude_code, claude_env(token_plan, "qwen3.6-plus"), "Say hi", tmp_path)
    assert result["is_error"] is False, json.dumps(result)
    assert result["num_turns"] == 1
    assert isinstance(result["result"], str) and result["result"]
    assert tool_uses(tmp_path / "home") == []


# ---- Codex CLI ------------------------------------------------------------------------------

# A custom model provider on the Responses API; the rest keeps Codex offline and quiet: no
# update check, no analytics or feedback upload, no plugin or app sync from GitHub.
CODEX_CONFIG = """\
model = "qwen3.6-plus"
model_provider = "tokenplan"
check_for_update_on_startup = false

[model_providers.tokenplan]
name = "Token Plan (emulator)"
base_url = "{base_url}"
env_key = "TOKEN_PLAN_API_KEY"
wire_api = "responses"

[analytics]
enabled = false

[feedback]
enabled = false

[features]
plugins = false
apps = false
remote_plugin = false
"""


def rollout(codex_home: Path) -> list[dict[str, Any]]:
    """The response items Codex recorded for its session (`sessions/.../rollout-*.jsonl`)."""
    files = sorted(codex_home.glob("sessions/**/rollout-*.jsonl"))
    assert len(files) == 1, files
    records = [json.loads(line) for line in files[0].read_text().splitlines() if line]
    return [r["payload"] for r in records if r.get("type") == "response_item"]


def test_codex_completes_a_turn_with_a_tool_call_on_the_responses_api(
    codex: Path, token_plan: TokenPlan, tmp_path: Path
) -> None:
    """`codex exec` on a custom provider with `wire_api = "responses"`: a streamed POST
    /responses with Codex's tools (`exec_command`, ...) and `{"type": "web_search"}` is answered
    with a function call, Codex answers it with a `function_call_output` in the next POST, and
    the model's text ends the turn."""
    home, codex_home, work = tmp_path / "home", tmp_path / "codex-home", tmp_path / "work"
    for folder in (home, codex_home, work):
        folder.mkdir()
    (codex_home / "config.toml").write_text(
        CODEX_CONFIG.format(base_url=token_plan.openai_base_url)
    )
    reply = subprocess.run(
        [
            str(codex),
            "exec",
            "--strict-config",  # a misspelt key above fails the test instead of being ignored
            "--skip-git-repo-check",
            "--sandbox",
            "workspace-write",
            "--json",
            "Use the exec_command tool to list the files in this directory.",
        ],
        cwd=work,
        env={
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "CODEX_HOME": str(codex_home),
            "TOKEN_PLAN_API_KEY": token_plan.api_key,
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert reply.returncode == 0, f"codex exec failed:\n{reply.stdout}\n{reply.stderr}"
    events = [json.loads(line) for line in reply.stdout.splitlines() if line.startswith("{")]
    assert events[-1]["type"] == "turn.completed", events[-1]
    said = [e["item"]["text"] for e in events if e.get("item", {}).get("type") == "agent_message"]
    assert said and said[-1], events

    calls = responses_calls(token_plan)
    assert len(calls) >= 2, calls  # the tool call, then the answer after the tool's output
    assert all(c["status"] == 200 and c["model"] == "qwen3.6-plus" for c in calls), calls

    # Codex's rollout, not the journal (which keeps 8 KB of a ~30 KB body), shows the round
    # trip. The output may be Codex refusing the fake arguments rather than the command's
    # (the fake model writes 74.72 where exec_command wants an integer): a result either way.
    items = rollout(codex_home)
    [call] = [i for i in items if i["type"] == "function_call"]
    assert call["name"] == "exec_command"
    outputs = [i for i in items if i["type"] == "function_call_output"]
    assert [o["call_id"] for o in outputs] == [call["call_id"]]
    assert items[-1]["type"] == "message" and items[-1]["role"] == "assistant"
