"""Throughput, latency and cold start of the emulator against a bare aiohttp handler, in one run.

    python bench/run.py [--seconds 5] [--concurrency 16]

Each server runs in its own process; the load comes from this process over loopback with
keep-alive connections. Every figure is also printed as a ratio to the bare handler's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
CLOCK = "2026-05-01T00:00:00Z"


@dataclass
class Figures:
    requests: int
    seconds: float
    latencies: list[float]
    first_bytes: list[float]
    server_cpu: float = 0.0  # CPU seconds the server process spent on these requests

    @property
    def cpu_per_request(self) -> float:
        return self.server_cpu / self.requests

    def merge(self, other: Figures) -> Figures:
        return Figures(
            self.requests + other.requests,
            self.seconds + other.seconds,
            self.latencies + other.latencies,
            self.first_bytes + other.first_bytes,
            self.server_cpu + other.server_cpu,
        )

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc): what a request really costs the
    server, whatever the load generator in this process can keep up with."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, timeout: float = 10.0) -> float:
    """Seconds until `url` answers 200."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                if reply.status == 200:
                    return time.perf_counter() - started
        except OSError:
            time.sleep(0.005)
    raise TimeoutError(url)


def start(args: list[str], health: str) -> tuple[subprocess.Popen[bytes], float]:
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL)
    try:
        wait_healthy(health)
    except TimeoutError:
        process.kill()
        raise
    return process, time.perf_counter() - started


async def load(
    url: str, body: dict[str, object], headers: dict[str, str], seconds: float, concurrency: int
) -> Figures:
    payload = json.dumps(body).encode()
    latencies: list[float] = []
    first_bytes: list[float] = []
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                async with session.post(url, data=payload, headers=headers) as reply:
                    first = True
                    async for _ in reply.content.iter_any():
                        if first:
                            first_bytes.append(time.perf_counter() - sent)
                            first = False
                    if reply.status != 200:
                        raise RuntimeError(f"{url} answered {reply.status}")
                latencies.append(time.perf_counter() - sent)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return Figures(len(latencies), elapsed, latencies, first_bytes)


def keys_of(port: int) -> tuple[str, str]:
    """The first seat's key and the pay-as-you-go key, from the admin API."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_emulator/state", timeout=5) as reply:
        state = json.load(reply)
    return state["seats"][0]["key"], state["payg"]["key"]


def report(name: str, figures: Figures, baseline: Figures) -> None:
    cpu_ratio = baseline.cpu_per_request / figures.cpu_per_request
    print(
        f"{name:<34} {figures.rps:6.0f} req/s ({figures.rps / baseline.rps:4.2f})  "
        f"server CPU {figures.cpu_per_request * 1e6:5.0f} us/req ({cpu_ratio:4.2f})  "
        f"p50 {figures.pct(figures.latencies, 0.5):6.2f} ms  "
        f"p99 {figures.pct(figures.latencies, 0.99):6.2f} ms  "
        f"ttfb p50 {figures.pct(figures.first_bytes, 0.5):6.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    colds = []
    for _ in range(5):
        port = free_port()
        process, cold = start(
            ["-m", "emulator", "--port", str(port)], f"http://127.0.0.1:{port}/_emulator/health"
        )
        colds.append(cold)
        process.terminate()
        process.wait(10)
    print(
        f"cold start to healthy: median {statistics.median(colds) * 1000:.0f} ms "
        f"(min {min(colds) * 1000:.0f}, max {max(colds) * 1000:.0f}) over {len(colds)} starts"
    )

    bare_port, emu_port = free_port(), free_port()
    bare, _ = start(
        [str(HERE / "bare_server.py"), str(bare_port)], f"http://127.0.0.1:{bare_port}/health"
    )
    emulator, _ = start(
        ["-m", "emulator", "--port", str(emu_port), "--clock", CLOCK],
        f"http://127.0.0.1:{emu_port}/_emulator/health",
    )
    state_dir = tempfile.TemporaryDirectory()
    stateful_port = free_port()
    stateful, _ = start(
        [
            "-m",
            "emulator",
            "--port",
            str(stateful_port),
            "--clock",
            CLOCK,
            "--state",
            f"{state_dir.name}/state.db",
        ],
        f"http://127.0.0.1:{stateful_port}/_emulator/health",
    )
    key, payg_key = keys_of(emu_port)
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    payg_auth = {**auth, "Authorization": f"Bearer {payg_key}"}
    say = [{"role": "user", "content": "Write one short paragraph about the sea."}]
    oai = f"http://127.0.0.1:{emu_port}/compatible-mode/v1/chat/completions"
    payg = f"http://127.0.0.1:{emu_port}/dashscope/compatible-mode/v1/chat/completions"
    ant = f"http://127.0.0.1:{emu_port}/apps/anthropic/v1/messages"
    base = {"model": "qwen3.6-plus", "messages": say, "enable_thinking": False}
    anth = {"model": "qwen3.6-plus", "messages": say, "max_tokens": 512}
    resp = f"http://127.0.0.1:{emu_port}/compatible-mode/v1/responses"
    said = {"model": "qwen3.6-plus", "input": say[0]["content"], "enable_thinking": False}
    s, c = args.seconds, args.concurrency
    try:
        stateful_url = f"http://127.0.0.1:{stateful_port}/compatible-mode/v1/chat/completions"
        runs = {
            "bare aiohttp JSON": (bare, f"http://127.0.0.1:{bare_port}/json", {}, {}),
            "bare aiohttp SSE (20 frames)": (bare, f"http://127.0.0.1:{bare_port}/sse", {}, {}),
            "openai chat, non-streaming": (emulator, oai, base, auth),
            "  same, pay-as-you-go (no ledger)": (emulator, payg, base, payg_auth),
            "  same, --state (SQLite)": (stateful, stateful_url, base, auth),
            "openai chat, streaming": (emulator, oai, {**base, "stream": True}, auth),
            "anthropic messages, non-streaming": (emulator, ant, anth, auth),
            "anthropic messages, streaming": (emulator, ant, {**anth, "stream": True}, auth),
            "openai responses, non-streaming": (emulator, resp, said, auth),
            "openai responses, streaming": (emulator, resp, {**said, "stream": True}, auth),
        }
        results: dict[str, Figures] = {}
        for _, url, body, headers in runs.values():
            asyncio.run(load(url, body, headers, 0.5, c))  # warm up
        # Rounds interleave the cases, so a slow spell of the machine touches all of them.
        for _ in range(args.rounds):
            for name, (process, url, body, headers) in runs.items():
                before = cpu_seconds(process.pid)
                figures = asyncio.run(load(url, body, headers, s / args.rounds, c))
                figures.server_cpu = cpu_seconds(process.pid) - before
                results[name] = results[name].merge(figures) if name in results else figures
        baseline = results["bare aiohttp JSON"]
        print(
            f"load: {c} concurrent keep-alive clients, {s:.0f} s a case in {args.rounds} rounds; "
            "(ratio to the bare handler)"
        )
        for name, figures in results.items():
            report(name, figures, baseline)
    finally:
        for process in (bare, emulator, stateful):
            process.terminate()
            process.wait(10)
        state_dir.cleanup()


if __name__ == "__main__":
    main()
