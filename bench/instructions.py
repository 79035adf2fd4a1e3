"""Instructions a request costs the server over HTTP: the figure that does not move with the
machine's load.

    python bench/instructions.py [--case chat] [--requests 1000] [--warm 100] [--baseline DIR]
                                 [--simulate cache|branch]

The emulator (or the bare handler: `--case bare`) runs under valgrind's callgrind; one
keep-alive connection sends `--warm` requests, the counters are zeroed, `--requests` more are
sent one after another and the counters dumped: their total over the requests is what a request
costs the server's process in user space (parsing, the app, the answer, the event loop; not
the kernel's socket work), garbage collections included. Use 1,000 requests or more: a full
collection falls every few thousand requests and weighs on a short window. `--baseline` runs
another checkout's emulator the same way first (before/after in one run). valgrind runs the
server about 50 times slower, so a case of 1,000 requests takes two to three minutes.
`--simulate cache` adds callgrind's simulated caches (the host's L1 and last level: misses a
request, `I1mr D1mr D1mw ILmr DLmr DLmw`), `--simulate branch` its simulated branch predictor
(`Bc Bcm Bi Bim`: conditional and indirect branches and their mispredictions).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from common import (
    ANTHROPIC_BODY,
    CHAT_BODY,
    RESPONSES_BODY,
    emulator_args,
    free_port,
    streamed,
    wait_healthy,
)

HERE = Path(__file__).resolve().parent
# The cases of bench/run.py: path and body.
CASES: dict[str, tuple[str, dict[str, object]]] = {
    "bare": ("/json", {"model": "x"}),
    "chat": ("/compatible-mode/v1/chat/completions", CHAT_BODY),
    "anthropic": ("/apps/anthropic/v1/messages", ANTHROPIC_BODY),
    "responses": ("/compatible-mode/v1/responses", RESPONSES_BODY),
}
CASES |= {
    f"{name} stream": (path, streamed(body))
    for name, (path, body) in list(CASES.items())
    if name != "bare"
}


def send(port: int, path: str, body: dict[str, object], key: str, count: int) -> None:
    raw = json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        for _ in range(count):
            connection.request("POST", path, raw, headers)
            reply = connection.getresponse()
            reply.read()
            if reply.status != 200:
                raise RuntimeError(f"{path}: {reply.status}")
    finally:
        connection.close()


def server_args(port: int, bare: bool) -> list[str]:
    """`python` arguments that serve on `port`: the bare handler or the emulator."""
    return [str(HERE / "bare_server.py"), str(port)] if bare else emulator_args(port)


def started(checkout: Path, command: list[str]) -> subprocess.Popen[bytes]:
    """`command` run from `checkout`, its code first on the path, its output dropped."""
    return subprocess.Popen(
        command,
        cwd=checkout,
        env={**os.environ, "PYTHONPATH": str(checkout)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def ready(port: int, bare: bool, timeout: float) -> str:
    """Wait until the server on `port` is healthy; the key a request sends ("" to the bare
    handler, a seat's to the emulator)."""
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base + ("/health" if bare else "/_emulator/health"), timeout=timeout)
    if bare:
        return ""
    with urllib.request.urlopen(base + "/_emulator/state", timeout=30) as reply:
        return str(json.load(reply)["seats"][0]["key"])


# callgrind's options for each simulation
SIMULATIONS = {"": [], "cache": ["--cache-sim=yes"], "branch": ["--branch-sim=yes"]}


def measure(
    checkout: Path, case: str, requests: int, warm: int, simulate: str = ""
) -> dict[str, float]:
    """callgrind's counts a request of `case` costs the server of `checkout`: `Ir` (the
    instructions), and the simulation's events."""
    port = free_port()
    bare = case == "bare"
    out = Path(tempfile.mkdtemp(prefix="callgrind-"))
    callgrind = ["valgrind", "--tool=callgrind", *SIMULATIONS[simulate]]
    server = started(
        checkout,
        [*callgrind, f"--callgrind-out-file={out}/cg.%p", sys.executable, *server_args(port, bare)],
    )
    try:
        key = ready(port, bare, timeout=120)
        path, body = CASES[case]
        send(port, path, body, key, warm)
        subprocess.run(
            ["callgrind_control", "-z", str(server.pid)], check=True, capture_output=True
        )
        send(port, path, body, key, requests)
        subprocess.run(
            ["callgrind_control", "-d", str(server.pid)], check=True, capture_output=True
        )
        dumped = next(out.glob("cg.*.1")).read_text()
        events = re.search(r"^events: (.+)$", dumped, re.MULTILINE)
        totals = re.search(r"^(?:summary|totals): (.+)$", dumped, re.MULTILINE)
        if events is None or totals is None:
            raise RuntimeError(f"no totals in callgrind's output for {case}")
        counts = zip(events.group(1).split(), totals.group(1).split(), strict=False)
        return {event: int(total) / requests for event, total in counts}
    finally:
        server.terminate()
        server.wait(60)
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", choices=sorted(CASES), action="append")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warm", type=int, default=100)
    parser.add_argument("--baseline", default="", help="another checkout, measured first")
    parser.add_argument("--simulate", choices=["cache", "branch"], default="")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is needed (Debian: apt-get install valgrind)")
    checkouts = [Path(args.baseline).resolve()] if args.baseline else []
    checkouts.append(HERE.parent)
    print("| case | checkout | instructions a request | simulated events a request |")
    print("|---|---|---|---|")
    for case in args.case or ["chat"]:
        for checkout in checkouts if case != "bare" else checkouts[-1:]:
            counts = measure(checkout, case, args.requests, args.warm, args.simulate)
            events = ", ".join(f"{e} {n:,.0f}" for e, n in counts.items() if e != "Ir")
            print(f"| {case} | {checkout} | {counts['Ir']:,.0f} | {events} |", flush=True)


if __name__ == "__main__":
    main()
