"""The emulator's own cost per call, without sockets: steadier than a loaded machine's HTTP figures.

    python bench/inprocess.py [--calls N] [--repeats N] [--only NAME] [--profile [N]] [--real-clock]

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
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import time
from typing import Any

from aiohttp import web
from aiohttp.http import HttpVersion11
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request
from aiohttp.web_request import Request
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from emulator.config import Config
from emulator.runtime import RUNTIME
from emulator.server import build_app

SAY = [{"role": "user", "content": "Write one short paragraph about the sea."}]
CHAT = {"model": "qwen3.6-plus", "messages": SAY, "enable_thinking": False}
CASES: dict[str, tuple[str, dict[str, Any], str]] = {
    "bare aiohttp JSON": ("/bare", CHAT, "seat"),
    "openai chat": ("/compatible-mode/v1/chat/completions", CHAT, "seat"),
    "  same, pay-as-you-go": ("/dashscope/compatible-mode/v1/chat/completions", CHAT, "payg"),
    "anthropic messages": (
        "/apps/anthropic/v1/messages",
        {"model": "qwen3.6-plus", "messages": SAY, "max_tokens": 512},
        "seat",
    ),
    "openai responses": (
        "/compatible-mode/v1/responses",
        {"model": "qwen3.6-plus", "input": SAY[0]["content"], "enable_thinking": False},
        "seat",
    ),
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
    emulator = build_app(Config(clock=None if real_clock else "2026-05-01T00:00:00Z"))
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
            where = filename.split("site-packages/")[-1].split("wt-perf/")[-1]
            print(
                f"{own / calls * 1e6:8.2f} {cumulative / calls * 1e6:8.2f} "
                f"{ncalls / calls:5.1f}  {where}:{line}({function})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--only", help="only the cases whose name contains this")
    parser.add_argument(
        "--profile", type=int, nargs="?", const=30, default=0, help="profile; print N functions"
    )
    parser.add_argument("--real-clock", action="store_true", help="serve on the real clock")
    args = parser.parse_args()
    figures = asyncio.run(
        measure(args.calls, args.repeats, args.only, args.profile, args.real_clock)
    )
    if args.profile or not args.repeats:  # (--repeats 0: the warm-up calls only)
        return
    bare = figures.get("bare aiohttp JSON")
    print("| case | CPU us per call, in process | vs bare |\n|---|---|---|")
    for name, seconds in figures.items():
        ratio = f"{seconds / bare:.2f}" if bare else "-"
        print(f"| {name} | {seconds * 1e6:.1f} | {ratio} |")


if __name__ == "__main__":
    main()
