"""The same seed, clock and request give the same bytes: a few answers pinned byte for byte.

The digests were computed before the performance work (issue 12) with the code as it was, so an
optimisation that changes one byte of a body, a header the emulator computes, the journal or the
books fails here. A fidelity fix that changes bytes on purpose updates the digest it changes, and
says so in its commit.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from emulator.config import Config
from emulator.harness import RunningEmulator, start_emulator
from tests.conftest import FROZEN_AT
from tests.raw_http import DASHSCOPE_HEADERS

SAY = [{"role": "user", "content": "Write one short paragraph about the sea."}]
CHINESE = [{"role": "user", "content": "请用一段话介绍一下大海。"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "chat": (
        "/compatible-mode/v1/chat/completions",
        {"model": "qwen3.6-plus", "messages": SAY, "enable_thinking": False},
    ),
    "chat-thinking-n2": (
        "/compatible-mode/v1/chat/completions",
        {"model": "qwen3.6-plus", "messages": CHINESE, "n": 2, "max_tokens": 40},
    ),
    "chat-tool": (
        "/compatible-mode/v1/chat/completions",
        {
            "model": "qwen3.6-plus",
            "messages": [{"role": "user", "content": "Use get_weather for Paris"}],
            "tools": [WEATHER],
            "enable_thinking": False,
        },
    ),
    "chat-stream": (
        "/compatible-mode/v1/chat/completions",
        {
            "model": "qwen3.6-plus",
            "messages": SAY,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    ),
    "payg-chat": (
        "/dashscope/compatible-mode/v1/chat/completions",
        {"model": "qwen3.6-plus", "messages": SAY, "enable_thinking": False},
    ),
    "anthropic": (
        "/apps/anthropic/v1/messages",
        {"model": "qwen3.6-plus", "messages": SAY, "max_tokens": 512},
    ),
    "anthropic-stream": (
        "/apps/anthropic/v1/messages",
        {"model": "qwen3.6-plus", "messages": SAY, "max_tokens": 512, "stream": True},
    ),
    "responses": (
        "/compatible-mode/v1/responses",
        {"model": "qwen3.6-plus", "input": SAY[0]["content"], "enable_thinking": False},
    ),
    "responses-stream": (
        "/compatible-mode/v1/responses",
        {"model": "qwen3.6-plus", "input": SAY[0]["content"], "stream": True},
    ),
    "bad-model": (
        "/compatible-mode/v1/chat/completions",
        {"model": "no-such-model", "messages": SAY},
    ),
}
# sha256 of each case's pinned headers and body, then of the journal and the books after all.
# issue 14: real Qwen token counts changed every answer's usage, length and stream pieces (and
# so the journal and the books); bad-model is unchanged.
EXPECTED = {
    "chat": "41aef6665b39090dda6cdbbe43fe49e257c994961efc3a45908b4ae323e1e519",
    "chat-thinking-n2": "d99f8fa0fce482d2cf6bc38e0a141b25b56d2ec0ffba05b92959571fe7e7544d",
    "chat-tool": "582a15f880211442099ef99fedd7f507d0ad032568efb6b2d2beb019fb2c8b86",
    "chat-stream": "b54b746ec82867017d6bed6c4fa676649acc795938a8f6ba785f0bd4c8da31ac",
    "payg-chat": "79310004dd100dd7863dc17f2edeeec1556be04404d7774e6008e19abd4ec7e0",
    "anthropic": "f750b6f155c2a0bf9f05f4f80f7eb664835b2c1636826cfbce584444e749c265",
    "anthropic-stream": "084c92ee050b1db2a00b0efa678356b2cdc100d261f646df602ea673def603ae",
    "responses": "a60bb581b0252e332af343babc3dcf9ec229b1a870e8732bd6327c78b49b0ec4",
    "responses-stream": "15fdaf1b38316868f55078b059e6320254c69533e5b75f5ec65d84df11a4ad4a",
    "bad-model": "e81436e59f01a45dd27a7a7b0211a60cfeb998eb00a89dc302f107f44f35e908",
    "journal": "27d59f6e2eb7512bda6ea5486eeeb0951ce9e5a63758132032853d289b842303",
    # The admin state gained member roles and pack limits with the management API (on purpose).
    "state": "a7520f545ecc0a9c0004dcb18cb4c827df0f43860143a8f59892bcc9d64f3499",
}


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    emulator = start_emulator(Config(clock=FROZEN_AT))
    yield emulator
    emulator.stop()


def _exchange(
    emulator: RunningEmulator, method: str, path: str, body: bytes | None, key: str | None
) -> bytes:
    """Pinned headers and the whole body (de-chunked) of one call, as bytes."""
    parts = urllib.parse.urlsplit(emulator.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    connection.request(method, path, body=body, headers=headers)
    reply = connection.getresponse()
    payload = reply.read()
    connection.close()
    pinned = [f"{name}: {reply.getheader(name)}" for name in DASHSCOPE_HEADERS]  # ours
    return f"{reply.status}\n".encode() + "\n".join(pinned).encode() + b"\n\n" + payload


def _digests(emulator: RunningEmulator) -> dict[str, str]:
    _exchange(emulator, "POST", "/_emulator/reset", b"{}", None)
    state = json.loads(_exchange(emulator, "GET", "/_emulator/state", None, None).split(b"\n\n")[1])
    payg = state["payg"]["key"]
    found = {}
    for name, (path, body) in CASES.items():
        key = payg if path.startswith("/dashscope") else emulator.api_key
        raw = _exchange(emulator, "POST", path, json.dumps(body).encode(), key)
        found[name] = hashlib.sha256(raw).hexdigest()
    journal = _exchange(emulator, "GET", "/_emulator/journal?limit=100&bodies=1", None, None)
    found["journal"] = hashlib.sha256(journal.split(b"\n\n", 1)[1]).hexdigest()
    books = _exchange(emulator, "GET", "/_emulator/state", None, None)
    found["state"] = hashlib.sha256(books.split(b"\n\n", 1)[1]).hexdigest()
    return found


def test_same_seed_clock_and_requests_give_the_pinned_bytes(emulator: RunningEmulator) -> None:
    assert _digests(emulator) == EXPECTED


def test_pinned_bytes_are_the_same_on_a_second_run(emulator: RunningEmulator) -> None:
    assert _digests(emulator) == _digests(emulator)
