"""The baseline: a bare aiohttp app answering a fixed JSON body and a fixed SSE stream."""

from __future__ import annotations

import json
import sys
from typing import Any

from aiohttp import web

BODY = json.dumps(
    {
        "model": "qwen3.6-plus",
        "usage": {"prompt_tokens": 12, "completion_tokens": 40, "total_tokens": 52},
        "choices": [
            {
                "message": {
                    "content": "A fixed answer of about forty tokens. " * 6,
                    "role": "assistant",
                },
                "finish_reason": "stop",
                "index": 0,
                "logprobs": None,
            }
        ],
        "object": "chat.completion",
        "created": 1777593600,
        "system_fingerprint": None,
        "id": "chatcmpl-00000000-0000-0000-0000-000000000000",
    }
).encode()
FRAME = b'data: {"choices":[{"delta":{"content":"word "},"index":0}]}\n\n'
FRAMES = 20


async def completion(request: web.Request) -> web.StreamResponse:
    await request.read()
    return web.Response(body=BODY, content_type="application/json")


async def stream(request: web.Request) -> web.StreamResponse:
    """FRAMES frames and `[DONE]`, or `?events=N` events in all (to match another stream),
    one write each, or all in one write with `&together=1` (as the emulator writes frames
    that are ready together)."""
    await request.read()
    frames = int(request.query.get("events", FRAMES + 1)) - 1
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    response.enable_chunked_encoding()
    try:
        await response.prepare(request)
        if request.query.get("together"):
            await response.write(FRAME * frames + b"data: [DONE]\n\n")
        else:
            for _ in range(frames):
                await response.write(FRAME)
            await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
    except ConnectionError:
        pass  # wrk resets its connections when it stops, streams in flight: not worth a traceback
    return response


async def health(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok")


def hold_writes() -> None:
    """Hold every write to a connection until the loop's next pass and send the pass's writes
    together, as the emulator's outbox sends its whole answers (emulator/outbox.py): the bare
    handler that change is measured against as well (`run.py --held-bare`). For measuring the
    JSON answer only: every write of every connection is held, in order, so nothing here is
    checked (a stream's backpressure, for one, is lost)."""
    from asyncio import selector_events

    # (asyncio's socket transport: a private class, which typeshed does not list)
    transport_class: Any = getattr(selector_events, "_SelectorSocketTransport")  # noqa: B009
    write = transport_class.write
    held: list[tuple[Any, bytes]] = []

    def send() -> None:
        batch = held[:]
        held.clear()
        for transport, data in batch:
            if not transport.is_closing():
                write(transport, data)

    def hold(transport: Any, data: bytes) -> None:
        if not held:
            transport._loop.call_soon(send)
        held.append((transport, bytes(data)))

    transport_class.write = hold


def main() -> None:
    if "--hold-writes" in sys.argv[2:]:
        hold_writes()
    app = web.Application()
    app.router.add_post("/json", completion)
    app.router.add_post("/sse", stream)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
