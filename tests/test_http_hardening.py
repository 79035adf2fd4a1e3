"""The HTTP layer holds against bad input (issue 10, items 1, 5, 6, 10-13): bytes that are not
UTF-8, readers that hang up, encoded bodies and bombs, slow or half-sent requests, large bodies
on paths that do not need them, a health check that tells the truth, pictures for remote clients.

Framing is the point here, so most requests go over a raw socket; the deadlines are set small
(fractions of a second) so each test takes a second or two.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import gzip
import json
import logging
import socket
import sqlite3
import textwrap
import threading
import time
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest

from emulator.admin.guard import loopback as _loopback
from emulator.cli import _parser, config_from
from emulator.config import Config, HttpLimits, load_scenario
from emulator.harness import RunningEmulator
from emulator.journal import mask

Factory = Callable[..., RunningEmulator]
CLOCK = "2026-05-01T00:00:00Z"
CHAT = "/compatible-mode/v1/chat/completions"
MESSAGES = "/apps/anthropic/v1/messages"
MODEL = "qwen3.6-plus"
CHAT_BODY = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
FAST = HttpLimits(header_timeout=0.4, body_timeout=0.4, idle_timeout=0.6, max_body=64 * 1024)


# ---- raw HTTP -------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def connect(emulator: RunningEmulator, host: str | None = None) -> socket.socket:
    port = int(emulator.url.rsplit(":", 1)[1])
    return socket.create_connection((host or "127.0.0.1", port), timeout=5)


def head(path: str, emulator: RunningEmulator, method: str = "POST", **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_answer(sock: socket.socket) -> Answer:
    """One response with a Content-Length (every non-streamed answer here has one)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a whole response head: {data!r}"
        data += chunk
    top, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = top.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in header_lines)
    found = {name.lower(): value for name, value in fields.items()}
    length = int(found.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed mid-body"
        rest += chunk
    return Answer(int(status_line.split()[1]), found, rest[:length])


def exchange(emulator: RunningEmulator, raw: bytes) -> Answer:
    with connect(emulator) as sock:
        sock.sendall(raw)
        return read_answer(sock)


def closed_after(sock: socket.socket, limit: float = 5) -> tuple[float, bytes]:
    """Seconds until the server closed `sock`, and what it sent before."""
    started = time.perf_counter()
    sock.settimeout(limit)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return time.perf_counter() - started, data


def post(emulator: RunningEmulator, path: str, body: bytes, **headers: str) -> Answer:
    raw = head(path, emulator, Content_Length=str(len(body)), **headers) + body
    return exchange(emulator, raw)


def admin_get(emulator: RunningEmulator, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(emulator.url + path, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def admin_post(emulator: RunningEmulator, path: str) -> int:
    request = urllib.request.Request(emulator.url + path, data=b"{}", method="POST")
    request.add_header("Content-Type", "application/json")  # the admin API's writes are JSON
    with urllib.request.urlopen(request, timeout=5) as response:
        return int(response.status)


def auth(emulator: RunningEmulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {emulator.api_key}", "Content-Type": "application/json"}


@pytest.fixture
def emulator(emulator_factory: Factory) -> RunningEmulator:
    return emulator_factory(Config(clock=CLOCK, http=FAST))


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Client mistakes are logged as at most INFO/WARNING lines, never an ERROR or a traceback."""
    caplog.set_level(logging.DEBUG)
    yield caplog
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not loud, [(r.name, r.levelname, r.getMessage()) for r in loud]


# ---- 1. strings from a request are made safe before the journal, the page, the state file ---


def test_non_utf8_authorization_leaves_journal_page_and_state_working(
    emulator_factory: Factory, tmp_path: Path, no_tracebacks: pytest.LogCaptureFixture
) -> None:
    emulator = emulator_factory(Config(clock=CLOCK, state_file=str(tmp_path / "plan.db")))
    body = json.dumps(CHAT_BODY).encode()
    raw = (
        head(CHAT, emulator, Content_Length=str(len(body)), Content_Type="application/json")[:-2]
        + b"Authorization: Bearer sk-sp-\xff\xfe\xed\xa0\x80tail\r\n\r\n"
        + body
    )
    refused = exchange(emulator, raw)
    assert refused.status == 401
    assert refused.json()["message"] == "Invalid API-key provided."
    # A path that is not UTF-8 and a model that is a lone surrogate, 100,000 characters long.
    bad_path = exchange(emulator, head("/compatible-mode/v1/%ff%fe\xff/x", emulator, "GET"))
    assert bad_path.status in (400, 401, 404)
    long_model = ('{"model":"\\ud800' + "m" * 100_000 + '","messages":[]}').encode()
    assert post(emulator, CHAT, long_model, **auth(emulator)).status == 404

    status, journal = admin_get(emulator, "/_emulator/journal")
    assert status == 200
    keys = [e["key"] for e in journal["entries"] if e["key"]]
    assert "sk-sp-****" in keys  # a short key, not shown (and the bad bytes never stored)
    model = journal["entries"][0]["model"]
    assert model.startswith("\ufffdmmm") and model.endswith("…[truncated]") and len(model) < 600
    with urllib.request.urlopen(emulator.url + "/_emulator/", timeout=5) as page:
        assert page.status == 200
    # With --state every later call is still served (the entries were saved).
    client = openai.OpenAI(**emulator.openai_kwargs(max_retries=0))
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    entries = sqlite3.connect(tmp_path / "plan.db").execute("SELECT count(*) FROM journal")
    assert entries.fetchone()[0] == len(journal["entries"]) + 1


def test_mask_never_shows_a_whole_short_key() -> None:
    assert mask("sk-sp-" + "0123456789abcdef0123456789abcdef") == "sk-sp-****cdef"
    assert mask("sk-" + "f" * 32) == "sk-****ffff"
    for short in ("abc", "abcdefg", "sk-sp-abcd", "sk-12345678", "0123456789abcdef"):
        masked = mask(short)
        assert masked is not None and short not in masked and "****" in masked
    assert mask("sk-sp-\udcff\udcfe") == "sk-sp-****"
    assert mask("") is None and mask(None) is None


# ---- 5. a reader that stops, then hangs up ---------------------------------------------------


def test_reader_that_stops_then_hangs_up_is_journaled_as_a_200_it_got(
    emulator_factory: Factory, tmp_path: Path, no_tracebacks: pytest.LogCaptureFixture
) -> None:
    long_text = " ".join(f"word{i}" for i in range(60_000))  # ~600 KB of frames: fills buffers
    scenarios = tmp_path / "s.yaml"
    scenarios.write_text(
        textwrap.dedent(
            f"""\
            big:
              clock: {CLOCK}
              rules:
                - {{name: long, reply: {{text: "{long_text}"}}}}
            """
        ),
        "utf-8",
    )
    emulator = emulator_factory(load_scenario("big", scenarios))
    for hang_up in ("reset", "close"):
        body = json.dumps({**CHAT_BODY, "stream": True}).encode()
        sock = connect(emulator)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(head(CHAT, emulator, Content_Length=str(len(body)), **auth(emulator)) + body)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 OK")
        time.sleep(0.3)  # stop reading: the server's writes back up
        if hang_up == "reset":
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
        sock.close()
        deadline = time.monotonic() + 5
        while True:
            entry = admin_get(emulator, "/_emulator/journal?limit=1")[1]["entries"]
            if entry and entry[0]["error"] == "client_gone":
                break
            assert time.monotonic() < deadline, entry
            time.sleep(0.05)
        assert entry[0]["status"] == 200
        assert entry[0]["path"] == CHAT
        admin_post(emulator, "/_emulator/reset")


def test_a_client_gone_before_a_streams_first_byte_is_journaled_without_a_traceback(
    emulator_factory: Factory, tmp_path: Path, no_tracebacks: pytest.LogCaptureFixture
) -> None:
    """A client that resets its connection while a stream waits (here a rule's latency; under
    load, wrk stopping with requests in flight): no answer went out, so 499 and client_gone."""
    scenarios = tmp_path / "s.yaml"
    scenarios.write_text(
        f"slow:\n  clock: {CLOCK}\n  rules:\n    - {{name: slow, fault: {{latency: 0.3}}}}\n",
        "utf-8",
    )
    emulator = emulator_factory(load_scenario("slow", scenarios))
    body = json.dumps({**CHAT_BODY, "stream": True}).encode()
    with connect(emulator) as sock:
        sock.sendall(head(CHAT, emulator, Content_Length=str(len(body)), **auth(emulator)) + body)
        time.sleep(0.1)  # the request is in, its answer 0.2 s away
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    deadline = time.monotonic() + 5
    while not (entries := admin_get(emulator, "/_emulator/journal?limit=1")[1]["entries"]):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert (entries[0]["status"], entries[0]["error"]) == (499, "client_gone")
    assert entries[0]["rule"] == "slow"


# ---- 6. Content-Encoding --------------------------------------------------------------------


def test_gzip_header_on_a_plain_body_is_a_400_in_each_protocols_envelope(
    emulator: RunningEmulator, no_tracebacks: pytest.LogCaptureFixture
) -> None:
    body = json.dumps(CHAT_BODY).encode()
    for encoding in ("gzip", "deflate"):
        openai_answer = post(emulator, CHAT, body, Content_Encoding=encoding, **auth(emulator))
        assert openai_answer.status == 400
        assert openai_answer.json()["error"] == {
            "message": f"The request body is not valid {encoding} data "
            f"(Content-Encoding: {encoding}).",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_request_error",
        }
        claude = post(emulator, MESSAGES, body, Content_Encoding=encoding, **auth(emulator))
        assert claude.status == 400
        assert claude.json()["error"]["type"] == "invalid_request_error"
    unknown = post(emulator, CHAT, body, Content_Encoding="br", **auth(emulator))
    assert unknown.status == 415
    assert unknown.json()["error"]["message"] == (
        "Content-Encoding 'br' is not supported; send identity, gzip or deflate."
    )
    # Nothing was charged for any of them.
    seat = admin_get(emulator, "/_emulator/state")[1]["seats"][0]
    assert float(seat["used"]) == 0


def test_gzip_and_deflate_bodies_are_decoded(emulator: RunningEmulator) -> None:
    body = json.dumps(CHAT_BODY).encode()
    encoded = {
        "gzip": gzip.compress(body),
        "deflate": zlib.compress(body),  # RFC 9110's deflate: zlib-wrapped
    }
    raw_deflate = zlib.compressobj(wbits=-15)
    raw = raw_deflate.compress(body) + raw_deflate.flush()
    plain = post(emulator, CHAT, body, **auth(emulator)).json()
    for encoding, data in [*encoded.items(), ("deflate", raw)]:
        answer = post(emulator, CHAT, data, Content_Encoding=encoding, **auth(emulator))
        assert answer.status == 200, answer.body
        assert answer.json()["choices"] == plain["choices"]


def test_deflate_body_failing_after_its_first_chunk_is_answered(
    emulator: RunningEmulator, no_tracebacks: pytest.LogCaptureFixture
) -> None:
    good = zlib.compress(json.dumps(CHAT_BODY).encode() * 50)
    chunks = [good[:40], b"\x00garbage that is not deflate\xff" * 10]
    raw = head(
        CHAT, emulator, Transfer_Encoding="chunked", Content_Encoding="deflate", **auth(emulator)
    )
    with connect(emulator) as sock:
        sock.sendall(raw)
        for chunk in chunks:
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            time.sleep(0.05)
        sock.sendall(b"0\r\n\r\n")
        answer = read_answer(sock)
    assert answer.status == 400
    assert "not valid deflate data" in answer.json()["error"]["message"]


def test_a_zip_bomb_stops_at_the_limit_counted_after_decompression(
    emulator: RunningEmulator, no_tracebacks: pytest.LogCaptureFixture
) -> None:
    bomb = gzip.compress(b" " * (256 * 1024 * 1024), compresslevel=9)  # 256 MiB in ~250 KB
    started = time.perf_counter()
    answer = post(emulator, CHAT, bomb, Content_Encoding="gzip", **auth(emulator))
    assert answer.status == 413
    assert answer.json()["error"]["message"] == (
        f"The request body is larger than {FAST.max_body} bytes (after decompression)."
    )
    assert time.perf_counter() - started < 2


# ---- 10. timeouts and quiet logs ------------------------------------------------------------


def test_partial_headers_are_closed_after_the_header_timeout(
    emulator: RunningEmulator, no_tracebacks: pytest.LogCaptureFixture
) -> None:
    with connect(emulator) as sock:
        sock.sendall(b"POST /compatible-mode/v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        elapsed, data = closed_after(sock)
    assert FAST.header_timeout * 0.9 <= elapsed < FAST.header_timeout + 1.5
    assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert data.endswith(b"\r\n\r\nThe request headers did not arrive within the timeout.\n")
    assert b"\r\nContent-Length: 55\r\n" in data
    # Trickling a byte at a time does not extend it.
    with connect(emulator) as sock:
        started = time.perf_counter()
        with pytest.raises(OSError):
            for byte in b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
                sock.send(bytes([byte]))
                time.sleep(0.05)
        assert time.perf_counter() - started < FAST.header_timeout + 1.5


def test_the_header_deadline_holds_for_a_keep_alive_connections_next_request(
    emulator: RunningEmulator, no_tracebacks: pytest.LogCaptureFixture
) -> None:
    # The deadline is armed only when a segment leaves a head incomplete: a later request on
    # a kept-alive connection gets it as the first does.
    with connect(emulator) as sock:
        sock.sendall(head("/_emulator/health", emulator, "GET"))
        assert read_answer(sock).status == 200
        sock.sendall(b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\n")
        elapsed, data = closed_after(sock)
    assert FAST.header_timeout * 0.9 <= elapsed < FAST.header_timeout + 1.5
    assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n")


def test_a_head_completed_in_time_leaves_no_deadline_behind(emulator: RunningEmulator) -> None:
    # Half a head, the rest within the deadline: answered, and the connection then lives to
    # the idle deadline, not closed with a 408 at the header deadline of its first byte.
    with connect(emulator) as sock:
        whole = head("/_emulator/health", emulator, "GET")
        started = time.perf_counter()
        sock.sendall(whole[:20])
        time.sleep(FAST.header_timeout / 2)
        sock.sendall(whole[20:])
        assert read_answer(sock).status == 200
        _, data = closed_after(sock)
        elapsed = time.perf_counter() - started
    assert data == b""
    assert elapsed >= FAST.header_timeout / 2 + FAST.idle_timeout * 0.9


def test_a_slow_body_is_refused_after_the_body_timeout(
    emulator: RunningEmulator, no_tracebacks: pytest.LogCaptureFixture
) -> None:
    with connect(emulator) as sock:
        sock.sendall(head(CHAT, emulator, Content_Length="100", **auth(emulator)) + b'{"mo')
        started = time.perf_counter()
        answer = read_answer(sock)
        elapsed = time.perf_counter() - started
    assert FAST.body_timeout * 0.9 <= elapsed < FAST.body_timeout + 1.5
    assert answer.status == 408
    assert answer.json()["error"]["message"] == (
        f"The request body did not arrive within {FAST.body_timeout:g} seconds."
    )


def test_idle_keep_alive_and_silent_connections_are_closed(emulator: RunningEmulator) -> None:
    with connect(emulator) as sock:
        sock.sendall(head("/_emulator/health", emulator, "GET"))
        assert read_answer(sock).status == 200
        elapsed, data = closed_after(sock)
    assert data == b""
    assert FAST.idle_timeout * 0.9 <= elapsed < FAST.idle_timeout + 1.5
    with connect(emulator) as sock:  # a connection that never sends a byte
        elapsed, _ = closed_after(sock)
    assert elapsed < FAST.idle_timeout + 1.5


def test_malformed_requests_and_mid_upload_hang_ups_log_no_traceback(
    emulator: RunningEmulator, no_tracebacks: pytest.LogCaptureFixture
) -> None:
    for garbage in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", b"\x16\x03\x01"):
        with connect(emulator) as sock:
            sock.sendall(b"GET /_emulator/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert read_answer(sock).status == 200
            sock.sendall(garbage)  # after a request, so aiohttp does not treat it as a probe
            _, data = closed_after(sock)
        assert data == b"" or data.startswith((b"HTTP/1.0 400", b"HTTP/1.1 400")), data
    with connect(emulator) as sock:  # hangs up half way through its body
        sock.sendall(head(CHAT, emulator, Content_Length="1000", **auth(emulator)) + b'{"m')
        time.sleep(0.1)
    time.sleep(0.2)
    newest = admin_get(emulator, "/_emulator/journal?limit=1")[1]["entries"][0]
    assert (newest["status"], newest["error"]) == (499, "client_gone")


def test_timeout_flags() -> None:
    args = _parser().parse_args(
        ["serve", "--header-timeout", "2", "--body-timeout", "30", "--idle-timeout", "5"]
    )
    assert config_from(args).http == HttpLimits(2, 30, 5)
    assert config_from(_parser().parse_args([])).http == HttpLimits()
    for bad in ("0", "-1", "nan", "inf", "soon"):
        with pytest.raises(SystemExit):
            _parser().parse_args(["--idle-timeout", bad])


# ---- 11. bodies read only where needed, the limit enforced while reading ---------------------


def test_unrouted_and_admin_paths_answer_without_reading_the_body(
    emulator: RunningEmulator,
) -> None:
    huge = str(512 * 1024 * 1024)  # declared, never sent
    for path, method, status in (
        ("/nowhere", "POST", 404),
        ("/compatible-mode/v1/nowhere", "POST", 400),  # the gateway's url error
        ("/_emulator/health", "GET", 200),
        (CHAT, "GET", 405),
    ):
        with connect(emulator) as sock:
            started = time.perf_counter()
            sent = head(path, emulator, method, Content_Length=huge, **auth(emulator))
            sock.sendall(sent + b"x" * 1000)
            answer = read_answer(sock)
            assert answer.status == status, (path, answer)
            assert time.perf_counter() - started < 0.3


def test_a_client_gone_while_its_unread_body_lingers_leaves_no_connection_behind(
    emulator: RunningEmulator,
) -> None:
    """Answered before its body was read (a 404), a connection waits for the rest of the body
    (aiohttp's lingering close, up to 10 s); once the client hangs up, it ends at once."""
    connections = lambda _runtime: len(asyncio.all_tasks())  # noqa: E731 (on the server's loop)
    before = emulator.run(connections)
    with connect(emulator) as sock:
        sock.sendall(head("/nowhere", emulator, Content_Length=str(2**20)) + b"x" * 1000)
        assert read_answer(sock).status == 404
        assert emulator.run(connections) == before + 1  # still reading what will never come
    deadline = time.monotonic() + 2
    while emulator.run(connections) > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert emulator.run(connections) == before


def test_expect_100_continue_is_answered_before_the_body_is_sent(
    emulator: RunningEmulator,
) -> None:
    """curl sends `Expect: 100-continue` before a large body and waits for the go-ahead."""
    body = json.dumps(CHAT_BODY).encode()
    expecting = head(
        CHAT, emulator, Content_Length=str(len(body)), Expect="100-continue", **auth(emulator)
    )
    with connect(emulator) as sock:
        sock.sendall(expecting)
        assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        answer = read_answer(sock)
    assert answer.status == 200
    assert answer.json()["object"] == "chat.completion"


def test_body_limit_is_enforced_while_reading(
    emulator: RunningEmulator, no_tracebacks: pytest.LogCaptureFixture
) -> None:
    # Declared too large: refused at once, in the protocol's envelope.
    too_big = str(FAST.max_body + 1)
    with connect(emulator) as sock:
        sock.sendall(head(CHAT, emulator, Content_Length=too_big, **auth(emulator)))
        answer = read_answer(sock)
    assert answer.status == 413
    assert answer.json()["error"]["code"] == "request_too_large"
    # Chunked, no length: refused as soon as the limit is passed, not after the whole body.
    with connect(emulator) as sock:
        sock.sendall(head(MESSAGES, emulator, Transfer_Encoding="chunked", **auth(emulator)))
        chunk = b"a" * 16384
        sent = 0
        sock.settimeout(0.05)
        answer_head = b""
        while not answer_head and sent < 100 * FAST.max_body:
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sent += len(chunk)
            with contextlib.suppress(TimeoutError):
                answer_head = sock.recv(65536)
    assert answer_head.startswith(b"HTTP/1.1 413")
    assert b'"type":"request_too_large"' in answer_head
    assert sent < 4 * FAST.max_body


def _rss_mib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 // 2**20


def test_large_bodies_leave_no_memory_held(emulator_factory: Factory) -> None:
    """Four 48 MiB bodies at once, read and refused (not JSON): the memory goes back."""
    emulator = emulator_factory(Config(clock=CLOCK))
    size, piece = 48 * 2**20, b"x" * 2**20
    before = _rss_mib()

    def upload(answers: list[int]) -> None:
        with connect(emulator) as sock:
            sock.sendall(head(CHAT, emulator, Content_Length=str(size), **auth(emulator)))
            for _ in range(size // len(piece)):
                sock.sendall(piece)
            answers.append(read_answer(sock).status)

    answers: list[int] = []
    uploads = [threading.Thread(target=upload, args=(answers,)) for _ in range(4)]
    for thread in uploads:
        thread.start()
    for thread in uploads:
        thread.join(30)
    assert answers == [400] * 4
    time.sleep(0.5)  # the connections' handlers finish
    gc.collect()
    assert _rss_mib() - before < 64, (before, _rss_mib())


def test_request_ids_stay_deterministic(emulator: RunningEmulator) -> None:
    body = json.dumps(CHAT_BODY).encode()
    first = post(emulator, CHAT, body, **auth(emulator)).headers["x-request-id"]
    admin_post(emulator, "/_emulator/reset")
    second = post(emulator, CHAT, body, **auth(emulator)).headers["x-request-id"]
    assert first == second
    other = post(emulator, CHAT, body.replace(b"hi", b"ho"), **auth(emulator))
    assert other.headers["x-request-id"] != first


# ---- 12. health tells the truth -------------------------------------------------------------


def test_health_is_degraded_when_the_state_file_cannot_be_written(
    emulator_factory: Factory, tmp_path: Path
) -> None:
    path = tmp_path / "plan.db"
    emulator = emulator_factory(Config(clock=CLOCK, state_file=str(path)))
    assert admin_get(emulator, "/_emulator/health") == (
        200,
        {"status": "ok", "scenario": "default"},
    )
    client = openai.OpenAI(**emulator.openai_kwargs(max_retries=0))
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    other = sqlite3.connect(path, isolation_level=None, timeout=0)  # another writer holds it
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(**chat)  # waits out SQLite's busy timeout (5 s)
    status, health = admin_get(emulator, "/_emulator/health")
    assert status == 503 and health["status"] == "degraded"
    assert health["reasons"] == ["the last API call failed: OperationalError: database is locked"]
    other.execute("ROLLBACK")
    client.chat.completions.create(**chat)
    assert admin_get(emulator, "/_emulator/health")[0] == 200
    path.unlink()
    status, health = admin_get(emulator, "/_emulator/health")
    assert status == 503
    assert health["reasons"] == [f"the state file {path} no longer exists: nothing is being kept"]


def test_health_is_degraded_when_the_clock_breaks_the_plan(emulator: RunningEmulator) -> None:
    emulator.runtime.clock.set(253402300799.0)  # 9999-12-31T23:59:59Z: the term ends past 9999
    status, health = admin_get(emulator, "/_emulator/health")
    assert status == 503 and health["status"] == "degraded"
    assert health["reasons"][0].startswith("the plan cannot be read on its clock: ")


# ---- 13. pictures for remote clients; IPv4-mapped loopback -----------------------------------


def _outside_address() -> str:
    """An address of this machine that is not loopback (the interface a LAN client reaches)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the route
        return str(probe.getsockname()[0])
    finally:
        probe.close()


def test_picture_urls_serve_remote_clients_while_the_admin_api_does_not(
    emulator_factory: Factory,
) -> None:
    outside = _outside_address()
    assert not outside.startswith("127."), outside
    emulator = emulator_factory(Config(clock=CLOCK, host="0.0.0.0"))
    body = json.dumps(
        {
            "model": "qwen-image-2.0",
            "input": {"messages": [{"role": "user", "content": [{"text": "a red fox"}]}]},
            "parameters": {"size": "512*512"},
        }
    ).encode()
    url_path = "/api/v1/services/aigc/multimodal-generation/generation"
    with connect(emulator, outside) as sock:
        sock.sendall(head(url_path, emulator, Content_Length=str(len(body)), **auth(emulator)))
        sock.sendall(body)
        answer = read_answer(sock)
    assert answer.status == 200, answer.body
    image = answer.json()["output"]["choices"][0]["message"]["content"][0]["image"]
    picture = "/_emulator/files" + image.split("/_emulator/files", 1)[1]
    with connect(emulator, outside) as sock:
        sock.sendall(head(picture, emulator, "GET"))
        fetched = read_answer(sock)
    assert fetched.status == 200 and fetched.body.startswith(b"\x89PNG")
    with connect(emulator, outside) as sock:
        sock.sendall(head("/_emulator/state", emulator, "GET"))
        assert read_answer(sock).status == 403


def test_ipv4_mapped_loopback_is_loopback() -> None:
    assert _loopback("::ffff:127.0.0.1") and _loopback("127.0.0.1") and _loopback("::1")
    assert not _loopback("::ffff:192.0.2.2") and not _loopback("192.0.2.2")
    assert not _loopback(None) and not _loopback("not an address")
