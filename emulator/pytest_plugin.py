"""pytest fixtures for tool test suites (registered through the `pytest11` entry point).

`token_plan_emulator`: one emulator for the whole session on the default scenario.
`emulator_factory`: start emulators with your own Config; each is stopped after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from emulator.config import Config
from emulator.harness import RunningEmulator, start_emulator


@pytest.fixture(scope="session")
def token_plan_emulator() -> Iterator[RunningEmulator]:
    emulator = start_emulator(Config())
    yield emulator
    emulator.stop()


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., RunningEmulator]]:
    started: list[RunningEmulator] = []

    def start(config: Config | None = None, **overrides: object) -> RunningEmulator:
        emulator = start_emulator((config or Config()).with_overrides(**overrides))
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()
