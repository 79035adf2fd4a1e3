"""The HTTP server around the app: how long a connection may take to say what it wants, and
quiet logs for clients that get HTTP wrong.

aiohttp bounds idle keep-alive (`keepalive_timeout`) but not the time a client may take to send
its headers, so a connection that sends half a request line is held for ever; and it logs a
malformed request as an ERROR with a traceback. The handler below adds the header deadline and
logs client mistakes as one INFO line. The body deadline is the body reader's (bodies.py).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, cast

from aiohttp import hdrs, web, web_protocol
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.streams import StreamReader
from aiohttp.web_urldispatcher import UrlMappingMatchInfo

from emulator.config import HttpLimits
from emulator.outbox import Outbox, WholeAnswers
from emulator.web import REQUEST_ID

log = logging.getLogger("emulator")
access_log = logging.getLogger("emulator.access")

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]

# What a connection gets when its headers are late: then it is closed (as nginx does).
_LATE_HEADERS = b"The request headers did not arrive within the timeout.\n"
_HEADER_TIMEOUT_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_LATE_HEADERS), _LATE_HEADERS)
)


# Exceptions that mean the client broke the protocol or went away: its mistake, not ours.
CLIENT_MISTAKES: tuple[type[BaseException], ...] = (HttpProcessingError, ConnectionError)


# aiohttp's own coroutine that answers one request (its connection loop, `start`, runs it).
_HANDLE_REQUEST = web_protocol.RequestHandler._handle_request.__code__


class _InlineHandlerLoop:
    """The event loop as a connection handler sees it on Python < 3.12: the same loop, except
    that the coroutine answering a request is awaited where it is instead of becoming a Task.

    aiohttp wraps each request's handling in a new Task, to give it a copy of the context
    variables (the emulator and aiohttp set none); on Python 3.12 and later it starts that
    Task eagerly, on 3.10 and 3.11 the Task costs its creation and two passes of the event loop
    (about 4.5 % of a chat request's instructions). Awaiting the coroutine in the connection's
    own task does what the eager start does. Cancellation is unchanged: cancelling the
    connection's task cancels what it awaits, Task or coroutine."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        # What a request calls on the loop, bound once (the rest goes through __getattr__).
        self.create_future = loop.create_future
        self.time = loop.time
        self.call_at = loop.call_at

    def create_task(self, coro: Coroutine[Any, Any, Any], **kwargs: Any) -> Any:
        if getattr(coro, "cr_code", None) is _HANDLE_REQUEST:
            return coro  # (aiohttp awaits what this returns, and awaits nothing else of it)
        return self._loop.create_task(coro, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)


class _Handler(WholeAnswers, web_protocol.RequestHandler):
    """aiohttp's connection handler with a header deadline, quiet client-mistake logs, whole
    answers sent together (outbox.py) and, before Python 3.12, no Task a request
    (`_InlineHandlerLoop`)."""

    def __init__(
        self, manager: web.Server, *, header_timeout: float, outbox: Outbox, **kwargs: Any
    ) -> None:
        super().__init__(manager, **kwargs)
        self._outbox = outbox
        if sys.version_info < (3, 12):
            self._loop = _InlineHandlerLoop(self._loop)  # type: ignore[assignment]
        self._header_timeout = header_timeout
        self._header_timer: asyncio.TimerHandle | None = None
        # The payload of the last request whose head was parsed: while the rest of its body
        # may arrive (aiohttp discards what a handler leaves unread), bytes are no new head.
        self._payload: StreamReader | None = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        messages = self._messages
        if messages:  # a whole request head was parsed: no deadline left to keep
            self._payload = messages[-1][1]
            if self._header_timer is not None:
                self._cancel_header_timer()
        elif self._header_timer is None and data and not self._in_request():
            # The first bytes of a request head, not all of it: the rest must arrive by the
            # deadline. A head that came whole in one segment (the common case on a
            # keep-alive connection) costs no timer at all.
            loop = asyncio.get_running_loop()
            self._header_timer = loop.call_later(self._header_timeout, self._headers_late)

    def send_whole(self, data: bytes) -> None:
        """Send a whole answer (its head and body): held for the next pass of the loop when
        nothing else can be written on this connection, or close it, before then; else now.

        Nothing else can when the connection is kept (the answer says so: web.Answer's usual
        case), no request waits behind this one (one already parsed would be answered in this
        same pass, perhaps by a stream that writes at once), its body was read whole (aiohttp
        closes a connection whose body was left unread), nobody is closing it, and the client
        is reading (a paused writer must make the handler's drain wait, as it always has). A
        request that arrives later is read in a later pass, after the outbox is sent."""
        transport = self.transport
        payload = self._payload
        if (
            self._messages
            or self._paused
            or self._close
            or self._force_close
            or payload is None
            or not payload.is_eof()
            or transport is None
        ):
            if transport is not None:
                transport.write(data)
            return
        self._outbox.hold(transport, data)

    def eof_received(self) -> None:
        # The client shut its sending half: asyncio closes the connection when this returns
        # (as aiohttp's handler has it), perhaps in the pass that held this connection's
        # answer. It goes out first.
        if self.transport is not None:
            self._outbox.release(self.transport)

    def resume_reading(self, resume_parser: bool = True) -> None:
        # aiohttp calls this after every read from a request body, paused or not. Unpaused,
        # it would feed the parser an empty chunk (with this class's checks) and resume a
        # transport that is reading: nothing to do, for about 1 % of a chat request. Reading
        # paused (a body arriving faster than it is read) resumes as aiohttp does.
        if self._reading_paused:
            super().resume_reading(resume_parser)

    def _in_request(self) -> bool:
        """Whether bytes arriving now belong to a request already under way: its handler is
        running, or requests wait in the queue (pipelined), or its body is still arriving
        (an unread rest aiohttp discards; the idle deadline closes a connection that stops
        half way)."""
        payload = self._payload
        return (
            self._request_in_progress
            or bool(self._messages)
            or (payload is not None and not payload.is_eof())
        )

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_header_timer()
        payload, self._payload = self._payload, None  # (it refers back to this handler)
        lingering = not self._request_in_progress
        super().connection_lost(exc)
        if lingering and payload is not None and not payload.is_eof():
            # Answered without reading the whole body (a 404, say), aiohttp reads the rest
            # ("lingering") for up to 10 s; a client gone will send none of it, and nothing
            # else wakes that read: end it now, and the connection's task with it.
            payload.feed_eof()

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self._in_request() or self.transport is None:
            return
        log.info(
            "closed a connection from %s: no complete request headers within %g s",
            self.peername,
            self._header_timeout,
        )
        self.transport.write(_HEADER_TIMEOUT_ANSWER)
        self.force_close()

    def log_exception(self, *args: Any, **kw: Any) -> None:
        exc = kw.get("exc_info")
        if isinstance(exc, CLIENT_MISTAKES):
            message = args[0] % args[1:] if args else "client error"
            self.logger.info("%s: %s", message, _one_line(exc))
            return
        super().log_exception(*args, **kw)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


class AccessLine(AbstractAccessLogger):
    """One INFO line a request once its answer is sent: method, path, status, milliseconds and
    the request id (the journal's, and the `x-request-id` of an API answer)."""

    @property
    def enabled(self) -> bool:
        # aiohttp asks once a connection: below INFO, no request pays for an access line.
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        # The path as sent (percent-escapes kept), so a decoded line break cannot forge a line.
        self.logger.info(
            "%s %s %d %.1fms %s",
            request.method,
            request.rel_url.raw_path[:300],
            response.status,
            time * 1000,
            request.get(REQUEST_ID, "-"),
        )


def _request_handler(app: web.Application, handle: Handler) -> Handler:
    """What the server calls with each request: aiohttp's own `handle` (Application._handle),
    or, for an app whose one middleware does all the wrapping (the emulator's gateway) and that
    mounts no other app, the same steps with that middleware called directly.

    aiohttp builds each route's chain of middlewares (cached), and adds one of its own that
    keeps `request.app` right inside mounted apps; that chain and its frames cost about 1.8 %
    of a chat request, for an app that needs neither. Routing, `Expect: 100-continue` and
    what the middleware sees (the route's handler, or the one that raises a 404 or a 405) are
    as aiohttp has them."""
    middlewares = tuple(app.middlewares)
    mounted = any(isinstance(r, web.PrefixedSubAppResource) for r in app.router.resources())
    if len(middlewares) != 1 or _middleware_version(middlewares[0]) != 1 or mounted:
        return handle
    (middleware,) = middlewares
    router = app.router
    # A fixed path's match, by method and path (the router's key), once made: the router walks
    # its index and builds, completes and freezes a match each request (about 2 % of a chat
    # request's instructions). Only a plain resource's match for a named method is kept: it
    # has no parts taken from the path, and the keys are at most the app's routes (a `*` route,
    # which takes any method, is left to the router). Shared by its requests: frozen, and
    # read, never written.
    fixed: dict[tuple[str, str], UrlMappingMatchInfo] = {}

    async def routed(request: web.BaseRequest) -> web.StreamResponse:
        key = (request.method, request.rel_url.path_safe)
        match_info = fixed.get(key)
        if match_info is None:
            match_info = await router.resolve(cast(web.Request, request))
            match_info.add_app(app)
            match_info.freeze()
            if _fixed(match_info):
                fixed[key] = match_info
        request._match_info = match_info  # type: ignore[attr-defined]
        if request.headers.get(hdrs.EXPECT):
            answer = await match_info.expect_handler(cast(web.Request, request))
            await request.writer.drain()
            if answer is not None:
                return answer
        return await middleware(cast(web.Request, request), match_info.handler)

    return routed


def _fixed(match_info: UrlMappingMatchInfo) -> bool:
    """Whether a match holds for every request of its method and path: a route of a plain
    resource (not a 404's or a 405's match), for its own method."""
    if type(match_info) is not UrlMappingMatchInfo:  # (MatchInfoError: a 404 or a 405)
        return False
    route = match_info.route
    return isinstance(route.resource, web.PlainResource) and route.method != hdrs.METH_ANY


def _middleware_version(middleware: object) -> object:
    # @web.middleware marks a middleware of the (request, handler) kind with version 1
    return getattr(middleware, "__middleware_version__", None)


class _Server(web.Server):
    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout = header_timeout
        self._outbox = Outbox(self._loop)  # (one for all its connections: one send a pass)

    def __call__(self) -> _Handler:
        return _Handler(
            self,
            loop=self._loop,
            header_timeout=self._header_timeout,
            outbox=self._outbox,
            **self._kwargs,
        )


class Runner(web.AppRunner):
    """An AppRunner whose connections keep the deadlines of `limits`."""

    def __init__(self, app: web.Application, limits: HttpLimits) -> None:
        super().__init__(
            app,
            handle_signals=False,
            access_log=access_log,
            access_log_class=AccessLine,
            keepalive_timeout=limits.idle_timeout,
            # The body reader (bodies.py) decodes gzip and deflate itself, counting the
            # decoded bytes against the limit as they come, and answers a bad encoding with a
            # 400 in the caller's envelope; aiohttp's decoder would fail it as a bare 500.
            auto_decompress=False,
        )
        self._limits = limits

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        return _Server(
            _request_handler(self.app, server.request_handler),
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            header_timeout=self._limits.header_timeout,
            **server._kwargs,
        )
