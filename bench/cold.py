"""Cold start: `python -m emulator` from process start to /_emulator/health answering 200, and
the first chat answer after it; this version beside others, interleaved start by start.

    python bench/cold.py [--starts 7] [--baseline CHECKOUT ...]

Each start is a new process (`sys.executable -m emulator --port N`, a free port, cwd a fresh
empty directory so no ./scenarios.yaml is read). The health URL is polled every 2 ms over a
raw socket. Reported per version: wall time to healthy (least and median), the server's CPU
time to healthy (the scheduler's run time of its threads, read from /proc the moment health
answers: the figure that moves least with the machine's load), and the first non-streaming chat
answer's latency after that (Faker's words and the Qwen vocabulary load with it). A
`--baseline` is a checkout (git worktree) whose `emulator` package runs instead, through
PYTHONPATH; versions alternate start by start, so load drifts hit them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import free_port

CHAT = json.dumps(
    {
        "model": "qwen3.6-plus",
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 64,
    }
).encode()


@dataclass
class Samples:
    name: str
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    firsts: list[float] = field(default_factory=list)


def ask(port: int, request: bytes) -> bytes | None:
    """One HTTP/1.1 request with Connection: close; the whole answer, or None (not listening)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(request)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
            return b"".join(chunks)
    except OSError:
        return None


def cpu_seconds(pid: int) -> float:
    """CPU time of the process so far, to the nanosecond: the run time the scheduler counted
    for each of its threads (/proc's user and system times are in 10 ms ticks)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/schedstat") as stat:
            total += int(stat.read().split()[0])
    return total / 1e9


def one_start(
    source: str | None, key: str | None, bytecode: bool
) -> tuple[float, float, float, str]:
    port = free_port()
    env = dict(os.environ)
    if bytecode:  # as an installed package runs: its modules' bytecode cached in __pycache__
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:  # every module of the package compiled from its source on every start
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    if source:
        env["PYTHONPATH"] = source
    health = (
        f"GET /_emulator/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    with tempfile.TemporaryDirectory() as cwd:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "emulator", "--port", str(port)],
            stdout=subprocess.PIPE,
            env=env,
            cwd=cwd,
        )
        try:
            while True:
                answer = ask(port, health.encode())
                if answer is not None and answer.startswith(b"HTTP/1.1 200"):
                    break
                if process.poll() is not None or time.perf_counter() - started > 20:
                    raise RuntimeError("the emulator did not become healthy")
                time.sleep(0.002)
            wall = time.perf_counter() - started
            cpu = cpu_seconds(process.pid)
            assert process.stdout is not None
            banner = b""
            while b"Ctrl-C" not in banner:
                banner += process.stdout.read1(65536)
            text = banner.decode()
            key = key or text.split("API key (", 1)[1].split(")", 1)[1].split()[0]
            chat = (
                f"POST /compatible-mode/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(CHAT)}\r\nConnection: close\r\n\r\n"
            ).encode() + CHAT
            sent = time.perf_counter()
            answer = ask(port, chat)
            first = time.perf_counter() - sent
            if answer is None or not answer.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"the first answer failed: {answer!r}")
        finally:
            process.terminate()
            process.wait(10)
    return wall, cpu, first, key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=7)
    parser.add_argument("--baseline", action="append", default=[], help="another checkout")
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="the emulator package's modules compiled from source on every start, as an "
        "editable install runs under PYTHONDONTWRITEBYTECODE=1: each version's package is "
        "copied without its __pycache__ (default: bytecode cached, written by an unmeasured "
        "first start of each version, as an installed package runs)",
    )
    args = parser.parse_args()
    versions = [Samples("this")] + [Samples(path) for path in args.baseline]
    sources: list[str | None] = [None, *args.baseline]
    copies = tempfile.TemporaryDirectory()
    if args.no_bytecode:
        here = str(Path(__file__).resolve().parent.parent)
        for index, source in enumerate(sources):
            copy = Path(copies.name) / str(index)
            shutil.copytree(
                Path(source or here) / "emulator",
                copy / "emulator",
                ignore=shutil.ignore_patterns("__pycache__"),
            )
            sources[index] = str(copy)
    key: str | None = None
    if not args.no_bytecode:
        for source in sources:
            key = one_start(source, key, True)[3]
    for _ in range(args.starts):
        for samples, source in zip(versions, sources, strict=True):
            wall, cpu, first, key = one_start(source, key, not args.no_bytecode)
            samples.walls.append(wall)
            samples.cpus.append(cpu)
            samples.firsts.append(first)
    for samples in versions:
        ms = [round(v * 1000) for v in samples.walls]
        cpu = [round(v * 1000) for v in samples.cpus]
        first = [round(v * 1000) for v in samples.firsts]
        print(
            f"{samples.name}: to healthy least {min(ms)} ms, median {statistics.median(ms):.0f} "
            f"ms; CPU to healthy least {min(cpu)} ms, median {statistics.median(cpu):.0f} ms; "
            f"first answer least {min(first)} ms, median {statistics.median(first):.0f} ms "
            f"({len(ms)} starts)\n  walls {ms}\n  cpus {cpu}\n  firsts {first}"
        )


if __name__ == "__main__":
    main()
