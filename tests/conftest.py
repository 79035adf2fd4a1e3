"""Shared fixtures. The emulator's own pytest plugin (`token_plan_emulator`, `emulator_factory`)
is loaded through its entry point, exactly as in a tool's test suite."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from emulator.config import Config
from emulator.harness import RunningEmulator, start_emulator

FROZEN_AT = "2026-05-01T00:00:00Z"
FROZEN_EPOCH = 1777593600

# The fixtures that install a real program on first use: Debian's Chromium (apt-get, about 116
# packages) and the pinned Claude Code and Codex CLI (npm, about 1.2 GB with its cache). A test
# that uses one, directly or through another fixture, is marked `heavy`, so `pytest -m "not
# heavy"` runs everything else offline; `tox` with no arguments still runs them all.
INSTALLING_FIXTURES = frozenset({"chromium", "claude_code", "codex"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INSTALLING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.heavy)


@pytest.fixture(scope="session")
def frozen_emulator() -> Iterator[RunningEmulator]:
    """An emulator whose clock stands still: responses are byte-identical run to run."""
    emulator = start_emulator(Config(clock=FROZEN_AT))
    yield emulator
    emulator.stop()


@pytest.fixture
def oai(token_plan_emulator: RunningEmulator) -> openai.OpenAI:
    return openai.OpenAI(**token_plan_emulator.openai_kwargs(max_retries=0))


@pytest.fixture
def aoai(token_plan_emulator: RunningEmulator) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(**token_plan_emulator.openai_kwargs(max_retries=0))


@pytest.fixture
def claude(token_plan_emulator: RunningEmulator) -> anthropic.Anthropic:
    return anthropic.Anthropic(**token_plan_emulator.anthropic_kwargs(max_retries=0))


@pytest.fixture
def aclaude(token_plan_emulator: RunningEmulator) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(**token_plan_emulator.anthropic_kwargs(max_retries=0))
