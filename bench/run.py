"""Throughput, latency and cold start of the emulator against a bare aiohttp handler, in one run.

    python bench/run.py [--peer] [--seconds 6] [--concurrency 16] [--rounds 3] [--only NAME]
                        [--load wrk|python] [--pin both|on|off] [--loop asyncio|uvloop]

Each server runs in its own process; the load comes from another process, wrk (C, one thread,
bench/wrk.lua for the bodies and the figures), over loopback with keep-alive connections, the
cases interleaved round by round (`--load python`: an aiohttp client in this process, as
before). Server CPU per request is read from /proc, so it is what a request costs the server
whatever the load generator keeps up with; the load generator's own CPU is reported beside it
(near 100 % of a core: it, not the server, sets the pace). With `--pin on` every server runs on
one core and the load generator on the other; `--pin both` (the default) measures each case
both ways in the same rounds. Every figure is also a ratio to the bare handler's and, with
`--peer`, to fakellm's (installed from bench/requirements.txt into bench/.venv, started with its
own CLI). Each streaming case is set beside a bare aiohttp stream of the same number of events.
`--loop uvloop` runs the bare handler and the emulators (not fakellm, which has its own) on
uvloop, through bench/loop.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
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


@dataclass
class Figures:
    requests: int
    seconds: float
    p50s: list[float]  # per round, ms
    p99s: list[float]
    server_cpu: float = 0.0  # CPU seconds the server process spent on these requests
    load_cpu: float = 0.0  # CPU seconds the load generator spent
    # Per round, server CPU seconds a request: a ratio near a goal's limit is read against
    # the spread of the rounds' own ratios, not the pooled figure alone.
    round_cpu: list[float] = field(default_factory=list)

    @property
    def cpu_per_request(self) -> float:
        return self.server_cpu / self.requests

    def merge(self, other: Figures) -> Figures:
        return Figures(
            self.requests + other.requests,
            self.seconds + other.seconds,
            self.p50s + other.p50s,
            self.p99s + other.p99s,
            self.server_cpu + other.server_cpu,
            self.load_cpu + other.load_cpu,
            self.round_cpu + other.round_cpu,
        )

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def p50(self) -> float:
        """The median of the rounds' p50 (ms): wrk reports percentiles, not latencies."""
        return statistics.median(self.p50s)

    @property
    def p99(self) -> float:
        return statistics.median(self.p99s)

    @property
    def load_share(self) -> float:
        """The load generator's CPU as a share of one core over the load."""
        return self.load_cpu / self.seconds


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc): what a request really costs the
    server, whatever the load generator in this process can keep up with."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(
    args: list[str],
    health: str,
    source: str | None = None,
    loop: str = "asyncio",
    extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], float]:
    """Start a server and wait until it is healthy; `source`: a checkout whose `emulator`
    package to run instead of the installed one (a baseline); `loop`: uvloop through
    bench/loop.py; `extra_env`: variables set for it alone."""
    started = time.perf_counter()
    env = {**os.environ, **(extra_env or {})}
    if source:
        env["PYTHONPATH"] = source
    launcher = [str(HERE / "loop.py")] if loop == "uvloop" else []
    process = subprocess.Popen(
        [sys.executable, *launcher, *args], stdout=subprocess.DEVNULL, env=env, cwd=source or None
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
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                async with session.post(url, data=payload, headers=headers) as reply:
                    async for _ in reply.content.iter_any():
                        pass
                    if reply.status != 200:
                        raise RuntimeError(f"{url} answered {reply.status}")
                latencies.append(time.perf_counter() - sent)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    return Figures(len(latencies), elapsed, [p50], [p99])


def python_load(
    url: str, body: dict[str, object], headers: dict[str, str], seconds: float, concurrency: int
) -> Figures:
    """The aiohttp client in this process (`--load python`); its CPU is this process's."""
    before = own_cpu(resource.RUSAGE_SELF)
    figures = asyncio.run(load(url, body, headers, seconds, concurrency))
    figures.load_cpu = own_cpu(resource.RUSAGE_SELF) - before
    return figures


def own_cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


WRK = shutil.which("wrk") or "/usr/bin/wrk"


def ensure_wrk() -> None:
    """wrk, from Debian's package, installed with apt-get when missing (as root), as the test
    suite installs Chromium; otherwise say the command."""
    if Path(WRK).exists():
        return
    command = "apt-get update && apt-get install -y wrk"
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        sys.exit(f"bench/run.py needs wrk: {command} (or --load python)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "update"], ["apt-get", "install", "-y", "wrk"]):
        subprocess.run(step, check=True, env=env, stdout=subprocess.DEVNULL)


def wrk_load(
    url: str,
    body: dict[str, object],
    headers: dict[str, str],
    seconds: float,
    concurrency: int,
    cpus: set[int] | None,
) -> Figures:
    """One wrk run (one thread, `concurrency` keep-alive connections, `seconds` rounded to
    whole seconds, the least wrk takes), on `cpus`."""
    with tempfile.NamedTemporaryFile("wb", suffix=".json") as payload:
        payload.write(json.dumps(body).encode())
        payload.flush()
        env = {
            **os.environ,
            "BENCH_BODY": payload.name,
            "BENCH_HEADERS": "".join(f"{name}: {value}\n" for name, value in headers.items()),
        }
        command = [
            WRK,
            "-t1",
            f"-c{concurrency}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
        ]
        command += ["-s", str(HERE / "wrk.lua"), url]
        before = own_cpu(resource.RUSAGE_CHILDREN)
        done = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        spent = own_cpu(resource.RUSAGE_CHILDREN) - before
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no figures: {done.stdout} {done.stderr}")
    read = {k: int(v) for k, v in (field.split("=") for field in line.split()[1:])}
    if read["status_errors"] or not read["requests"]:
        raise RuntimeError(f"{url}: {line}")
    if read["socket_errors"]:  # timeouts or resets: the figures stand, but say so
        print(f"warning: {url}: {read['socket_errors']} socket errors", file=sys.stderr)
    return Figures(
        read["requests"],
        read["duration_us"] / 1e6,
        [read["p50_us"] / 1000],
        [read["p99_us"] / 1000],
        load_cpu=spent,
    )


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of a process onto `cpus` (threads it starts later inherit them)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.sched_setaffinity(int(task.name), cpus)


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
        body = streamed(CHAT_BODY)
        started = rss_kib(process.pid)
        # One stream first: the vocabulary (loaded on the first count) and Faker are the
        # process's, not the concurrent streams' growth; both figures are printed.
        asyncio.run(many_streams(url, body, auth, 1))
        before = rss_kib(process.pid)
        ok, failed, seconds = asyncio.run(many_streams(url, body, auth, count))
        after = rss_kib(process.pid)
        print(
            f"{count} concurrent streams: {ok} complete, {failed} failed, in {seconds:.2f} s; "
            f"server RSS {started / 1024:.1f} at start, {before / 1024:.1f} after one stream, "
            f"{after / 1024:.1f} MiB after them (+{(after - before) / 1024:.1f} MiB)"
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
    one_write: dict[int, Figures],
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
        _round_ratios(figures, bare),
        f"{figures.cpu_per_request / peer.cpu_per_request:.2f}" if peer else "-",
        f"{figures.p50:.2f}",
        f"{figures.p99:.2f}",
        f"{figures.load_share * 100:.0f} %",
    ]
    if case.events:
        same, together = bare_sse[case.events], one_write[case.events]
        per_event = figures.cpu_per_request / case.events
        cells.append(
            f"{case.events} ev, {per_event * 1e6:.1f} us/ev, "
            f"{figures.cpu_per_request / same.cpu_per_request:.2f}x bare SSE, "
            f"{figures.cpu_per_request / together.cpu_per_request:.2f}x one write"
        )
    else:
        cells.append("")
    return "| " + " | ".join(cells) + " |"


def _round_ratios(figures: Figures, bare: Figures) -> str:
    """The CPU ratio to the bare handler in each round (the two measured in the same round),
    as its lowest-highest: how far the machine's noise moves the pooled ratio."""
    ratios = [ours / theirs for ours, theirs in zip(figures.round_cpu, bare.round_cpu, strict=True)]
    return f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else "-"


# A bare stream of as many events, all in one write: the emulator writes the frames of an
# answer, all ready at once, in one write (emulator/streaming.py), so this is the like-for-like
# bare stream; the one written an event at a time is the issue's.
ONE_WRITE = "bare aiohttp SSE, one write"
UVLOOP = "uvloop: "  # the name of a case served on uvloop (--loop both)
COLUMNS = (
    "case",
    "req/s",
    "req/s vs bare",
    "req/s vs fakellm",
    "server CPU us/req",
    "CPU vs bare",
    "CPU vs bare, by round",
    "CPU vs fakellm",
    "p50 ms",
    "p99 ms",
    "load gen CPU",
    "stream",
)
HEAD = "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS)
# How the servers and the load generator share the cores: None, all of them; else (the
# servers' cores, the load generator's).
Placement = tuple[set[int], set[int]] | None


def placements(pin_mode: str) -> dict[str, Placement]:
    cpus = sorted(os.sched_getaffinity(0))
    if pin_mode != "off" and len(cpus) < 2:
        sys.exit("--pin needs two cores")
    pinned: Placement = ({cpus[0]}, {cpus[-1]}) if len(cpus) >= 2 else None
    chosen = {"off": ["unpinned"], "on": ["pinned"], "both": ["unpinned", "pinned"]}[pin_mode]
    every = {"unpinned": None, "pinned": pinned}
    return {name: every[name] for name in chosen}


def _family(case: Case, cases: list[Case]) -> str:
    """A case's name and, for a variant ("  same, --state"), its parent's, which precedes it:
    `--only chat` keeps the chat case's variants too."""
    if not case.name.startswith("  "):
        return case.name
    at = cases.index(case)
    parent = next(c for c in reversed(cases[:at]) if not c.name.startswith("  "))
    return parent.name + case.name


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6.0, help="a case's load, all rounds")
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
    parser.add_argument("--load", choices=("wrk", "python"), default="wrk")
    parser.add_argument(
        "--pin",
        choices=("both", "on", "off"),
        default="both",
        help="servers on one core, the load generator on the other (both: each case both ways)",
    )
    parser.add_argument(
        "--loop",
        choices=("asyncio", "uvloop", "both"),
        default="asyncio",
        help="the loop of the bare handler and the emulator (both: a second of each on uvloop)",
    )
    parser.add_argument(
        "--held-bare",
        action="store_true",
        help="also a bare handler whose writes wait for the loop's next pass and go together, "
        "as the emulator's whole answers do (emulator/outbox.py)",
    )
    args = parser.parse_args()
    if args.load == "wrk":
        ensure_wrk()
    modes = placements(args.pin)

    if not args.no_cold:
        cold_start()
    if args.streams:
        concurrent_streams(args.streams)
    processes: list[subprocess.Popen[bytes]] = []
    state_dir = tempfile.TemporaryDirectory()

    def serve(
        command: list[str], health: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        loop = "asyncio" if args.loop == "both" else args.loop
        process, _ = start(command, health, loop=loop, extra_env=env)
        processes.append(process)
        return process

    try:
        bare_port, emu_port, stateful_port = free_port(), free_port(), free_port()
        bare = serve(
            [str(HERE / "bare_server.py"), str(bare_port)], f"http://127.0.0.1:{bare_port}/health"
        )
        if args.held_bare:
            held_port = free_port()
            held = serve(
                [str(HERE / "bare_server.py"), str(held_port), "--hold-writes"],
                f"http://127.0.0.1:{held_port}/health",
            )
        emulator = serve(emulator_args(emu_port), f"http://127.0.0.1:{emu_port}/_emulator/health")
        state = f"{state_dir.name}/state.db"
        stateful = serve(
            emulator_args(stateful_port, "--state", state),
            f"http://127.0.0.1:{stateful_port}/_emulator/health",
        )
        # The token counter's share (issue 14): the same emulator counting with the heuristic
        # that Qwen's vocabulary replaced.
        heuristic_port = free_port()
        heuristic = serve(
            emulator_args(heuristic_port),
            f"http://127.0.0.1:{heuristic_port}/_emulator/health",
            {"TOKEN_PLAN_EMULATOR_TOKENIZER": "heuristic"},
        )
        key, payg_key = keys_of(emu_port)
        auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        payg_auth = {**auth, "Authorization": f"Bearer {payg_key}"}
        emu = f"http://127.0.0.1:{emu_port}"
        oai = f"{emu}/compatible-mode/v1/chat/completions"
        ant = f"{emu}/apps/anthropic/v1/messages"
        resp = f"{emu}/compatible-mode/v1/responses"
        bare_json = f"http://127.0.0.1:{bare_port}/json"
        cases = [Case("bare aiohttp JSON", bare, bare_json, {}, {})]
        if args.held_bare:
            held_json = f"http://127.0.0.1:{held_port}/json"
            cases.append(Case("bare aiohttp JSON, writes held together", held, held_json, {}, {}))
        cases += [
            Case("openai chat, non-streaming", emulator, oai, CHAT_BODY, auth),
            Case(
                "  same, pay-as-you-go (no ledger)",
                emulator,
                oai.replace("/compatible-mode", "/dashscope/compatible-mode"),
                CHAT_BODY,
                payg_auth,
            ),
            Case(
                "  same, --state (SQLite)",
                stateful,
                f"http://127.0.0.1:{stateful_port}/compatible-mode/v1/chat/completions",
                CHAT_BODY,
                auth,
            ),
            Case(
                "  same, heuristic token counter",
                heuristic,
                f"http://127.0.0.1:{heuristic_port}/compatible-mode/v1/chat/completions",
                CHAT_BODY,
                auth,
            ),
            Case("openai chat, streaming", emulator, oai, streamed(CHAT_BODY), auth),
            Case("anthropic messages, non-streaming", emulator, ant, ANTHROPIC_BODY, auth),
            Case(
                "anthropic messages, streaming",
                emulator,
                ant,
                streamed(ANTHROPIC_BODY),
                auth,
            ),
            Case("openai responses, non-streaming", emulator, resp, RESPONSES_BODY, auth),
            Case(
                "openai responses, streaming",
                emulator,
                resp,
                streamed(RESPONSES_BODY),
                auth,
            ),
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
                    CHAT_BODY,
                    auth,
                ),
                Case(
                    "fakellm 0.3.5 messages, non-streaming",
                    peer,
                    f"{peer_url}/v1/messages",
                    ANTHROPIC_BODY,
                    auth,
                ),
            ]
        if args.baseline:
            old_port = free_port()
            old, _ = start(
                emulator_args(old_port),
                f"http://127.0.0.1:{old_port}/_emulator/health",
                args.baseline,
                "asyncio" if args.loop == "both" else args.loop,
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
        cases = [c for c in cases if c.name.startswith("bare") or args.only in _family(c, cases)]
        for case in cases:
            if case.body.get("stream"):
                case.events = events_of(case.url, case.body, case.headers)
        for events in sorted({c.events for c in cases if c.events}, reverse=True):
            url = f"http://127.0.0.1:{bare_port}/sse?events={events}"
            cases[1:1] = [
                Case(f"bare aiohttp SSE ({events} events)", bare, url, {}, {}, events),
                Case(f"{ONE_WRITE} ({events} events)", bare, f"{url}&together=1", {}, {}, events),
            ]
        if args.loop == "both":  # the same cases on uvloop, beside, on a server of each
            bare_uv_port, emu_uv_port = free_port(), free_port()
            bare_uv, _ = start(
                [str(HERE / "bare_server.py"), str(bare_uv_port)],
                f"http://127.0.0.1:{bare_uv_port}/health",
                loop="uvloop",
            )
            processes.append(bare_uv)
            emu_uv, _ = start(
                emulator_args(emu_uv_port),
                f"http://127.0.0.1:{emu_uv_port}/_emulator/health",
                loop="uvloop",
            )
            processes.append(emu_uv)
            twins = {
                id(bare): (bare_uv, f":{bare_port}/", f":{bare_uv_port}/"),
                id(emulator): (emu_uv, f":{emu_port}/", f":{emu_uv_port}/"),
            }
            cases += [
                Case(
                    f"{UVLOOP}{c.name.strip()}",
                    twins[id(c.process)][0],
                    c.url.replace(*twins[id(c.process)][1:]),
                    c.body,
                    c.headers,
                    c.events,
                )
                for c in list(cases)
                if id(c.process) in twins
            ]
        everyone = [*{id(c.process): c.process for c in cases}.values()]
        every_cpu = os.sched_getaffinity(0)

        def run(case: Case, seconds: float, placement: Placement) -> Figures:
            load_cpus = placement[1] if placement else None
            if args.load == "wrk":
                return wrk_load(
                    case.url, case.body, case.headers, seconds, args.concurrency, load_cpus
                )
            os.sched_setaffinity(0, load_cpus or every_cpu)
            return python_load(case.url, case.body, case.headers, seconds, args.concurrency)

        for case in cases:
            run(case, 1.0, None)  # warm up
        results: dict[tuple[str, str], Figures] = {}
        # Rounds interleave the cases (and the placements), so a slow spell of the machine
        # touches all of them.
        for _ in range(args.rounds):
            for mode, placement in modes.items():
                for process in everyone:
                    pin(process.pid, placement[0] if placement else every_cpu)
                for case in cases:
                    before = cpu_seconds(case.process.pid)
                    figures = run(case, args.seconds / args.rounds, placement)
                    figures.server_cpu = cpu_seconds(case.process.pid) - before
                    figures.round_cpu = [figures.cpu_per_request]
                    key = (mode, case.name)
                    results[key] = results[key].merge(figures) if key in results else figures
        os.sched_setaffinity(0, every_cpu)
        generator = "wrk 4.1 (C, 1 thread)" if args.load == "wrk" else "aiohttp in the bench"
        loops = "asyncio and uvloop" if args.loop == "both" else args.loop
        print(
            f"\nload: {generator}, {args.concurrency} concurrent keep-alive connections, "
            f"{args.seconds:.0f} s a case in {args.rounds} interleaved rounds, servers on "
            f"{loops}; ratios: req/s (higher is better) and server CPU per request (lower "
            "is better), each to the bare handler and to fakellm; p50/p99: median of the rounds'"
        )
        for mode, placement in modes.items():
            where = (
                f"servers on CPU {sorted(placement[0])}, load generator on CPU "
                f"{sorted(placement[1])}"
                if placement
                else "servers and load generator on any core"
            )
            print(f"\n{mode}: {where}\n{HEAD}")
            found = {name: figures for (m, name), figures in results.items() if m == mode}
            peer_figures = found.get("fakellm 0.3.5 chat, non-streaming")
            for case in cases:
                # A case on uvloop is set beside the bare handler on uvloop: the same loop.
                loop = UVLOOP if case.name.startswith(UVLOOP) else ""
                bare_sse = {
                    c.events: found[c.name]
                    for c in cases
                    if c.name.startswith(f"{loop}bare aiohttp SSE (")  # one write an event
                }
                one_write = {
                    c.events: found[c.name] for c in cases if c.name.startswith(loop + ONE_WRITE)
                }
                bare = found[f"{loop}bare aiohttp JSON"]
                print(row(case, found[case.name], bare, peer_figures, bare_sse, one_write))
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
