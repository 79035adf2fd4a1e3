"""Python bytecodes a request costs the server over HTTP, by function: where the interpreter's
work goes, beside the instructions bench/instructions.py counts.

    python bench/bytecodes.py [--case chat] [--requests 200] [--warm 100] [--top 30]
                              [--baseline DIR]

The emulator (or the bare handler: `--case bare`) runs with an opcode tracer that a signal turns
on and off (SIGUSR1, SIGUSR2); one keep-alive connection sends `--warm` requests, the tracer is
turned on, `--requests` more are sent one after another, and the tracer writes what it counted.
A bytecode is one dispatch of the interpreter's loop, whatever it does: a `LOAD_FAST` and a call
of json.loads count one each, so this says where Python-level work goes, not what it costs (the
C work under a call is in bench/instructions.py's figure, and neither is the CPU bench/run.py
measures). Requests are sent one at a time, so the event loop's share is a request's whole turn
of it; under load several requests share a turn.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import runpy
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

from common import free_port
from instructions import CASES, ready, send, server_args, started

HERE = Path(__file__).resolve().parent
SERVE = "--serve"  # the traced server's own command line: `bytecodes.py --serve OUT command...`


def serve(out: str, command: list[str]) -> None:
    """Run `command` (a script's path or `-m module`, and its arguments) in this process, its
    bytecodes counted between SIGUSR1 and SIGUSR2, then written to `out` as JSON."""
    counts: collections.Counter[tuple[str, str]] = collections.Counter()

    def traced(frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        if event == "opcode":
            code = frame.f_code
            counts[code.co_filename, code.co_name] += 1
        return traced

    def start(*_: object) -> None:
        counts.clear()
        sys.settrace(traced)

    def stop(*_: object) -> None:
        sys.settrace(None)
        rows = [[where, name, count] for (where, name), count in counts.items()]
        Path(out).write_text(json.dumps(rows))

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    if command[0] == "-m":
        sys.argv = [command[1], *command[2:]]
        runpy.run_module(command[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = command
        runpy.run_path(command[0], run_name="__main__")


def measure(checkout: Path, case: str, requests: int, warm: int) -> list[list[Any]]:
    """[file, function, bytecodes] for each function a request of `case` ran, a request's."""
    port = free_port()
    bare = case == "bare"
    out = Path(tempfile.mkdtemp(prefix="bytecodes-")) / "counts.json"
    server = started(
        checkout, [sys.executable, __file__, SERVE, str(out), *server_args(port, bare)]
    )
    try:
        key = ready(port, bare, timeout=60)
        path, body = CASES[case]
        send(port, path, body, key, warm)
        server.send_signal(signal.SIGUSR1)
        time.sleep(0.2)  # (the signal is handled between two of the loop's bytecodes)
        send(port, path, body, key, requests)
        server.send_signal(signal.SIGUSR2)
        for _ in range(100):
            if out.exists() and out.stat().st_size:
                break
            time.sleep(0.05)
        rows: list[list[Any]] = json.loads(out.read_text())
        return [[where, name, count / requests] for where, name, count in rows]
    finally:
        server.terminate()
        server.wait(60)
        out.unlink(missing_ok=True)
        out.parent.rmdir()


def shown(where: str) -> str:
    """A file's path without its installation's prefix."""
    for marker in ("site-packages/", f"python{sys.version_info[0]}.{sys.version_info[1]}/"):
        if marker in where:
            return where.split(marker)[-1]
    return os.path.relpath(where, HERE.parent) if where.startswith("/") else where


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == SERVE:
        serve(sys.argv[2], sys.argv[3:])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", choices=sorted(CASES), action="append")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warm", type=int, default=100)
    parser.add_argument("--top", type=int, default=30, help="functions listed")
    parser.add_argument("--baseline", default="", help="another checkout, measured first")
    args = parser.parse_args()
    checkouts = [Path(args.baseline).resolve()] if args.baseline else []
    checkouts.append(HERE.parent)
    for case in args.case or ["chat"]:
        for checkout in checkouts if case != "bare" else checkouts[-1:]:
            rows = measure(checkout, case, args.requests, args.warm)
            total = sum(count for _, _, count in rows)
            print(f"\n## {case} ({checkout}): {total:,.0f} bytecodes a request\n")
            print("| bytecodes | function |\n|---|---|")
            for where, name, count in sorted(rows, key=lambda row: -row[2])[: args.top]:
                print(f"| {count:,.0f} | {shown(where)}:{name} |")


if __name__ == "__main__":
    main()
