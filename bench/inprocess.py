"""The emulator's own cost per call, without sockets: steadier than a loaded machine's HTTP figures.

    python bench/inprocess.py [--calls 500] [--repeats 7]

Each call goes through the whole application as aiohttp serves it (routing, middlewares, the
handler, the response object and its body) from a request built in memory, one after another;
the figure is the least CPU time per call over the repeats. A bare aiohttp handler answering a
fixed body is measured the same way, so the ratio is of what the emulator adds to aiohttp's
own request handling. The network half of serving a request (parsing it off the socket,
sending the answer) is the same work for both and is left out: bench/run.py has it.
To measure another version: PYTHONPATH=<its checkout> python bench/inprocess.py (from there).
"""

from __future__ import annotations

import argparse
import asyncio
import json
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


async def measure(calls: int, repeats: int) -> dict[str, float]:
    emulator = build_app(Config(clock="2026-05-01T00:00:00Z"))
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
        best = float("inf")
        for _ in range(repeats):
            began = time.process_time()
            for _ in range(calls):
                await _call(*args)
            best = min(best, (time.process_time() - began) / calls)
        figures[name] = best
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    figures = asyncio.run(measure(args.calls, args.repeats))
    bare = figures["bare aiohttp JSON"]
    print("| case | CPU us per call, in process | vs bare |\n|---|---|---|")
    for name, seconds in figures.items():
        print(f"| {name} | {seconds * 1e6:.1f} | {seconds / bare:.2f} |")


if __name__ == "__main__":
    main()
