"""A real AI coding tool completes a turn against the emulator: Claude Code, pinned, installed
from the npm registry into `.tools/` on first use (Node.js and npm are needed for this test)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

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


def test_claude_code_completes_a_turn_with_a_tool_round_trip(
    claude_code: Path, token_plan_emulator: RunningEmulator, tmp_path: Path
) -> None:
    """Claude Code sends ~50 KB bodies with a dozen tools, adaptive thinking, beta headers,
    `?beta=true`, `context_management`, system entries in `messages`: the emulator answers with
    a tool call, Claude Code runs the tool, sends the result, and gets the final text."""
    env = {
        "ANTHROPIC_BASE_URL": token_plan_emulator.anthropic_base_url,
        "ANTHROPIC_AUTH_TOKEN": token_plan_emulator.api_key,
        "ANTHROPIC_MODEL": "qwen3.6-plus",
        "ANTHROPIC_SMALL_FAST_MODEL": "qwen3.6-plus",
    }
    result = run_claude(claude_code, env, "List the files in this directory.", tmp_path)
    assert result["is_error"] is False, result
    assert result["subtype"] == "success"
    assert result["stop_reason"] == "end_turn"
    assert isinstance(result["num_turns"], int) and result["num_turns"] >= 2  # tool call, then text
    assert isinstance(result["result"], str) and result["result"]
