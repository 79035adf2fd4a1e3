"""A tool's own `scenarios.yaml`: found in the working directory by `python -m emulator` and in
the rootdir by the pytest plugin, with no flag; it adds its scenarios to the shipped ones (a
name in both is the file's), and the banner and the listing say where each comes from. The
shipped catalogue itself (this repository's top-level link to it, or a copy) is nobody's own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import openai

from emulator.config import SHIPPED, SHIPPED_PATH, load_scenario, user_scenarios
from tests.test_cli import cli_server, run_cli

OWN = """\
greeting:
  description: Says hello to whoever asks.
  rules:
    - reply: {text: 'Hello {member}!'}
all-spent:
  description: My own all-spent, which says so.
  rules:
    - reply: {text: mine}
"""
HI = [{"role": "user", "content": "Hi"}]
NO_THINKING = {"enable_thinking": False}


def own_folder(tmp_path: Path) -> Path:
    (tmp_path / "scenarios.yaml").write_text(OWN)
    return tmp_path


def ask(url: str, key: str) -> str | None:
    client = openai.OpenAI(base_url=url + "/compatible-mode/v1", api_key=key, max_retries=0)
    reply = client.chat.completions.create(
        model="qwen3.6-plus", messages=HI, extra_body=NO_THINKING
    )
    return reply.choices[0].message.content


def test_scenarios_lists_the_own_file_then_the_shipped(tmp_path: Path) -> None:
    folder = own_folder(tmp_path)
    result = run_cli("scenarios", cwd=folder)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    own = folder / "scenarios.yaml"
    assert lines[0] == f"{own}:"
    assert [line.split(None, 1) for line in lines[1:3]] == [
        ["greeting", "Says hello to whoever asks."],
        ["all-spent", "My own all-spent, which says so."],
    ]
    assert lines[3] == f"{SHIPPED}, not replaced above:"
    shipped = [line.split()[0] for line in lines[4:]]
    assert "default" in shipped and "no-api-key" in shipped
    assert "all-spent" not in shipped  # replaced by the file's


def test_serving_picks_the_own_file_and_says_so(tmp_path: Path) -> None:
    folder = own_folder(tmp_path)
    with cli_server("--scenario", "greeting", cwd=folder) as server:
        banner = "\n".join(server.banner)
        assert (
            f"  Scenarios file                 {folder / 'scenarios.yaml'} (over the shipped ones)"
            in banner
        )
        assert "scenario 'greeting'" in server.banner[1]
        assert ask(server.url, server.key) == "Hello alice!"
    with cli_server("--scenario", "all-spent", cwd=folder) as server:
        assert ask(server.url, server.key) == "mine"  # the file's wins over the shipped
    with cli_server("--scenario", "no-api-key", cwd=folder) as server:  # shipped ones stay
        assert "scenario 'no-api-key'" in server.banner[1]


def test_the_shipped_catalogue_is_nobodys_own(tmp_path: Path) -> None:
    """A link to the shipped file (as this repository's top-level one) and a copy of it (as in
    an unpacked sdist) change nothing: no `Scenarios file` line."""
    (tmp_path / "link").mkdir()
    (tmp_path / "link" / "scenarios.yaml").symlink_to(SHIPPED_PATH)
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "scenarios.yaml").write_bytes(SHIPPED_PATH.read_bytes())
    for folder in (tmp_path / "link", tmp_path / "copy"):
        assert user_scenarios(folder) is None
    assert user_scenarios(tmp_path) is None  # none at all
    with cli_server(cwd=tmp_path / "link") as server:
        assert "Scenarios file" not in "\n".join(server.banner)


def test_an_explicit_file_extends_the_shipped_too(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(OWN)
    assert load_scenario("greeting", path).rules
    assert load_scenario("default", path).scenario == "default"
    assert load_scenario("all-spent", path).description == "My own all-spent, which says so."


INNER_SUITE = """
import openai
import pytest

HI = [{"role": "user", "content": "Hi"}]


def reply(token_plan):
    client = openai.OpenAI(**token_plan.openai_kwargs(max_retries=0))
    answer = client.chat.completions.create(
        model="qwen3.6-plus", messages=HI, extra_body={"enable_thinking": False}
    )
    return answer.choices[0].message.content


@pytest.mark.token_plan("greeting")
def test_own_scenario(token_plan):
    assert reply(token_plan) == "Hello alice!"


@pytest.mark.token_plan("all-spent")
def test_own_wins(token_plan):
    assert reply(token_plan) == "mine"


@pytest.mark.token_plan("no-api-key")
def test_shipped_stays(token_plan):
    with pytest.raises(openai.AuthenticationError):
        reply(token_plan)


def test_one_server(token_plan, token_plan_emulator):
    assert token_plan.url == token_plan_emulator.url
    names = token_plan.admin.scenarios()
    assert list(names)[:2] == ["greeting", "all-spent"] and "default" in names
"""


def test_the_plugin_finds_the_rootdir_file(tmp_path: Path) -> None:
    """A tool's suite with its own scenarios.yaml next to its pytest.ini: the marker names its
    scenarios with no `scenarios_file`, on the session's one server."""
    suite = own_folder(tmp_path)
    (suite / "tests").mkdir()
    (suite / "tests" / "test_tool.py").write_text(textwrap.dedent(INNER_SUITE))
    (suite / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "tests"],
        cwd=suite,
        env={k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_"))},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout
