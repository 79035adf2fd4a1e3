"""Every fault a scenario rule can inject, as a tool meets it on the wire (issue 4, "Faults").

Faults are checked through the official SDKs (what a tool sees: which exception, after how
long) and over a raw socket where the bytes are the point (no status line at all, exactly N
frames and no terminating chunk, a frame that is not JSON, a plain-text gateway body).
Latencies are kept small so the file stays fast.
"""

from __future__ import annotations

import asyncio
import json
import socket
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from emulator.config import load_scenario
from emulator.harness import RunningEmulator, start_emulator
from tests.admin_api import (
    Admin,
    anthropic_client,
    async_anthropic_client,
    async_openai_client,
    openai_client,
)

Factory = Callable[..., RunningEmulator]
MODEL = "qwen3.6-plus"
CLOCK = "2026-05-01T00:00:00Z"
NO_THINKING = {"enable_thinking": False}
# Twelve tokens: more than the two content frames `cut_after: 3` lets through can carry.
SCRIPT = "one two three four five six seven eight nine ten eleven twelve"
CHAT = "/compatible-mode/v1/chat/completions"
MESSAGES = "/apps/anthropic/v1/messages"


def serve(
    factory: Factory, tmp_path: Path, rules: str, extra: str = "", clock: str | None = CLOCK
) -> RunningEmulator:
    """An emulator on a one-scenario file with these rules (and a frozen clock by default)."""
    body = textwrap.indent(textwrap.dedent(rules).strip("\n"), "    ")
    head = textwrap.indent(textwrap.dedent(extra).strip("\n"), "  ")
    frozen = f"  clock: {clock}\n" if clock else ""
    path = tmp_path / "faults.yaml"
    path.write_text(f"f:\n{frozen}{head}\n  rules:\n{body}\n", "utf-8")
    return factory(load_scenario("f", path))


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


# ---- raw HTTP -------------------------------------------------------------------------------


@dataclass
class Raw:
    """What came back on the socket, to the last byte before it closed."""

    data: bytes  # everything received
    status: int | None  # None: not even a status line
    headers: dict[str, str]
    body: bytes  # de-chunked
    complete: bool  # the body ended properly (the terminating chunk, or all of Content-Length)

    @property
    def frames(self) -> list[bytes]:
        """The server-sent-event frames of the body."""
        return [frame for frame in self.body.split(b"\n\n") if frame.strip()]


def raw_post(emulator: RunningEmulator, path: str, body: dict[str, Any], timeout: float = 5) -> Raw:
    """POST with `Connection: close` and read until the server closes (or resets)."""
    host, port = emulator.url.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    data = b""
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\n".encode()
            + f"Authorization: Bearer {emulator.api_key}\r\n".encode()
            + b"Content-Type: application/json\r\nConnection: close\r\n"
            + f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    return parse_raw(data)


def parse_raw(data: bytes) -> Raw:
    if not data.startswith(b"HTTP/"):
        return Raw(data, None, {}, b"", False)
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":
        body, complete = b"", False
        while rest:
            size_line, sep, rest = rest.partition(b"\r\n")
            if not sep:
                break
            size = int(size_line, 16)
            if size == 0:
                complete = True
                break
            if len(rest) < size + 2:
                body += rest[:size]
                break
            body, rest = body + rest[:size], rest[size + 2 :]
        return Raw(data, status, headers, body, complete)
    length = int(headers.get("content-length", len(rest)))
    return Raw(data, status, headers, rest[:length], len(rest) >= length)


def chat_body(text: str, stream: bool = True, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": user(text), "stream": stream, **NO_THINKING, **extra}


def messages_body(text: str, stream: bool = True) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 256, "messages": user(text), "stream": stream}


def journal_entry(emulator: RunningEmulator, deadline: float = 3.0) -> dict[str, Any]:
    """The newest journal entry, waiting a moment for one the server records late (a stall is
    recorded once the client has gone)."""
    admin = Admin(emulator)
    end = time.monotonic() + deadline
    while True:
        journal = admin.journal(1)
        if journal or time.monotonic() > end:
            assert journal, "nothing journaled"
            return journal[-1]
        time.sleep(0.02)


# ---- latency, jitter, chunk delay -------------------------------------------------------------


