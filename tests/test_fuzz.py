"""Nothing a client sends breaks the emulator: seeded mutations of a valid request to every
endpoint (tests/fuzzing.py says which mutations), over real HTTP to an emulator in process.

For each endpoint: zero 5xx, zero hangs (a whole answer within fuzzing.TIMEOUT), zero ERROR
records from the emulator's, aiohttp's and asyncio's loggers, and a refused request (4xx) leaves
the books (spend, packs, usage, the Coding Plan's count, seats) as they were.

The long run: `python bench/fuzz.py --mutations 100000`.
"""

from __future__ import annotations

import pytest

from tests import fuzzing

SEED = 10
MUTATIONS = 1_500  # per model, image and Responses endpoint (streamed and not: 3,000 a path)
ADMIN_MUTATIONS = 600  # per admin endpoint (slower: a POST may switch or reset the plan)


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
    count = ADMIN_MUTATIONS if endpoint.startswith("admin") else MUTATIONS
    _run(endpoint, fuzzing.FAMILIES, count)
