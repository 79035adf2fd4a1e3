"""HTTP plumbing shared by every route: the request's typed keys and DashScope's response
headers, on the emulator's clock."""

from __future__ import annotations

import functools
from email.utils import formatdate
from typing import Any, cast

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http import HttpVersion11
from aiohttp.http_writer import _serialize_headers  # (the C serialiser of aiohttp's writer)
from multidict import CIMultiDict

from emulator.call import CALL
from emulator.outbox import WholeAnswers
from emulator.plan.accounts import Caller
from emulator.protocols.fields import compact

REQUEST_ID = web.RequestKey("request_id", str)
ARRIVED = web.RequestKey("arrived", float)  # clock time the request arrived
CALLER = web.RequestKey("caller", Caller)


def http_date(now: float) -> str:
    """`now` as an HTTP date (what `formatdate(now, usegmt=True)` gives), remembered for the
    second it falls in: most answers of a busy second share it."""
    second = int(now)
    # Within half a microsecond of the next second, datetime's rounding may carry into it.
    if now - second >= 0.9999995:
        return formatdate(now, usegmt=True)
    return _date_of_second(second)


@functools.lru_cache(maxsize=8)
def _date_of_second(second: int) -> str:
    return formatdate(second, usegmt=True)


def headers(request: web.Request, content_type: str) -> dict[str, str]:
    """The headers DashScope's gateway sends (docs/sources.md), timed by the emulator's clock,
    for a call the gateway admitted (its record read once: the request's own mapping and its
    `app` cost a Python call each)."""
    call = request[CALL]
    now = call.runtime.clock.now()
    arrived = call.arrived
    return {
        "Content-Type": content_type,
        "x-request-id": call.request_id,
        "vary": "Origin",
        "x-dashscope-call-gateway": "true",
        "req-arrive-time": str(int(arrived * 1000)),
        "resp-start-time": str(int(now * 1000)),
        "req-cost-time": str(int((now - arrived) * 1000)),
        "Server": "istio-envoy",
        "Date": http_date(now),
    }


def json_response(request: web.Request, body: Any, status: int = 200) -> Answer:
    return rendered_response(request, compact(body), status)


def rendered_response(request: web.Request, text: str, status: int = 200) -> Answer:
    """A JSON answer already written as text."""
    return Answer(text.encode(), headers(request, "application/json"), status)


class DirectHead(web.StreamResponse):
    """A stream whose head is DashScope's headers (`headers`), written straight from their
    dict in the usual case.

    aiohttp copies a response's headers into a case-insensitive multidict and looks a dozen of
    them up again before it writes them. The usual answer (HTTP/1.1, the connection kept, not
    HEAD, no response-prepare signal) needs none of that: its head is serialised from the dict,
    the same bytes in the same order, the framing header last (Transfer-Encoding, or
    Content-Length for a whole answer), as aiohttp appends it. Every other case takes
    aiohttp's own path, which adds what HTTP/1.0, a closing connection or HEAD need."""

    def __init__(self, head: dict[str, str], status: int = 200) -> None:
        super().__init__(status=status)
        self._head = head

    def _usual(self, request: web.BaseRequest) -> bool:
        return (
            request.keep_alive
            and request.version == HttpVersion11
            and request.method != "HEAD"
            and self.status not in (204, 304)
            and isinstance(request, web.Request)
            and not request.app.on_response_prepare  # (the emulator registers none)
        )

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        if self.prepared:
            return await super().prepare(request)
        head = self._head
        self.enable_chunked_encoding()
        if not self._usual(request):
            self.headers.update(head)
            return await super().prepare(request)
        writer = self._payload_writer = request._payload_writer
        self._req, self._keep_alive = request, True
        writer.enable_chunking()
        head["Transfer-Encoding"] = "chunked"
        # (aiohttp's serialiser reads any mapping; it refuses a control character in a value)
        await writer.write_headers(self._status_line(), cast("CIMultiDict[str]", head))
        if self._send_headers_immediately:
            writer.send_headers()
        return writer

    def _status_line(self) -> str:
        return f"HTTP/1.1 {self.status} {self.reason}"


class Answer(DirectHead):
    """A whole answer. In the usual case its head and body go to the transport in one write
    when aiohttp prepares it, as aiohttp's writer would send them, without the writer's layers
    (its buffered head, its end-of-body path: about 1.8 % of a chat request); the emulator's
    server may hold that write for the next pass of the loop, to send it with the others
    (outbox.py)."""

    _send_headers_immediately = False  # (aiohttp's path too sends the head with the body)

    def __init__(self, body: bytes, head: dict[str, str], status: int = 200) -> None:
        super().__init__(head, status)
        self.body = body

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        if self.prepared:
            return await super().prepare(request)
        head, body = self._head, self.body
        if not self._usual(request):
            self.headers.update(head)
            self.content_length = len(body)
            return await web.StreamResponse.prepare(self, request)  # (DirectHead's would chunk)
        head["Content-Length"] = str(len(body))
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")  # (as aiohttp's)
        head_bytes = _serialize_headers(self._status_line(), cast("CIMultiDict[str]", head))
        protocol = request.protocol
        if isinstance(protocol, WholeAnswers):  # the emulator's server: now, or with the
            protocol.send_whole(head_bytes + body)  # others of this pass (outbox.py)
        else:
            transport.write(head_bytes + body)
        self._keep_alive, self._eof_sent, self._body_length = True, True, len(body)
        writer = request.writer
        await writer.drain()  # (a reader that stops reading holds the next answer back)
        return writer

    async def write_eof(self, data: bytes = b"") -> None:
        if self._eof_sent:  # (sent whole by prepare)
            return
        await super().write_eof(b"" if self._must_be_empty_body else self.body)