def test_latency_before_the_first_byte(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(
        emulator_factory,
        tmp_path,
        f"""
        - name: slow
          match: {{last_user: slow}}
          fault: {{latency: 0.2}}
          reply: {{text: "{SCRIPT}"}}
        """,
    )
    client = openai_client(emulator)
    started = time.perf_counter()
    reply = client.chat.completions.create(
        model=MODEL, messages=user("slow"), extra_body=NO_THINKING
    )
    assert time.perf_counter() - started >= 0.2
    assert reply.choices[0].message.content == SCRIPT
    started = time.perf_counter()
    client.chat.completions.create(model=MODEL, messages=user("fast"), extra_body=NO_THINKING)
    assert time.perf_counter() - started < 0.2
    started = time.perf_counter()
    with anthropic_client(emulator).messages.stream(
        model=MODEL, max_tokens=64, messages=user("slow")
    ) as stream:
        first = next(iter(stream))
        waited = time.perf_counter() - started
    assert first.type == "message_start"
    assert waited >= 0.2


def measure(emulator: RunningEmulator, calls: int = 2) -> list[float]:
    """How long each of `calls` identical jittered requests took."""
    client = openai_client(emulator)
    delays = []
    for _ in range(calls):
        started = time.perf_counter()
        client.chat.completions.create(model=MODEL, messages=user("jitter"), extra_body=NO_THINKING)
        delays.append(time.perf_counter() - started)
    return delays


def test_jitter_is_bounded_and_deterministic(emulator_factory: Factory, tmp_path: Path) -> None:
    """On the real clock too: the delay comes from the seed, the rule's call number and the
    request, so two fresh emulators given the same requests wait the same."""
    rules = "- {name: jittery, fault: {latency: 0.02, jitter: 0.3}, reply: {text: ok}}"
    first = measure(serve(emulator_factory, tmp_path, rules, clock=None))
    second = measure(serve(emulator_factory, tmp_path, rules, clock=None))
    for one, two in zip(first, second, strict=True):
        assert abs(one - two) < 0.1, (first, second)
    for elapsed in first + second:
        assert 0.02 <= elapsed < 0.02 + 0.3 + 0.15


def test_chunk_delay_stretches_a_stream(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(
        emulator_factory,
        tmp_path,
        f"""
        - name: slow
          match: {{last_user: slow}}
          fault: {{chunk_delay: 0.03}}
          reply: {{text: "{SCRIPT}"}}
        - {{name: fast, reply: {{text: "{SCRIPT}"}}}}
        """,
    )

    def timed(text: str) -> tuple[float, list[str]]:
        started = time.perf_counter()
        chunks = openai_client(emulator).chat.completions.create(
            model=MODEL, messages=user(text), stream=True, extra_body=NO_THINKING
        )
        pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
        return time.perf_counter() - started, pieces

    slow, slow_pieces = timed("slow")
    fast, fast_pieces = timed("fast")
    assert "".join(slow_pieces) == "".join(fast_pieces) == SCRIPT
    frames = len(raw_post(emulator, CHAT, chat_body("fast")).frames)
    assert frames > 3
    assert slow >= 0.03 * (frames - 1), (slow, fast, frames)
    assert slow > fast, (slow, fast, frames)


# ---- drop ---------------------------------------------------------------------------------------

DROP = "- {name: gone, match: {last_user: drop}, fault: {drop: true}}"


def test_drop_closes_the_connection_with_no_bytes(
    emulator_factory: Factory, tmp_path: Path
) -> None:
    emulator = serve(emulator_factory, tmp_path, DROP)
    raw = raw_post(emulator, CHAT, chat_body("drop", stream=False))
    assert raw.data == b"" and raw.status is None
    entry = journal_entry(emulator)
    assert (entry["status"], entry["error"], entry["rule"]) == (499, "fault:drop", "gone")
    assert entry["cost"] == "0"

    with pytest.raises(openai.APIConnectionError):
        openai_client(emulator).chat.completions.create(model=MODEL, messages=user("drop"))
    with pytest.raises(anthropic.APIConnectionError):
        anthropic_client(emulator).messages.create(
            model=MODEL, max_tokens=64, messages=user("drop")
        )
    with pytest.raises(openai.APIConnectionError):
        openai_client(emulator).chat.completions.create(
            model=MODEL, messages=user("drop"), stream=True
        )
    # The server is fine afterwards.
    reply = openai_client(emulator).chat.completions.create(model=MODEL, messages=user("hi"))
    assert reply.choices[0].message.content
    statuses = [e["status"] for e in Admin(emulator).journal()]
    assert statuses == [499, 499, 499, 499, 200]


async def test_drop_on_the_async_clients(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(emulator_factory, tmp_path, DROP)
    client = async_openai_client(emulator)
    with pytest.raises(openai.APIConnectionError):
        await client.chat.completions.create(model=MODEL, messages=user("drop"))
    await client.close()
    claude = async_anthropic_client(emulator)
    with pytest.raises(anthropic.APIConnectionError):
        await claude.messages.create(model=MODEL, max_tokens=64, messages=user("drop"))
    await claude.close()


# ---- stall --------------------------------------------------------------------------------------


def test_stall_until_the_client_gives_up(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(
        emulator_factory, tmp_path, "- {name: hang, match: {last_user: hang}, fault: {stall: true}}"
    )
    outcome: dict[str, Any] = {}

    def stalled() -> None:
        client = openai.OpenAI(**emulator.openai_kwargs(max_retries=0, timeout=1.0))
        started = time.perf_counter()
        try:
            client.chat.completions.create(model=MODEL, messages=user("hang"))
        except Exception as error:
            outcome["error"] = error
        outcome["elapsed"] = time.perf_counter() - started

    thread = threading.Thread(target=stalled)
    thread.start()
    time.sleep(0.1)
    # Meanwhile the server answers others at once.
    started = time.perf_counter()
    reply = openai_client(emulator).chat.completions.create(
        model=MODEL, messages=user("hello"), extra_body=NO_THINKING
    )
    assert reply.choices[0].message.content
    assert time.perf_counter() - started < 0.5
    assert "error" not in outcome  # still stalled
    thread.join(5)
    assert isinstance(outcome["error"], openai.APITimeoutError), outcome
    assert 1.0 <= outcome["elapsed"] < 3
    admin = Admin(emulator)
    deadline = time.monotonic() + 2
    while len(admin.journal()) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    entries = admin.journal()
    assert [(e["status"], e["rule"]) for e in entries] == [(200, None), (499, "hang")]
    assert entries[1]["error"] == "fault:stall" and entries[1]["cost"] == "0"


def test_a_stall_does_not_hold_up_shutdown(tmp_path: Path) -> None:
    path = tmp_path / "stall.yaml"
    path.write_text("f:\n  rules:\n    - {fault: {stall: true}}\n", "utf-8")
    emulator = start_emulator(load_scenario("f", path))
    host, port = emulator.url.removeprefix("http://").split(":")
    payload = json.dumps(chat_body("hi", stream=False)).encode()
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /compatible-mode/v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {emulator.api_key}\r\n".encode()
            + f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        time.sleep(0.1)  # the request is in, and stalled; the client never gives up
        started = time.perf_counter()
        emulator.stop()
        assert time.perf_counter() - started < 2
        assert sock.recv(100) == b""  # let go with no answer


async def test_stall_on_the_async_client(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(emulator_factory, tmp_path, "- {name: hang, fault: {stall: true}}")
    claude = anthropic.AsyncAnthropic(**emulator.anthropic_kwargs(max_retries=0, timeout=0.3))
    with pytest.raises(anthropic.APITimeoutError):
        await claude.messages.create(model=MODEL, max_tokens=64, messages=user("x"))
    await claude.close()
    for _ in range(100):
        if Admin(emulator).journal():
            break
        await asyncio.sleep(0.02)
    assert journal_entry(emulator)["error"] == "fault:stall"


# ---- cut, error and malformed frames mid-stream ------------------------------------------------

STREAM_RULES = f"""
- {{name: cut, match: {{last_user: cut}}, fault: {{cut_after: 3}}, reply: {{text: "{SCRIPT}"}}}}
- name: late
  match: {{last_user: late}}
  fault: {{cut_after: 1000}}
  reply: {{text: "{SCRIPT}"}}
- name: broken
  match: {{last_user: broken}}
  error: {{kind: input_too_long, limit: 1000}}
  fault: {{error_after: 2}}
- name: mangled
  match: {{last_user: mangled}}
  fault: {{malformed_after: 2}}
  reply: {{text: "{SCRIPT}"}}
"""
TOO_LONG = "<400> InternalError.Algo.InvalidParameter: Range of input length should be [1, 1000]"


@pytest.fixture
def streams(emulator_factory: Factory, tmp_path: Path) -> RunningEmulator:
    return serve(emulator_factory, tmp_path, STREAM_RULES)


def test_cut_after_n_frames_on_the_wire(streams: RunningEmulator) -> None:
    whole = raw_post(streams, CHAT, chat_body("whole"))
    assert whole.complete and whole.frames[-1] == b"data: [DONE]"

    cut = raw_post(streams, CHAT, chat_body("cut"))
    assert cut.status == 200
    assert not cut.complete  # no terminating chunk
    assert len(cut.frames) == 3
    assert all(frame.startswith(b"data: {") for frame in cut.frames)
    assert b"[DONE]" not in cut.body and b'"finish_reason":"stop"' not in cut.body
    entry = journal_entry(streams)
    assert (entry["status"], entry["error"], entry["rule"]) == (200, "fault:cut", "cut")
    assert float(entry["cost"]) > 0  # settled before the first byte

    late = raw_post(streams, CHAT, chat_body("late"))  # past the end: the whole stream
    assert late.complete and late.frames[-1] == b"data: [DONE]"

    cut = raw_post(streams, MESSAGES, messages_body("cut"))
    assert not cut.complete
    assert [f.split(b"\n")[0] for f in cut.frames] == [
        b"event: message_start",
        b"event: content_block_start",
        b"event: ping",
    ]


def test_cut_stream_raises_in_the_sdks(streams: RunningEmulator) -> None:
    received: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in openai_client(streams).chat.completions.create(
            model=MODEL, messages=user("cut"), stream=True, extra_body=NO_THINKING
        ):
            received.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    assert "".join(received) != SCRIPT and SCRIPT.startswith("".join(received))
    # The Anthropic SDK lets the transport's error through while iterating a stream.
    with (
        pytest.raises(Exception) as caught,
        anthropic_client(streams).messages.stream(
            model=MODEL, max_tokens=256, messages=user("cut")
        ) as stream,
    ):
        stream.get_final_message()
    assert type(caught.value).__name__ in ("RemoteProtocolError", "APIConnectionError")


async def test_cut_stream_on_the_async_openai_client(streams: RunningEmulator) -> None:
    client = async_openai_client(streams)
    with pytest.raises(openai.APIConnectionError):
        stream = await client.chat.completions.create(
            model=MODEL, messages=user("cut"), stream=True
        )
        async for _ in stream:
            pass
    await client.close()


def test_error_frame_mid_stream_on_the_wire(streams: RunningEmulator) -> None:
    raw = raw_post(streams, CHAT, chat_body("broken"))
    assert raw.status == 200 and raw.complete
    frames = raw.frames
    assert len(frames) == 3
    assert all(f.startswith(b"data: {") for f in frames)
    error = json.loads(frames[2].removeprefix(b"data: "))
    assert error["error"]["message"] == TOO_LONG
    assert error["error"]["code"] == "invalid_parameter_error"
    assert b"[DONE]" not in raw.body
    entry = journal_entry(streams)
    assert (entry["status"], entry["error"], entry["rule"]) == (200, "input_too_long", "broken")

    raw = raw_post(streams, MESSAGES, messages_body("broken"))
    assert raw.status == 200 and raw.complete
    assert len(raw.frames) == 3
    event, data = raw.frames[2].split(b"\n")
    assert event == b"event: error"
    body = json.loads(data.removeprefix(b"data: "))
    assert body["type"] == "error"
    assert body["error"] == {"type": "invalid_request_error", "message": TOO_LONG}

    # Not streaming: the rule's error is the whole answer.
    raw = raw_post(streams, CHAT, chat_body("broken", stream=False))
    assert raw.status == 400
    assert json.loads(raw.body)["error"]["message"] == TOO_LONG


def test_error_frame_raises_in_the_sdks(streams: RunningEmulator) -> None:
    with pytest.raises(openai.APIError) as caught:
        list(
            openai_client(streams).chat.completions.create(
                model=MODEL, messages=user("broken"), stream=True
            )
        )
    assert caught.value.message == TOO_LONG
    with (
        pytest.raises(anthropic.APIStatusError) as refused,
        anthropic_client(streams).messages.stream(
            model=MODEL, max_tokens=256, messages=user("broken")
        ) as stream,
    ):
        stream.get_final_message()
    assert TOO_LONG in str(refused.value)


async def test_error_frame_on_the_async_anthropic_client(streams: RunningEmulator) -> None:
    claude = async_anthropic_client(streams)
    with pytest.raises(anthropic.APIStatusError):
        async with claude.messages.stream(
            model=MODEL, max_tokens=256, messages=user("broken")
        ) as stream:
            async for _ in stream:
                pass
    await claude.close()


def test_malformed_frame(streams: RunningEmulator) -> None:
    raw = raw_post(streams, CHAT, chat_body("mangled"))
    assert raw.status == 200 and raw.complete
    frames = raw.frames
    assert all(f.startswith(b"data: {") for f in frames[:2])
    with pytest.raises(ValueError):
        json.loads(frames[2].removeprefix(b"data: "))
    parsed = [json.loads(f.removeprefix(b"data: ")) for f in frames[:2] + frames[3:-1]]
    assert parsed and frames[-1] == b"data: [DONE]"

    raw = raw_post(streams, MESSAGES, messages_body("mangled"))
    event, data = raw.frames[2].split(b"\n")
    assert event == b"event: content_block_delta"
    with pytest.raises(ValueError):
        json.loads(data.removeprefix(b"data: "))

    with pytest.raises(ValueError):  # json.JSONDecodeError, from inside the SDK
        list(
            openai_client(streams).chat.completions.create(
                model=MODEL, messages=user("mangled"), stream=True
            )
        )
    with (
        pytest.raises(ValueError),
        anthropic_client(streams).messages.stream(
            model=MODEL, max_tokens=256, messages=user("mangled")
        ) as stream,
    ):
        stream.get_final_message()


# ---- raw gateway statuses and 5xx bursts -------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (502, "Bad Gateway"),
        (
            503,
            "upstream connect error or disconnect/reset before headers. "
            "reset reason: connection termination",
        ),
    ],
)
def test_gateway_status(emulator_factory: Factory, tmp_path: Path, status: int, text: str) -> None:
    emulator = serve(emulator_factory, tmp_path, f"- {{name: proxy, fault: {{status: {status}}}}}")
    raw = raw_post(emulator, CHAT, chat_body("hi", stream=False))
    assert raw.status == status
    assert raw.headers["content-type"].startswith("text/plain")
    assert raw.headers["server"] == "istio-envoy"
    assert raw.body.decode() == text
    assert raw.headers["date"] == "Fri, 01 May 2026 00:00:00 GMT"  # the emulator's clock
    entry = journal_entry(emulator)
    assert (entry["status"], entry["error"], entry["cost"]) == (
        status,
        f"fault:status {status}",
        "0",
    )

    with pytest.raises(openai.InternalServerError) as caught:
        openai_client(emulator).chat.completions.create(model=MODEL, messages=user("hi"))
    assert caught.value.status_code == status
    assert caught.value.code is None
    with pytest.raises(anthropic.InternalServerError) as refused:
        anthropic_client(emulator).messages.create(model=MODEL, max_tokens=64, messages=user("hi"))
    assert refused.value.status_code == status


def test_a_5xx_burst_then_success(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(emulator_factory, tmp_path, "- {name: burst, times: 3, error: internal_error}")
    statuses = []
    for _ in range(3):
        raw = raw_post(emulator, CHAT, chat_body("hi", stream=False))
        statuses.append(raw.status)
        envelope = json.loads(raw.body)
        assert envelope["error"]["code"] == "internal_error"
        assert envelope["request_id"] == raw.headers["x-request-id"]
    assert statuses == [500, 500, 500]
    assert raw_post(emulator, CHAT, chat_body("hi", stream=False)).status == 200
    assert raw_post(emulator, CHAT, chat_body("hi", stream=False)).status == 200


def test_the_openai_sdk_retries_through_a_burst(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(emulator_factory, tmp_path, "- {name: burst, times: 2, error: internal_error}")
    client = openai.OpenAI(**emulator.openai_kwargs(max_retries=3))
    reply = client.chat.completions.create(model=MODEL, messages=user("hi"), extra_body=NO_THINKING)
    assert reply.choices[0].message.content
    journal = Admin(emulator).journal()
    assert [e["status"] for e in journal] == [500, 500, 200]
    assert [e["rule"] for e in journal] == ["burst", "burst", None]
    assert journal[0]["cost"] == "0" and float(journal[2]["cost"]) > 0
