"""The long fuzz run: `python bench/fuzz.py --mutations 100000` spreads that many seeded
mutations over every endpoint (tests/fuzzing.py), and reports the 5xx, hangs, ERROR log records
and books changed by refused requests it found; exit status 1 if any. As tests/test_fuzz.py,
it leaves out the families fuzzing.KNOWN_FAILING lists; `--known N` runs those apart, N per
endpoint they concern, and reports what they find separately. (Apart, because aiohttp logs
some ERROR records after the answer went out: a known failure would show against the next
request.)
"""

from __future__ import annotations

import argparse
import fnmatch
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
    parser.add_argument("--known", type=int, default=0, help="known-failing runs, per endpoint")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", default="", help="endpoints whose name contains this")
    args = parser.parse_args()
    logging.getLogger().addHandler(logging.NullHandler())  # findings say it; no tracebacks here
    names = [e.name for e in fuzzing.endpoints("r", "t") if args.only in e.name]
    # Spread over the endpoints with a family left to run (KNOWN_FAILING may leave none).
    served = [n for n in names if any(not fuzzing.known(n, f) for f in fuzzing.FAMILIES)]
    each = max(1, -(-args.mutations // max(1, len(served))))
    total, known = fuzzing.Report(), fuzzing.Report()
    started = time.perf_counter()
    for name in names:
        families = {f: m for f, m in fuzzing.FAMILIES.items() if not fuzzing.known(name, f)}
        report = run(name, families, each, args.seed) if families else fuzzing.Report()
        merge(total, report)
        print(f"{name:<32} {report.sent:>7} sent {len(report.findings):>6} findings", flush=True)
    for (where, which), reason in fuzzing.KNOWN_FAILING.items() if args.known else ():
        families = {f: m for f, m in fuzzing.FAMILIES.items() if fnmatch.fnmatchcase(f, which)}
        found = 0
        for name in names:
            if fnmatch.fnmatchcase(name, where):
                report = run(name, families, args.known, args.seed)
                merge(known, report)
                found += len(report.findings)
        print(f"known: {where} [{which}]: {found} findings ({reason})", flush=True)
    seconds = time.perf_counter() - started
    statuses = dict(sorted(total.statuses.items()))
    print(f"\n{total.sent} requests in {seconds:.0f}s (statuses {statuses})")
    print(f"findings: {len(total.findings)} (5xx, hangs, ERROR records, books changed)")
    for line in total.lines():
        print("  " + line)
    if args.known:
        print(f"known-failing families: {known.sent} requests, {len(known.findings)} findings")
        for line in known.lines(limit=20):
            print("  " + line)
    return 1 if total.findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
