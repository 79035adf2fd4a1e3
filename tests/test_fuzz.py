"""Nothing a client sends breaks the emulator: seeded mutations of a valid request to every
endpoint (tests/fuzzing.py says which mutations), over real HTTP to an emulator in process.

For each endpoint: zero 5xx, zero hangs (a whole answer within fuzzing.TIMEOUT), zero ERROR
records from the emulator's, aiohttp's and asyncio's loggers, and a refused request (4xx) leaves
the books (spend, packs, usage, the Coding Plan's count, seats) as they were.

The long run: `python bench/fuzz.py --mutations 100000` (every family, the known-failing ones
included, reported apart).
"""

from __future__ import annotations

import fnmatch

import pytest

from tests import fuzzing

SEED = 10
MUTATIONS = 1_500  # per model, image and Responses endpoint (streamed and not: 3,000 a path)
ADMIN_MUTATIONS = 600  # per admin endpoint (slower: a POST may switch or reset the plan)
KNOWN_MUTATIONS = 200  # per endpoint, for a known failure (test_known_failures_still_fail)


def _families(endpoint: str) -> dict[str, fuzzing.Mutation]:
    return {
        name: mutation
        for name, mutation in fuzzing.FAMILIES.items()
        if not fuzzing.known(endpoint, name)
    }


ENDPOINTS = [e.name for e in fuzzing.endpoints("response-id", "task-id")]


def _run(endpoint_name: str, families: dict[str, fuzzing.Mutation], mutations: int) -> None:
    emulator = fuzzing.fresh_emulator()
    try:
        response_id, task_id = fuzzing.prepare(emulator)
        endpoint = next(
            e for e in fuzzing.endpoints(response_id, task_id) if e.name == endpoint_name
        )
        report = fuzzing.Report()
        fuzzing.fuzz(endpoint, mutations, SEED, emulator, families, report)
    finally:
        emulator.stop()
    assert report.sent >= mutations * 0.99
    assert not report.findings, "\n".join(report.lines())


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_fuzz(endpoint: str) -> None:
    families = _families(endpoint)
    if not families:
        pytest.skip(f"every family is known-failing on {endpoint}: see fuzzing.KNOWN_FAILING")
    count = ADMIN_MUTATIONS if endpoint.startswith("admin") else MUTATIONS
    _run(endpoint, families, count)


@pytest.mark.parametrize(
    ("where", "which"),
    [
        pytest.param(where, which, id=f"{where} [{which}]", marks=pytest.mark.xfail(strict=True))
        for where, which in fuzzing.KNOWN_FAILING
    ],
)
def test_known_failures_still_fail(where: str, which: str) -> None:
    """Each fuzzing.KNOWN_FAILING entry, alone: its families on its endpoints find what it says. A
    strict xfail: once the fix lands this passes, the suite fails, and the entry must go."""
    families = {n: m for n, m in fuzzing.FAMILIES.items() if fnmatch.fnmatchcase(n, which)}
    for endpoint in ENDPOINTS:
        if fnmatch.fnmatchcase(endpoint, where):
            _run(endpoint, families, KNOWN_MUTATIONS)
