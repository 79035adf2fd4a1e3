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

# Headers whose values the emulator computes (the rest are aiohttp's, or framing).
PINNED_HEADERS = (
    "Content-Type",
    "x-request-id",
    "vary",
    "x-dashscope-call-gateway",
    "req-arrive-time",
    "resp-start-time",
    "req-cost-time",
    "Server",
    "Date",
)
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
EXPECTED = {
    "chat": "866517452c458287b157e1218805fb6ae39aaa92d9cafe7698f3eff135387a3e",
    "chat-thinking-n2": "475a7fb12ce963e51c98fdd312fb90979df8e21424e00bd17a504a652a54651b",
    "chat-tool": "643d688288ccc0eb89d3bb0a90e82bb1e992717ecf066fdc09235bb2eb6036cd",
    "chat-stream": "247a326abb208221f476cd6f6630e9023f1c030245047a51f8f9659e97d9eb70",
    "payg-chat": "60daf2619323bb9099f9d1e9e37408951bf7103b455532a8767ce03ccf1ce5d9",
    "anthropic": "b0555988c03c5c16c35953edb0e286a8a7d0e534c80974aeccefe6c2df0072b8",
    "anthropic-stream": "b8c869940180465b7661d719019b55538b780d74c4b7d1528ef4296af360ca20",
    "responses": "7bb16d79bb8361c148146b425ff8af4c4befd23772889612904b31d777115beb",
    "responses-stream": "6285701ca94a897df0b51ca99b13bf8f82e132b9cb07c99aaf4ffc73178c74cd",
    "bad-model": "e81436e59f01a45dd27a7a7b0211a60cfeb998eb00a89dc302f107f44f35e908",
    "journal": "b0dcb13677f19204cc31a14c73f7a8f17fc076e4b0ed08936ecad8ae5f34dc4e",
    # The admin state gained member roles and pack limits with the management API (on purpose).
    "state": "4fe18e10c5985220476c5adb8a2649150c1bfe988ac8f057cce219da2d7989bf",
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
    pinned = [f"{name}: {reply.getheader(name)}" for name in PINNED_HEADERS]
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
