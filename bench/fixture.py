"""What the pytest plugin's `token_plan` fixture costs a test, and the example suite's wall time.

    python bench/fixture.py [--tests 200] [--no-examples]

1. A generated suite of N trivial tests that use `token_plan` (alternately unmarked, on
   `default`, and marked with another scenario, seed and clock) runs in this process; a hook
   collects each test's set-up and tear-down time as pytest measures it (`report.duration`).
   The first test's set-up, which starts the session's server and validates the embedded
   scenarios, is reported apart from the median.
2. `pytest tests/examples` in a subprocess, timed from outside (interpreter start-up and SDK
   imports included), beside pytest's own figure.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

SUITE = """
import pytest


@pytest.mark.parametrize("n", range({half}))
def test_default(token_plan, n):
    assert token_plan.api_key


@pytest.mark.token_plan(scenario="all-spent", seed=1, clock="2026-05-01T00:00:00Z")
@pytest.mark.parametrize("n", range({half}))
def test_marked(token_plan, n):
    assert token_plan.scenario == "all-spent"
"""


class Durations:
    """A pytest plugin that keeps every phase's duration, by test."""

    def __init__(self) -> None:
        self.phases: dict[str, list[tuple[str, float]]] = {"setup": [], "teardown": []}

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when in self.phases:
            self.phases[report.when].append((report.nodeid, report.duration))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def fixture_cost(tests: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        suite = Path(folder)
        (suite / "pytest.ini").write_text("[pytest]\n")
        (suite / "test_suite.py").write_text(SUITE.format(half=tests // 2))
        durations = Durations()
        code = pytest.main([str(suite), "-q", "-p", "no:cacheprovider"], plugins=[durations])
    if code != 0:
        raise SystemExit(f"the generated suite failed ({code})")
    setups = [d for _, d in durations.phases["setup"]]
    teardowns = [d for _, d in durations.phases["teardown"]]
    first, rest = setups[0], setups[1:]
    by_kind = {
        kind: [d for node, d in durations.phases["setup"][1:] if kind in node]
        for kind in ("test_default", "test_marked")
    }
    print(f"\ntoken_plan set-up over {len(rest)} tests (the first apart):")
    print(f"  median  {ms(statistics.median(rest))}")
    print(f"  p90     {ms(statistics.quantiles(rest, n=10)[-1])}")
    print(f"  max     {ms(max(rest))}")
    for kind, values in by_kind.items():
        print(f"  median of {kind:<13} {ms(statistics.median(values))}")
    print(f"  first test (starts the server) {ms(first)}")
    print(f"token_plan tear-down (back to default) median {ms(statistics.median(teardowns))}")


def example_suite() -> None:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/examples"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stdout + done.stderr)
    summary = done.stdout.strip().splitlines()[-1]
    inner = re.search(r"in ([\d.]+)s", summary)
    print(f"\ntests/examples: {summary}")
    print(f"  wall time from outside {wall:.2f} s (pytest's own: {inner and inner.group(1)} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument(
        "--no-examples",
        action="store_true",
        help="only the generated suite (for runs repeated, interleaved or under callgrind)",
    )
    args = parser.parse_args()
    fixture_cost(args.tests)
    if not args.no_examples:
        example_suite()


if __name__ == "__main__":
    main()
