"""Throughput, latency and cold start of the emulator against a bare aiohttp handler, in one run.

    python bench/run.py [--peer] [--seconds 5] [--concurrency 16] [--rounds 3] [--only NAME]

Each server runs in its own process; the load comes from this process over loopback with
keep-alive connections, the cases interleaved round by round. Server CPU per request is read
from /proc, so it is what a request costs the server whatever the load generator keeps up with.
Every figure is also a ratio to the bare handler's and, with `--peer`, to fakellm's (installed
from bench/requirements.txt into bench/.venv, started with its own CLI). Each streaming case is
set beside a bare aiohttp stream of the same number of events.
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


def start(
    args: list[str], health: str, source: str | None = None
) -> tuple[subprocess.Popen[bytes], float]:
    """Start a server and wait until it is healthy; `source`: a checkout whose `emulator`
    package to run instead of the installed one (a baseline)."""
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": source} if source else None
    process = subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.DEVNULL, env=env, cwd=source or None
    )
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


def rss_kib(pid: int) -> int:
    """Resident memory of a process (Linux /proc), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def many_streams(
    url: str, body: dict[str, object], headers: dict[str, str], count: int
) -> tuple[int, int, float]:
    """`count` streaming calls at once, each on its own connection: (answered 200 and read to
    the end, failed, seconds)."""
    payload = json.dumps(body).encode()
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=120)
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one() -> bool:
            try:
                async with session.post(url, data=payload, headers=headers) as reply:
                    text = await reply.read()
                    return reply.status == 200 and text.rstrip().endswith(b"[DONE]")
            except (aiohttp.ClientError, asyncio.TimeoutError):
                return False

        done = await asyncio.gather(*(one() for _ in range(count)))
    return sum(done), count - sum(done), time.perf_counter() - started


def concurrent_streams(count: int) -> None:
    """The issue's check: `count` concurrent streams on one emulator process, no error, and how
    much its resident memory grew."""
    port = free_port()
    process, _ = start(emulator_args(port), f"http://127.0.0.1:{port}/_emulator/health")
    try:
        key, _ = keys_of(port)
        url = f"http://127.0.0.1:{port}/compatible-mode/v1/chat/completions"
        auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        say = [{"role": "user", "content": "Write one short paragraph about the sea."}]
        body = {"model": "qwen3.6-plus", "messages": say, "stream": True}
        before = rss_kib(process.pid)
        ok, failed, seconds = asyncio.run(many_streams(url, body, auth, count))
        after = rss_kib(process.pid)
        print(
            f"{count} concurrent streams: {ok} complete, {failed} failed, in {seconds:.2f} s; "
            f"server RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB "
            f"(+{(after - before) / 1024:.1f} MiB)"
        )
    finally:
        process.terminate()
        process.wait(10)


def keys_of(port: int) -> tuple[str, str]:
    """The first seat's key and the pay-as-you-go key, from the admin API."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_emulator/state", timeout=5) as reply:
        state = json.load(reply)
    return state["seats"][0]["key"], state["payg"]["key"]


def events_of(url: str, body: dict[str, object], headers: dict[str, str]) -> int:
    """SSE events (frames) one call of a streaming case answers with."""
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as reply:
        raw = reply.read()
    return sum(1 for frame in raw.split(b"\n\n") if frame.strip())


def peer_command() -> list[str]:
    """fakellm's own CLI, from bench/.venv (created from bench/requirements.txt when missing):
    the peer is installed beside the bench, never into the project's environment."""
    venv = HERE / ".venv"
    fakellm = venv / "bin" / "fakellm"
    if not fakellm.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "pip"), "install", "-q", "-r", str(HERE / "requirements.txt")]
        subprocess.run(pip, check=True)
    return [str(fakellm)]


@dataclass
class Case:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    body: dict[str, object]
    headers: dict[str, str]
    events: int = 0  # SSE events a call answers with (0: a JSON answer)


