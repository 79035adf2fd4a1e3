"""pytest fixtures for tool test suites (registered through the `pytest11` entry point).

`token_plan`: a handle on the session's emulator, reset to a scenario's start before each test
    (choose it with `@pytest.mark.token_plan(scenario=..., seed=..., clock=...,
    catalog="launch")`); see
    `emulator.testing.TokenPlan` and its `admin`.
`token_plan_emulator`: one emulator for the whole session (one per xdist worker), on the
    default scenario; the rootdir's own `scenarios.yaml`, if there is one, adds its scenarios
    to the shipped ones (a name in both is the file's).
`emulator_factory`: start emulators with your own Config; each is stopped after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from emulator.config import Config, load_scenario, user_scenarios
from emulator.harness import RunningEmulator, start_emulator
from emulator.testing import Servers, TokenPlan, Wanted


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "token_plan(scenario='default', seed=None, clock=None, scenarios_file=None, "
        "catalog=None): the scenario, seed, clock and model list (launch or current) the "
        "`token_plan` fixture starts the test from",
    )


@pytest.fixture(scope="session")
def token_plan_emulator(pytestconfig: pytest.Config) -> Iterator[RunningEmulator]:
    found = user_scenarios(pytestconfig.rootpath)
    emulator = start_emulator(load_scenario("default", found) if found else Config())
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def token_plan_servers(token_plan_emulator: RunningEmulator) -> Iterator[Servers]:
    servers = Servers(token_plan_emulator)
    yield servers
    servers.stop()


@pytest.fixture
def token_plan(request: pytest.FixtureRequest, token_plan_servers: Servers) -> Iterator[TokenPlan]:
    marks = [(m.args, m.kwargs) for m in request.node.iter_markers("token_plan")]
    plan = token_plan_servers.open(Wanted.from_marks(marks, request.path.parent))
    yield plan
    token_plan_servers.close(plan)


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
