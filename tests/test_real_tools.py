"""A real AI coding tool completes a turn against the emulator: Claude Code, pinned, installed
from the npm registry into `.tools/` on first use (Node.js and npm are needed for this test)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from emulator.harness import RunningEmulator

CLAUDE_CODE = "@anthropic-ai/claude-code@2.1.332"
TOOLS = Path(__file__).resolve().parent.parent / ".tools"


@pytest.fixture(scope="session")
def claude_code() -> Path:
    """The `claude` executable, installed by this fixture if it is not there yet."""
    binary = TOOLS / "claude-code" / "node_modules" / ".bin" / "claude"
    if not binary.exists():
        npm = shutil.which("npm")
        assert npm, "this test needs Node.js and npm on PATH to install Claude Code"
        installed = subprocess.run(
            [
                npm,
                "install",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(binary.parents[2]),
                CLAUDE_CODE,
            ],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "npm_config_cache": str(TOOLS / "npm-cache")},
        )
        assert installed.returncode == 0, f"npm install {CLAUDE_CODE} failed:\n{installed.stderr}"
    assert binary.exists(), f"npm did not install {CLAUDE_CODE}"
    return binary


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
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    result_line = reply.stdout.strip().splitlines()[-1]
    result: dict[str, object] = json.loads(result_line)
    return result


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


def test_claude_code_completes_a_turn_with_a_tool_round_trip(
    claude_code: Path, token_plan_emulator: RunningEmulator, tmp_path: Path
) -> None:
    """Claude Code sends ~50 KB bodies with a dozen tools, adaptive thinking, beta headers,
    `?beta=true`, `context_management`, system entries in `messages`: asked to use its Bash
    tool, the emulator answers with a Bash call, Claude Code runs it, sends the result, and gets
    the final text. The command it ran is a harmless `echo`, and nothing else was touched."""
    env = {
        "ANTHROPIC_BASE_URL": token_plan_emulator.anthropic_base_url,
        "ANTHROPIC_AUTH_TOKEN": token_plan_emulator.api_key,
        "ANTHROPIC_MODEL": "qwen3.6-plus",
        "ANTHROPIC_SMALL_FAST_MODEL": "qwen3.6-plus",
    }
    before = sorted(p.name for p in tmp_path.iterdir())
    prompt = "Use the Bash tool to list the files in this directory."
    result = run_claude(claude_code, env, prompt, tmp_path)
    assert result["is_error"] is False, result
    assert result["subtype"] == "success"
    assert result["stop_reason"] == "end_turn"
    assert isinstance(result["num_turns"], int) and result["num_turns"] >= 2  # tool call, then text
    assert isinstance(result["result"], str) and result["result"]

    [call] = tool_uses(tmp_path / "home")
    assert call["name"] == "Bash"
    assert call["input"]["command"].startswith("echo ")
    strings = [v for v in call["input"].values() if isinstance(v, str)]
    assert not [v for v in strings if v.startswith("/") or ".." in v]
    # The echo wrote nothing: only Claude Code's own home appeared in its working directory.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "home"])


def test_claude_code_says_hi_without_calling_a_tool(
    claude_code: Path, token_plan_emulator: RunningEmulator, tmp_path: Path
) -> None:
    """A prompt that names no tool is answered in text: Claude Code's dozen tools (Bash, Write,
    Edit, ...) are offered, and none is called, so an agent that auto-approves runs nothing."""
    env = {
        "ANTHROPIC_BASE_URL": token_plan_emulator.anthropic_base_url,
        "ANTHROPIC_AUTH_TOKEN": token_plan_emulator.api_key,
        "ANTHROPIC_MODEL": "qwen3.6-plus",
        "ANTHROPIC_SMALL_FAST_MODEL": "qwen3.6-plus",
    }
    result = run_claude(claude_code, env, "Say hi", tmp_path)
    assert result["is_error"] is False, result
    assert result["num_turns"] == 1
    assert isinstance(result["result"], str) and result["result"]
    assert tool_uses(tmp_path / "home") == []
