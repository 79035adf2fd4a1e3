"""The emulator's own cost per call, without sockets: steadier than a loaded machine's HTTP figures.

    python bench/inprocess.py [--calls N] [--repeats N] [--only NAME] [--profile [N]] [--real-clock]
                               [--tokenizer both|qwen|heuristic]

Each call goes through the whole application as aiohttp serves it (routing, middlewares, the
handler, the response object and its body) from a request built in memory, one after another;
the figure is the least CPU time per call over the repeats. A bare aiohttp handler answering a
fixed body is measured the same way, so the ratio is of what the emulator adds to aiohttp's
own request handling. The network half of serving a request (parsing it off the socket,
sending the answer) is the same work for both and is left out: bench/run.py has it.
The emulator's clock is frozen (as the pinned-bytes tests freeze it); `--real-clock` serves on
the real clock, as bench/run.py's server does (every clock read is then a new instant).
`--profile` runs each case's calls under cProfile instead and prints the N hottest functions by
their own time (and by cumulative time): where a call's time goes, for the commit that removes it.
Instructions per call, the figure that does not move with the machine's load: run a case
under `valgrind --tool=callgrind --callgrind-out-file=/dev/null` with `--repeats 0` (the
warm-up calls only) and `--calls 100`, then `--calls 300`; the difference of the two totals
("Collected") over 200 is one call's.
To measure another version: PYTHONPATH=<its checkout> python bench/inprocess.py (from there).

The token counter's share (issue 14): every case runs with Qwen's BPE vocabulary (the default)
and with the heuristic it replaced (TOKEN_PLAN_EMULATOR_TOKENIZER=heuristic), side by side; then
the counting alone of a typical request (its prompt, its answer cut at max_tokens and counted,
again and again as a benchmark's load sends it)
and of a coding agent's request (12 tools, an 8 KB system prompt, 20 turns), the latter first
and then again, as the agent's next turn resends it.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import random
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http import HttpVersion11
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request
from aiohttp.web_request import Request
from common import ANTHROPIC_BODY, CHAT_BODY, CLOCK, RESPONSES_BODY, SAY
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from emulator.config import Config
from emulator.engine import tokens, vocabulary
from emulator.engine.types import Message, ToolCall, ToolSpec
from emulator.runtime import RUNTIME
from emulator.server import build_app

CASES: dict[str, tuple[str, dict[str, Any], str]] = {
    "bare aiohttp JSON": ("/bare", CHAT_BODY, "seat"),
    "openai chat": ("/compatible-mode/v1/chat/completions", CHAT_BODY, "seat"),
    "  same, pay-as-you-go": ("/dashscope/compatible-mode/v1/chat/completions", CHAT_BODY, "payg"),
    "anthropic messages": ("/apps/anthropic/v1/messages", ANTHROPIC_BODY, "seat"),
    "openai responses": ("/compatible-mode/v1/responses", RESPONSES_BODY, "seat"),
}
BARE_BODY = json.dumps({"choices": [{"message": {"content": "A fixed answer. " * 24}}]}).encode()


class _Reading:
    """The protocol side of a StreamReader that is fed the whole body at once."""

    _reading_paused = False

    def pause_reading(self, **_: Any) -> None:
        pass

    def resume_reading(self, **_: Any) -> None:
        pass


async def _bare(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=BARE_BODY, content_type="application/json")


async def _call(
    app: web.Application,
    message: RawRequestMessage,
    raw: bytes,
    template: web.Request,
    reading: _Reading,
    task: asyncio.Task[Any],
) -> None:
    loop = asyncio.get_running_loop()
    content = StreamReader(reading, 2**16, loop=loop)  # type: ignore[arg-type]
    content.feed_data(raw)
    content.feed_eof()
    request = Request(
        message,
        content,
        template._protocol,
        template._payload_writer,
        task,
        loop,
        client_max_size=2**26,
    )
    response = await app._handle(request)
    if response.status != 200:
        raise RuntimeError(f"{message.path}: {response.status}")


async def measure(
    calls: int, repeats: int, only: str | None = None, profile: int = 0, real_clock: bool = False
) -> dict[str, float]:
    emulator = build_app(Config(clock=None if real_clock else CLOCK))
    bare = web.Application()
    bare.router.add_post("/bare", _bare)
    for app in (emulator, bare):
        app.freeze()
    runtime = emulator[RUNTIME]
    keys = {"seat": next(iter(runtime.seat_keys().values())), "payg": runtime.accounts.payg_key}
    task = asyncio.current_task()
    assert task is not None
    reading = _Reading()
    figures = {}
    for name, (path, body, key) in CASES.items():
        if only is not None and only not in name:
            continue
        app = bare if path == "/bare" else emulator
        raw = json.dumps(body).encode()
        fields = {
            "Host": "127.0.0.1",
            "Authorization": f"Bearer {keys[key]}",
            "Content-Type": "application/json",
            "Content-Length": str(len(raw)),
        }
        headers = CIMultiDictProxy(CIMultiDict(fields))
        raw_headers = tuple((k.encode(), v.encode()) for k, v in fields.items())
        template = make_mocked_request("POST", path, app=app)  # its protocol and writer, reused
        message = RawRequestMessage(
            "POST", path, HttpVersion11, headers, raw_headers, False, None, False, False, URL(path)
        )

        args = (app, message, raw, template, reading, task)
        for _ in range(calls):  # warm up
            await _call(*args)
        if profile:
            await _profile(name, args, calls * repeats, profile)
            continue
        best = float("inf")
        for _ in range(repeats):
            began = time.process_time()
            for _ in range(calls):
                await _call(*args)
            best = min(best, (time.process_time() - began) / calls)
        figures[name] = best
    return figures


async def _profile(name: str, args: tuple[Any, ...], calls: int, top: int) -> None:
    """`calls` calls of one case under cProfile, its `top` functions printed (µs a call)."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        await _call(*args)
    profiler.disable()
    stats = pstats.Stats(profiler)
    print(f"\n## {name}: {calls} calls under cProfile")
    for order in ("tottime", "cumtime"):
        print(f"\nby {order} (µs a call: own, cumulative; calls a call)")
        column = 2 if order == "tottime" else 3
        rows = sorted(stats.stats.items(), key=lambda item: -item[1][column])  # type: ignore[attr-defined]
        for (filename, line, function), (_, ncalls, own, cumulative, _) in rows[:top]:
            where = filename.split("site-packages/")[-1].removeprefix(os.getcwd() + "/")
            print(
                f"{own / calls * 1e6:8.2f} {cumulative / calls * 1e6:8.2f} "
                f"{ncalls / calls:5.1f}  {where}:{line}({function})"
            )