def row(
    case: Case,
    figures: Figures,
    bare: Figures,
    peer: Figures | None,
    bare_sse: dict[int, Figures],
) -> str:
    """One line of the table; ratios are of cost (server CPU) and of throughput."""
    cpu = figures.cpu_per_request * 1e6
    cells = [
        case.name,
        f"{figures.rps:,.0f}",
        f"{figures.rps / bare.rps:.2f}",
        f"{figures.rps / peer.rps:.2f}" if peer else "-",
        f"{cpu:.0f}",
        f"{figures.cpu_per_request / bare.cpu_per_request:.2f}",
        f"{figures.cpu_per_request / peer.cpu_per_request:.2f}" if peer else "-",
        f"{figures.pct(figures.latencies, 0.5):.2f}",
        f"{figures.pct(figures.latencies, 0.99):.2f}",
    ]
    if case.events:
        same = bare_sse[case.events]
        per_event = figures.cpu_per_request / case.events
        cells.append(
            f"{case.events} ev, {per_event * 1e6:.1f} us/ev "
            f"({figures.cpu_per_request / same.cpu_per_request:.2f}x bare SSE)"
        )
    else:
        cells.append("")
    return "| " + " | ".join(cells) + " |"


HEAD = (
    "| case | req/s | req/s vs bare | req/s vs fakellm | server CPU us/req | CPU vs bare "
    "| CPU vs fakellm | p50 ms | p99 ms | stream |\n|" + "---|" * 10
)


