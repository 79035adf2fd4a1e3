"""HTTP plumbing shared by every route: the request's typed keys and DashScope's response
headers, on the emulator's clock."""

from __future__ import annotations

import functools
from email.utils import formatdate
from typing import Any, NamedTuple, cast

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http import HttpVersion11
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


class GatewayHead(NamedTuple):
    """What DashScope's gateway headers (docs/sources.md) are made of, for one answer: a
    whole answer in the usual case writes them straight into its head's bytes (`render`),
    any other case takes them as a mapping (`fields`)."""

    content_type: str
    request_id: str
    arrived: float  # clock time the request arrived
    now: float  # clock time the answer starts

    @classmethod
    def of(cls, request: web.Request, content_type: str) -> GatewayHead:
        # (the call's record read once: the request's own mapping and its `app` cost a
        # Python call each)
        call = request[CALL]
        return cls(content_type, call.request_id, call.arrived, call.runtime.clock.now())

    def fields(self) -> dict[str, str]:
        arrived, now = self.arrived, self.now
        return {
            "Content-Type": self.content_type,
            "x-request-id": self.request_id,
            "vary": "Origin",
            "x-dashscope-call-gateway": "true",
            "req-arrive-time": str(int(arrived * 1000)),
            "resp-start-time": str(int(now * 1000)),
            "req-cost-time": str(int((now - arrived) * 1000)),
            "Server": "istio-envoy",
            "Date": http_date(now),
        }

    def render(self, status_line: str, framing: str) -> bytes:
        """The head's bytes: `status_line`, `fields()` and the framing header (`name: value`)
        as aiohttp's serialiser writes them, without building the mapping it walks
        (tests/test_answer_framing.py holds the two equal). No value can hold a line break:
        each is the emulator's own."""
        arrived, now = self.arrived, self.now
        return (
            f"{status_line}\r\nContent-Type: {self.content_type}\r\n"
            f"x-request-id: {self.request_id}\r\nvary: Origin\r\n"
            f"x-dashscope-call-gateway: true\r\nreq-arrive-time: {int(arrived * 1000)}\r\n"
            f"resp-start-time: {int(now * 1000)}\r\n"
            f"req-cost-time: {int((now - arrived) * 1000)}\r\nServer: istio-envoy\r\n"
            f"Date: {http_date(now)}\r\n{framing}\r\n\r\n"
        ).encode()


def json_response(request: web.Request, body: Any, status: int = 200) -> Answer:
    return rendered_response(request, compact(body), status)


def rendered_response(request: web.Request, text: str, status: int = 200) -> Answer:
    """A JSON answer already written as text."""
    return Answer(text.encode(), GatewayHead.of(request, "application/json"), status)


class DirectHead(web.StreamResponse):
    """A stream whose head is DashScope's headers (`GatewayHead`), written straight from
    their dict in the usual case.

    aiohttp copies a response's headers into a case-insensitive multidict and looks a dozen of
    them up again before it writes them. The usual answer (HTTP/1.1, the connection kept, not
    HEAD, no response-prepare signal) needs none of that: its head is serialised from the dict
    (a whole answer's rendered without one), the same bytes in the same order, the framing
    header last (Transfer-Encoding, or Content-Length for a whole answer), as aiohttp appends
    it. Every other case takes aiohttp's own path, which adds what HTTP/1.0, a closing
    connection or HEAD need."""

    def __init__(self, head: GatewayHead, status: int = 200) -> None:
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
        head = self._head.fields()
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

    def __init__(self, body: bytes, head: GatewayHead, status: int = 200) -> None:
        super().__init__(head, status)
        self.body = body

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        if self.prepared:
            return await super().prepare(request)
        body = self.body
        if not self._usual(request):
            self.headers.update(self._head.fields())
            self.content_length = len(body)
            return await web.StreamResponse.prepare(self, request)  # (DirectHead's would chunk)
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")  # (as aiohttp's)
        head_bytes = self._head.render(self._status_line(), f"Content-Length: {len(body)}")
        protocol = request.protocol
        if isinstance(protocol, WholeAnswers):  # the emulator's server: now, or with the
            protocol.send_whole(head_bytes + body)  # others of this pass (outbox.py)
        else:
            transport.write(head_bytes + body)
        self._keep_alive, self._eof_sent, self._body_length = True, True, len(body)
        writer = request.writer
        if protocol.writing_paused:  # (a reader that stops reading holds the next answer back:
            await writer.drain()  # the transport paused the writing; most answers find it not)
        return writer

    async def write_eof(self, data: bytes = b"") -> None:
        if self._eof_sent:  # (sent whole by prepare)
            return
        await super().write_eof(b"" if self._must_be_empty_body else self.body)