def least(work: Callable[[], object], repeats: int, times: int) -> float:
    """CPU seconds one call of `work` takes: the least over `repeats` rounds of `times` calls."""
    best = float("inf")
    for _ in range(repeats):
        began = time.process_time()
        for _ in range(times):
            work()
        best = min(best, (time.process_time() - began) / times)
    return best


def use_tokenizer(name: str) -> None:
    """Count with `name` from now on in this process (the counter is loaded once, on first use:
    its caches are emptied so the next count loads the one asked for)."""
    os.environ[vocabulary.TOKENIZER_ENV] = name
    vocabulary.counter.cache_clear()
    tokens._frame.cache_clear()
    tokens._memo.cache_clear()
    tokens.count("warm")  # the load itself is start-up cost, not a request's


def agent_request() -> tuple[list[Message], list[ToolSpec]]:
    """A coding agent's request: 12 tools, an 8 KB system prompt, 20 turns with tool calls."""
    rng = random.Random(14)
    words = [
        "the",
        "file",
        "read",
        "write",
        "test",
        "error",
        "function",
        "value",
        "return",
        "class",
        "import",
        "line",
    ]

    def prose(n: int) -> str:
        return " ".join(rng.choice(words) for _ in range(n))

    tools = [
        ToolSpec(
            f"tool_{n}",
            prose(40),
            {
                "type": "object",
                "properties": {"path": {"type": "string", "description": prose(12)}},
                "required": ["path"],
            },
        )
        for n in range(12)
    ]
    messages = [Message("system", prose(1400))]
    for turn in range(5):
        call = ToolCall(f"call_{turn}", "tool_1", json.dumps({"path": f"src/m{turn}.py"}))
        messages += [
            Message("user", prose(30)),
            Message("assistant", prose(10), (call,)),
            Message("tool", prose(300), tool_call_id=call.id),
            Message("assistant", prose(60)),
        ]
    return messages, tools


def counting(repeats: int) -> dict[str, float]:
    """CPU seconds the counting of one request takes, least over the repeats."""
    said = [Message("user", SAY[0]["content"])]
    answer = " ".join(["The sea rolls in grey and slow, and the gulls cry over it."] * 6)
    agent, tools = agent_request()

    def typical() -> None:
        tokens.prompt_tokens(said, ())
        cut = tokens.cut_point(answer, 64)
        tokens.count(answer[:cut])

    def agent_first() -> None:
        tokens._memo.cache_clear()
        tokens.prompt_tokens(agent, tools)

    def agent_again() -> None:
        tokens.prompt_tokens(agent, tools)

    figures = {}
    for name, work, calls in (
        ("typical request", typical, 2000),
        ("agent request, first", agent_first, 50),
        ("agent request, again", agent_again, 500),
    ):
        work()
        figures[name] = least(work, repeats, calls)
    figures["agent request tokens"] = tokens.prompt_tokens(agent, tools)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--only", help="only the cases whose name contains this")
    parser.add_argument(
        "--profile", type=int, nargs="?", const=30, default=0, help="profile; print N functions"
    )
    parser.add_argument("--real-clock", action="store_true", help="serve on the real clock")
    parser.add_argument("--tokenizer", choices=["both", "qwen", "heuristic"], default="both")
    args = parser.parse_args()
    names = ["qwen", "heuristic"] if args.tokenizer == "both" else [args.tokenizer]
    if args.profile or not args.repeats:  # one counter: a profile, or the warm-up calls only
        names = names[:1]
    runs, counts = {}, {}
    for name in names:
        use_tokenizer(name)
        runs[name] = asyncio.run(
            measure(args.calls, args.repeats, args.only, args.profile, args.real_clock)
        )
        if not (args.profile or not args.repeats or args.only):
            counts[name] = counting(args.repeats)
    if args.profile or not args.repeats:  # (--repeats 0: the warm-up calls only)
        return
    print("| case | " + " | ".join(f"CPU us per call ({n}) | vs bare" for n in names) + " |")
    print("|---|" + "---|---|" * len(names))
    for case in runs[names[0]]:
        cells = []
        for name in names:
            seconds, bare = runs[name][case], runs[name].get("bare aiohttp JSON")
            ratio = f"{seconds / bare:.2f}" if bare else "-"
            cells.append(f"{seconds * 1e6:.1f} | {ratio}")
        print(f"| {case} | " + " | ".join(cells) + " |")
    if not counts:
        return
    print("\n| counting alone | " + " | ".join(f"CPU us ({n})" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for case in counts[names[0]]:
        if case.endswith("tokens"):
            cells = [f"{counts[n][case]:.0f}" for n in names]
        else:
            cells = [f"{counts[n][case] * 1e6:.1f}" for n in names]
        print(f"| {case} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
