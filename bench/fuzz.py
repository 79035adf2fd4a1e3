"""The long fuzz run: `python bench/fuzz.py --mutations 100000` spreads that many seeded
mutations over every endpoint (tests/fuzzing.py), and reports the 5xx, hangs, ERROR log records
and books changed by refused requests it found; exit status 1 if any. Every mutation family
runs on every endpoint, as in tests/test_fuzz.py.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import fuzzing


def run(name: str, families: dict[str, fuzzing.Mutation], count: int, seed: int) -> fuzzing.Report:
    """`count` mutations of endpoint `name`, on an emulator of its own (an admin POST changes
    the plan)."""
    emulator = fuzzing.fresh_emulator()
    report = fuzzing.Report()
    try:
        endpoint = next(e for e in fuzzing.endpoints(*fuzzing.prepare(emulator)) if e.name == name)
        fuzzing.fuzz(endpoint, count, seed, emulator, families, report)
    finally:
        emulator.stop()
    return report


def merge(into: fuzzing.Report, report: fuzzing.Report) -> None:
    into.sent += report.sent
    into.seconds += report.seconds
    into.findings += report.findings
    for status, count in report.statuses.items():
        into.statuses[status] = into.statuses.get(status, 0) + count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutations", type=int, default=100_000, help="in all (default 100000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", default="", help="endpoints whose name contains this")
    args = parser.parse_args()
    logging.getLogger().addHandler(logging.NullHandler())  # findings say it; no tracebacks here
    names = [e.name for e in fuzzing.endpoints("r", "t") if args.only in e.name]
    each = max(1, -(-args.mutations // max(1, len(names))))
    total = fuzzing.Report()
    started = time.perf_counter()
    for name in names:
        report = run(name, fuzzing.FAMILIES, each, args.seed)
        merge(total, report)
        print(f"{name:<32} {report.sent:>7} sent {len(report.findings):>6} findings", flush=True)
    seconds = time.perf_counter() - started
    statuses = dict(sorted(total.statuses.items()))
    print(f"\n{total.sent} requests in {seconds:.0f}s (statuses {statuses})")
    print(f"findings: {len(total.findings)} (5xx, hangs, ERROR records, books changed)")
    for line in total.lines():
        print("  " + line)
    return 1 if total.findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
