"""How a whole answer is framed on the wire (emulator/web.py's `Answer`): the usual HTTP/1.1
keep-alive answer has its head written straight from DashScope's headers, and every other case
(HTTP/1.0, a closing connection, HEAD, pipelined requests) still gets what HTTP says it must.

Over a raw socket, since the bytes of the head are the point."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import cast

import pytest
from aiohttp.http_writer import _serialize_headers
from multidict import CIMultiDict

from emulator.config import Config
from emulator.harness import RunningEmulator, start_emulator
from emulator.web import GatewayHead
from tests.conftest import FROZEN_AT
from tests.raw_http import DASHSCOPE_HEADERS

CHAT = "/compatible-mode/v1/chat/completions"
BODY = json.dumps(
    {"model": "qwen3.6-plus", "messages": [{"role": "user", "content": "Say hi."}]}
).encode()
# DashScope's headers in the order the gateway sends them, the length last.
HEAD_ORDER = [*DASHSCOPE_HEADERS, "Content-Length"]


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    running = start_emulator(Config(clock=FROZEN_AT))
    yield running
    running.stop()


def _connect(emulator: RunningEmulator) -> socket.socket:
    port = int(emulator.url.rsplit(":", 1)[1])
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def _request(
    emulator: RunningEmulator,
    method: str = "POST",
    path: str = CHAT,
    version: str = "1.1",
    **extra: str,
) -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: 127.0.0.1"]
    if method == "POST":
        lines += [
            f"Authorization: Bearer {emulator.api_key}",
            "Content-Type: application/json",
            f"Content-Length: {len(BODY)}",
        ]
    else:
        lines.append(f"Authorization: Bearer {emulator.api_key}")
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in extra.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (BODY if method == "POST" else b"")


def _read(
    sock: socket.socket, buffered: bytearray, body: bool = True
) -> tuple[str, list[tuple[str, str]], bytes]:
    """One answer off `sock`: its status line, its headers in order and its body (`buffered`
    keeps what arrived after it, for the next answer on the connection)."""
    while b"\r\n\r\n" not in buffered:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a whole head: {bytes(buffered)!r}"
        buffered += chunk
    top, _, rest = bytes(buffered).partition(b"\r\n\r\n")
    status, *lines = top.decode("latin-1").split("\r\n")
    headers = [(name, value) for name, value in (line.split(": ", 1) for line in lines)]
    length = int(dict((n.lower(), v) for n, v in headers)["content-length"]) if body else 0
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed mid-body"
        rest += chunk
    buffered[:] = rest[length:]
    return status, headers, rest[:length]


def _closed(sock: socket.socket) -> bool:
    sock.settimeout(5)
    return sock.recv(1) == b""


def test_a_keep_alive_answer_has_dashscopes_head_in_order_and_the_connection_stays(
    emulator: RunningEmulator,
) -> None:
    with _connect(emulator) as sock:
        buffered = bytearray()
        sock.sendall(_request(emulator))
        status, headers, body = _read(sock, buffered)
        assert status == "HTTP/1.1 200 OK"
        assert [name for name, _ in headers] == HEAD_ORDER
        values = dict(headers)
        assert values["Content-Type"] == "application/json"
        assert values["Server"] == "istio-envoy"
        assert values["Date"] == "Fri, 01 May 2026 00:00:00 GMT"
        assert int(values["Content-Length"]) == len(body)
        assert json.loads(body)["object"] == "chat.completion"
        assert values["x-request-id"] == json.loads(body)["id"].removeprefix("chatcmpl-")
        # The same connection answers the next request: nothing of the first is left over.
        sock.sendall(_request(emulator))
        status, again, second = _read(sock, buffered)
        assert status == "HTTP/1.1 200 OK" and [n for n, _ in again] == HEAD_ORDER
        assert json.loads(second)["object"] == "chat.completion"
        assert buffered == b""


@pytest.mark.parametrize(
    ("version", "extra", "status", "names"),
    [
        ("1.1", {"Connection": "close"}, "HTTP/1.1 200 OK", [*HEAD_ORDER, "Connection"]),
        ("1.0", {}, "HTTP/1.0 200 OK", HEAD_ORDER),
    ],
    ids=["http-1.1-connection-close", "http-1.0"],
)
def test_a_connection_not_kept_gets_its_answer_then_a_close(
    emulator: RunningEmulator, version: str, extra: dict[str, str], status: str, names: list[str]
) -> None:
    with _connect(emulator) as sock:
        sock.sendall(_request(emulator, version=version, **extra))
        got, headers, body = _read(sock, bytearray())
        assert got == status
        assert [name for name, _ in headers] == names
        assert dict(headers).get("Connection") == extra.get("Connection")
        assert json.loads(body)["object"] == "chat.completion"
        assert _closed(sock)


def test_http_1_0_keep_alive_is_kept_and_said(emulator: RunningEmulator) -> None:
    with _connect(emulator) as sock:
        buffered = bytearray()
        sock.sendall(_request(emulator, version="1.0", Connection="keep-alive"))
        status, headers, _ = _read(sock, buffered)
        assert status == "HTTP/1.0 200 OK"
        assert dict(headers)["Connection"] == "keep-alive"
        sock.sendall(_request(emulator, version="1.0", Connection="keep-alive"))
        assert _read(sock, buffered)[0] == "HTTP/1.0 200 OK"


def test_head_gets_the_gets_head_and_no_body(emulator: RunningEmulator) -> None:
    with _connect(emulator) as sock:
        buffered = bytearray()
        sock.sendall(_request(emulator, "GET", "/compatible-mode/v1/models"))
        _, got, listing = _read(sock, buffered)
        sock.sendall(_request(emulator, "HEAD", "/compatible-mode/v1/models"))
        status, headers, _ = _read(sock, buffered, body=False)
        assert status == "HTTP/1.1 200 OK"
        assert [n for n, _ in headers] == [n for n, _ in got]
        assert int(dict(headers)["Content-Length"]) == len(listing) > 0
        # No body followed the HEAD's head: the next answer starts right after it.
        sock.sendall(_request(emulator))
        status, _, body = _read(sock, buffered)
        assert status == "HTTP/1.1 200 OK" and json.loads(body)["object"] == "chat.completion"


def test_pipelined_requests_are_answered_in_order(emulator: RunningEmulator) -> None:
    with _connect(emulator) as sock:
        buffered = bytearray()
        sock.sendall(_request(emulator) + _request(emulator, "GET", "/compatible-mode/v1/models"))
        first = _read(sock, buffered)
        second = _read(sock, buffered)
        assert json.loads(first[2])["object"] == "chat.completion"
        assert json.loads(second[2])["object"] == "list"


def test_an_error_answer_is_framed_the_same(emulator: RunningEmulator) -> None:
    with _connect(emulator) as sock:
        sock.sendall(_request(emulator).replace(emulator.api_key.encode(), b"sk-sp-" + b"0" * 32))
        status, headers, body = _read(sock, bytearray())
        assert status == "HTTP/1.1 401 Unauthorized"
        assert [name for name, _ in headers] == HEAD_ORDER
        assert json.loads(body)["code"] == "InvalidApiKey"  # the gateway's flat body


def _chunked_body(sock: socket.socket, buffered: bytearray) -> bytes:
    """A chunked body off `sock`, to its last (empty) chunk."""
    body = b""
    while True:
        while b"\r\n" not in buffered:
            chunk = sock.recv(65536)
            assert chunk, "closed mid-stream"
            buffered += chunk
        size_line, _, _ = bytes(buffered).partition(b"\r\n")
        size = int(size_line, 16)
        while len(buffered) < len(size_line) + 2 + size + 2:
            chunk = sock.recv(65536)
            assert chunk, "closed mid-chunk"
            buffered += chunk
        start = len(size_line) + 2
        body += bytes(buffered[start : start + size])
        del buffered[: start + size + 2]
        if size == 0:
            return body


def test_a_stream_has_the_same_head_with_chunked_framing_last(emulator: RunningEmulator) -> None:
    streamed = json.dumps(
        {"model": "qwen3.6-plus", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    ).encode()
    for version, extra, last in (
        ("1.1", {}, ["Transfer-Encoding"]),
        ("1.1", {"Connection": "close"}, ["Transfer-Encoding", "Connection"]),
    ):
        with _connect(emulator) as sock:
            buffered = bytearray()
            raw = _request(emulator, version=version, **extra).replace(BODY, streamed)
            raw = raw.replace(
                f"Content-Length: {len(BODY)}".encode(), f"Content-Length: {len(streamed)}".encode()
            )
            sock.sendall(raw)
            status, headers, _ = _read(sock, buffered, body=False)
            assert status == "HTTP/1.1 200 OK"
            assert [name for name, _ in headers] == [*HEAD_ORDER[:-1], *last]
            assert dict(headers)["Content-Type"] == "text/event-stream;charset=UTF-8"
            assert dict(headers)["Transfer-Encoding"] == "chunked"
            events = _chunked_body(sock, buffered)
            assert events.startswith(b"data: {") and events.endswith(b"data: [DONE]\n\n")
            if extra:
                assert _closed(sock)


@pytest.mark.parametrize(
    ("status_line", "framing"),
    [
        ("HTTP/1.1 200 OK", "Content-Length: 812"),
        ("HTTP/1.1 429 Too Many Requests", "Content-Length: 0"),
        ("HTTP/1.1 200 OK", "Transfer-Encoding: chunked"),
    ],
)
def test_a_heads_bytes_rendered_directly_are_aiohttps_serialisers(
    status_line: str, framing: str
) -> None:
    # The usual whole answer renders its head without the mapping aiohttp's serialiser walks:
    # the same bytes for any instants, including one a hair before the next second (where
    # the Date is no longer the remembered second's) and a request answered in the second it
    # arrived or seconds later.
    name, _, value = framing.partition(": ")
    for arrived, now in (
        (1_777_593_600.0, 1_777_593_600.0),
        (1_777_593_600.25, 1_777_593_600.2617),
        (1_777_593_600.9, 1_777_593_603.9999996),
        (0.0, 59.5),
    ):
        head = GatewayHead("application/json", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", arrived, now)
        fields = head.fields()
        fields[name] = value
        assert head.render(status_line, framing) == _serialize_headers(
            status_line, cast("CIMultiDict[str]", fields)
        )