def emulator_args(port: int, *extra: str) -> list[str]:
    return ["-m", "emulator", "--port", str(port), "--clock", CLOCK, *extra]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0, help="a case's load, all rounds")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--peer", action="store_true", help="fakellm beside (bench/.venv)")
    parser.add_argument("--only", default="", help="cases whose name contains this (and bare)")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold-start figure")
    parser.add_argument(
        "--baseline",
        default="",
        help="a checkout of another version (git worktree or git archive): its emulator runs "
        "beside, on the same cases, interleaved (before/after in one run)",
    )
    parser.add_argument("--streams", type=int, default=1000, help="concurrent streams (0: skip)")
    args = parser.parse_args()

    if not args.no_cold:
        cold_start()
    if args.streams:
        concurrent_streams(args.streams)
    processes: list[subprocess.Popen[bytes]] = []
    state_dir = tempfile.TemporaryDirectory()

    def serve(command: list[str], health: str) -> subprocess.Popen[bytes]:
        process, _ = start(command, health)
        processes.append(process)
        return process

    try:
        bare_port, emu_port, stateful_port = free_port(), free_port(), free_port()
        bare = serve(
            [str(HERE / "bare_server.py"), str(bare_port)], f"http://127.0.0.1:{bare_port}/health"
        )
        emulator = serve(emulator_args(emu_port), f"http://127.0.0.1:{emu_port}/_emulator/health")
        state = f"{state_dir.name}/state.db"
        stateful = serve(
            emulator_args(stateful_port, "--state", state),
            f"http://127.0.0.1:{stateful_port}/_emulator/health",
        )
        key, payg_key = keys_of(emu_port)
        auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        payg_auth = {**auth, "Authorization": f"Bearer {payg_key}"}
        say = [{"role": "user", "content": "Write one short paragraph about the sea."}]
        emu = f"http://127.0.0.1:{emu_port}"
        oai = f"{emu}/compatible-mode/v1/chat/completions"
        ant = f"{emu}/apps/anthropic/v1/messages"
        resp = f"{emu}/compatible-mode/v1/responses"
        base = {"model": "qwen3.6-plus", "messages": say, "enable_thinking": False}
        anth = {"model": "qwen3.6-plus", "messages": say, "max_tokens": 512}
        said = {"model": "qwen3.6-plus", "input": say[0]["content"], "enable_thinking": False}
        bare_json = f"http://127.0.0.1:{bare_port}/json"
        cases = [
            Case("bare aiohttp JSON", bare, bare_json, {}, {}),
            Case("openai chat, non-streaming", emulator, oai, base, auth),
            Case(
                "  same, pay-as-you-go (no ledger)",
                emulator,
                oai.replace("/compatible-mode", "/dashscope/compatible-mode"),
                base,
                payg_auth,
            ),
            Case(
                "  same, --state (SQLite)",
                stateful,
                f"http://127.0.0.1:{stateful_port}/compatible-mode/v1/chat/completions",
                base,
                auth,
            ),
            Case("openai chat, streaming", emulator, oai, {**base, "stream": True}, auth),
            Case("anthropic messages, non-streaming", emulator, ant, anth, auth),
            Case("anthropic messages, streaming", emulator, ant, {**anth, "stream": True}, auth),
            Case("openai responses, non-streaming", emulator, resp, said, auth),
            Case("openai responses, streaming", emulator, resp, {**said, "stream": True}, auth),
        ]
        if args.peer:
            peer_port = free_port()
            (Path(state_dir.name) / "peer").mkdir()
            fakellm = peer_command()
            subprocess.run(
                [*fakellm, "init"],
                cwd=f"{state_dir.name}/peer",
                check=True,
                stdout=subprocess.DEVNULL,
            )
            peer = subprocess.Popen(
                [
                    *fakellm,
                    "serve",
                    "--port",
                    str(peer_port),
                    "--config",
                    f"{state_dir.name}/peer/fakellm.yaml",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            processes.append(peer)
            wait_healthy(f"http://127.0.0.1:{peer_port}/_fakellm/stats")
            peer_url = f"http://127.0.0.1:{peer_port}"
            cases[1:1] = [
                Case(
                    "fakellm 0.3.5 chat, non-streaming",
                    peer,
                    f"{peer_url}/v1/chat/completions",
                    base,
                    auth,
                ),
                Case(
                    "fakellm 0.3.5 messages, non-streaming",
                    peer,
                    f"{peer_url}/v1/messages",
                    anth,
                    auth,
                ),
            ]
        if args.baseline:
            old_port = free_port()
            old, _ = start(
                emulator_args(old_port),
                f"http://127.0.0.1:{old_port}/_emulator/health",
                args.baseline,
            )
            processes.append(old)
            old_base = f"http://127.0.0.1:{old_port}"
            here = f"http://127.0.0.1:{emu_port}"
            cases += [
                Case(
                    f"baseline: {c.name.strip()}",
                    old,
                    c.url.replace(here, old_base),
                    c.body,
                    c.headers,
                )
                for c in cases
                if c.process is emulator
            ]
        cases = [c for c in cases if c.name.startswith("bare") or args.only in c.name]
        for case in cases:
            if case.body.get("stream"):
                case.events = events_of(case.url, case.body, case.headers)
        for events in sorted({c.events for c in cases if c.events}):
            url = f"http://127.0.0.1:{bare_port}/sse?events={events}"
            cases.insert(1, Case(f"bare aiohttp SSE ({events} events)", bare, url, {}, {}, events))
        results: dict[str, Figures] = {}
        for case in cases:
            asyncio.run(load(case.url, case.body, case.headers, 0.5, args.concurrency))  # warm up
        # Rounds interleave the cases, so a slow spell of the machine touches all of them.
        for _ in range(args.rounds):
            for case in cases:
                before = cpu_seconds(case.process.pid)
                figures = asyncio.run(
                    load(
                        case.url,
                        case.body,
                        case.headers,
                        args.seconds / args.rounds,
                        args.concurrency,
                    )
                )
                figures.server_cpu = cpu_seconds(case.process.pid) - before
                name = case.name
                results[name] = results[name].merge(figures) if name in results else figures
        bare_sse = {
            c.events: results[c.name] for c in cases if c.name.startswith("bare aiohttp SSE")
        }
        peer_figures = results.get("fakellm 0.3.5 chat, non-streaming")
        print(
            f"\nload: {args.concurrency} concurrent keep-alive clients, {args.seconds:.0f} s a "
            f"case in {args.rounds} interleaved rounds; ratios: req/s (higher is better) and "
            "server CPU per request (lower is better), each to the bare handler and to fakellm"
        )
        print(HEAD)
        for case in cases:
            print(
                row(case, results[case.name], results["bare aiohttp JSON"], peer_figures, bare_sse)
            )
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
        state_dir.cleanup()


def cold_start() -> None:
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


if __name__ == "__main__":
    main()
