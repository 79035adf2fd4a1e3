"""How the HTTP server runs a request's handler (emulator/serving.py): before Python 3.12, in
its connection's own task rather than a new Task a request; on every version, with aiohttp's
semantics kept: a handler outlives a client that hangs up, a failing handler is a 500 (aiohttp then
closes that connection), pipelined requests are answered in order; and how it sends whole answers
(emulator/outbox.py): those of one pass of the loop together at the start of the next."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from emulator.config import HttpLimits
from emulator.outbox import Outbox
from emulator.serving import Runner
from emulator.web import Answer, GatewayHead

Serve = Callable[[web.Application], Awaitable[int]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Serve an app through the emulator's Runner on a loopback port; the port."""
    runners: list[Runner] = []

    async def start(app: web.Application) -> int:
        runner = Runner(app, HttpLimits())
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return int(runner.addresses[0][1])

    yield start
    for runner in runners:
        await runner.cleanup()


async def exchange(port: int, raw: bytes, answers: int = 1) -> list[bytes]:
    """Send `raw` on one connection; the heads and bodies of `answers` answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    got = [await read_answer(reader) for _ in range(answers)]
    writer.close()
    await writer.wait_closed()
    return got


async def read_answer(reader: asyncio.StreamReader) -> bytes:
    """The head and body of the next answer on a connection (framed by Content-Length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head + await reader.readexactly(length)


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


async def test_requests_on_a_connection_run_in_its_own_task(serve: Serve) -> None:
    tasks: list[asyncio.Task[object] | None] = []

    async def handler(request: web.Request) -> web.Response:
        tasks.append(asyncio.current_task())
        return web.Response(text=request.path)

    app = web.Application()
    app.router.add_get("/{n}", handler)
    port = await serve(app)
    answers = await exchange(port, get("/1") + get("/2") + get("/3"), answers=3)

    assert [answer.rsplit(b"\r\n\r\n", 1)[1] for answer in answers] == [b"/1", b"/2", b"/3"]
    assert len(tasks) == 3 and all(task is not None for task in tasks)
    if sys.version_info < (3, 12):  # no Task a request: the connection's task answers them all
        assert tasks[0] is tasks[1] is tasks[2]
    else:  # aiohttp's eager Task a request, left as it is
        assert len({id(task) for task in tasks}) == 3


async def test_a_handler_finishes_after_its_client_hung_up(serve: Serve) -> None:
    entered, release, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        entered.set()
        await release.wait()
        finished.set()  # aiohttp's default: a hang-up does not cancel the handler
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/", handler)
    port = await serve(app)
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(get("/"))
    await asyncio.wait_for(entered.wait(), 5)
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(0.05)  # the server sees the hang-up
    release.set()
    await asyncio.wait_for(finished.wait(), 5)
    assert finished.is_set()


async def test_a_failing_handler_is_a_500_and_the_server_goes_on(serve: Serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        if request.path == "/fail":
            raise RuntimeError("boom")
        return web.Response(text="fine")

    app = web.Application()
    app.router.add_get("/{name}", handler)
    port = await serve(app)
    (failed,) = await exchange(port, get("/fail"))
    (fine,) = await exchange(port, get("/next"))

    assert failed.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert fine.startswith(b"HTTP/1.1 200 OK\r\n") and fine.endswith(b"\r\n\r\nfine")


async def test_a_body_that_fills_the_buffer_pauses_reading_and_resumes(serve: Serve) -> None:
    """A body sent faster than it is read pauses the connection's reading; reading it resumes
    (the handler's `resume_reading` skips only a resume with nothing paused), and the request
    pipelined behind it is answered."""
    paused: list[bool] = []

    async def handler(request: web.Request) -> web.Response:
        if request.method == "POST":
            await asyncio.sleep(0.3)  # let the body pile up unread
            paused.append(request.protocol._reading_paused)  # type: ignore[attr-defined]
            body = await request.read()
            return web.Response(text=str(len(body)))
        return web.Response(text="next")

    app = web.Application(client_max_size=64 * 2**20)
    app.router.add_route("*", "/{name}", handler)
    port = await serve(app)
    size = 8 * 2**20
    head = f"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode()
    sent = exchange(port, head + b"x" * size + get("/after"), answers=2)
    read, after = await asyncio.wait_for(sent, 10)

    assert paused == [True]
    assert read.endswith(b"\r\n\r\n" + str(size).encode())
    assert after.endswith(b"\r\n\r\nnext")


async def test_an_app_of_one_middleware_sees_routes_404s_405s_and_expect_as_aiohttp_has_them(
    serve: Serve,
) -> None:
    """The Runner calls an app's one middleware directly (serving._request_handler): it gets
    the route's handler, or the one raising the 404 or the 405; `request.app` is the app;
    `Expect: 100-continue` is answered before the body is read."""
    seen: list[str] = []

    @web.middleware
    async def outer(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            answer: web.StreamResponse = await handler(request)
        except web.HTTPException as refused:
            seen.append(f"{request.path} {refused.status}")
            return web.Response(status=refused.status, text="refused by the middleware")
        seen.append(f"{request.path} {answer.status}")
        return answer

    async def handler(request: web.Request) -> web.Response:
        assert request.app is app
        return web.Response(text=f"{request.match_info['name']}:{len(await request.read())}")

    app = web.Application(middlewares=[outer])
    app.router.add_post("/{name}", handler)
    port = await serve(app)
    expecting = b"POST /b HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(expecting)
    assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"abc")
    head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    await writer.wait_closed()
    (posted,) = await exchange(port, b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
    nowhere = b"POST /a/b HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    (unrouted,) = await exchange(port, nowhere)
    (wrong_method,) = await exchange(port, get("/a"))

    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert posted.endswith(b"\r\n\r\na:2")
    assert unrouted.startswith(b"HTTP/1.1 404 ") and unrouted.endswith(b"by the middleware")
    assert wrong_method.startswith(b"HTTP/1.1 405 ")
    assert seen == ["/b 200", "/a 200", "/a/b 404", "/a 405"]


async def test_a_fixed_paths_match_is_kept_and_every_other_match_is_the_routers(
    serve: Serve,
) -> None:
    """A plain resource's match for its method is made once and shared by the requests after
    (serving._request_handler); a 405 on the same path, a `*` route's, a dynamic route's, a
    404 and an escaped spelling of the path still come from the router, request by request."""
    matches: list[tuple[str, str, object]] = []

    @web.middleware
    async def outer(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            answer: web.StreamResponse = await handler(request)
        except web.HTTPException as refused:
            return web.Response(status=refused.status, text=f"refused {refused.status}")
        return answer

    def answering(name: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            assert request.app is app
            matches.append((name, request.method, request.match_info))
            return web.Response(text=f"{name}:{dict(request.match_info)}")

        return handler

    app = web.Application(middlewares=[outer])
    app.router.add_post("/fixed", answering("post"))
    app.router.add_get("/fixed", answering("get"), allow_head=False)
    app.router.add_route("*", "/any", answering("any"))
    app.router.add_post("/item/{id}", answering("item"))
    port = await serve(app)

    def ask(method: str, path: str) -> bytes:
        return f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()

    sent = [
        ask("POST", "/fixed"),
        ask("POST", "/fixed"),
        get("/fixed"),
        ask("PUT", "/fixed"),
        ask("POST", "/fixed"),
        ask("PUT", "/fixed"),
        ask("PATCH", "/any"),
        ask("PATCH", "/any"),
        ask("POST", "/item/1"),
        ask("POST", "/item/1"),
        ask("POST", "/item/2"),
        ask("POST", "/fixed/"),
        ask("POST", "/fi%78ed"),
    ]
    answers = await exchange(port, b"".join(sent), answers=len(sent))
    bodies = [answer.split(b"\r\n\r\n", 1)[1].decode() for answer in answers]

    assert bodies == [
        "post:{}",
        "post:{}",
        "get:{}",
        "refused 405",
        "post:{}",
        "refused 405",
        "any:{}",
        "any:{}",
        "item:{'id': '1'}",
        "item:{'id': '1'}",
        "item:{'id': '2'}",
        "refused 404",
        "post:{}",
    ]
    assert [(name, method) for name, method, _ in matches] == [
        ("post", "POST"),
        ("post", "POST"),
        ("get", "GET"),
        ("post", "POST"),
        ("any", "PATCH"),
        ("any", "PATCH"),
        ("item", "POST"),
        ("item", "POST"),
        ("item", "POST"),
        ("post", "POST"),
    ]
    posts = [match for name, _, match in matches if name == "post"]
    assert all(match is posts[0] for match in posts)  # made once, the same each time after
    # Not kept (the keys a client could make would have no bound): a `*` route's match, which
    # takes any method, and a dynamic route's, which takes any path; the router's each time.
    assert matches[4][2] is not matches[5][2]
    assert matches[6][2] is not matches[7][2]


async def test_an_app_that_mounts_another_keeps_aiohttps_own_handling(serve: Serve) -> None:
    """In an app that mounts another, `request.app` is the app whose middleware or handler
    runs (aiohttp's own middleware keeps it right): such an app is served by aiohttp's
    Application._handle."""

    seen_by_outer: list[bool] = []

    @web.middleware
    async def passing(request: web.Request, handler: Any) -> web.StreamResponse:
        seen_by_outer.append(request.app is outer)  # the outer app, even on an inner route
        answer: web.StreamResponse = await handler(request)
        return answer

    async def which(request: web.Request) -> web.Response:
        return web.Response(text="inner" if request.app is inner else "outer")

    inner = web.Application()
    inner.router.add_get("/which", which)
    outer = web.Application(middlewares=[passing])
    outer.router.add_get("/which", which)
    outer.add_subapp("/in", inner)
    port = await serve(outer)
    (mounted,) = await exchange(port, get("/in/which"))
    (top,) = await exchange(port, get("/which"))

    assert mounted.endswith(b"\r\n\r\ninner")
    assert top.endswith(b"\r\n\r\nouter")
    assert seen_by_outer == [True, True]


# ---- whole answers sent together (emulator/outbox.py) ---------------------------------------


async def _connected_pair() -> tuple[socket.socket, asyncio.Transport]:
    """A client socket (non-blocking) and the server side's asyncio transport, connected."""
    client, server = socket.socketpair()
    client.setblocking(False)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, server)
    return client, transport


def _received(client: socket.socket) -> bytes:
    try:
        return client.recv(1 << 16)
    except BlockingIOError:
        return b""


async def test_answers_held_in_one_pass_go_out_at_the_next_in_order() -> None:
    loop = asyncio.get_running_loop()
    pairs = [await _connected_pair() for _ in range(3)]
    outbox = Outbox(loop)
    loop.call_soon(lambda: None)  # the loop has more to run, as under load: answers wait
    outbox.hold(pairs[0][1], b"first to one")
    outbox.hold(pairs[1][1], b"to two")
    outbox.hold(pairs[0][1], b", then again to one")
    outbox.hold(pairs[2][1], b"to three, who hangs up")
    pairs[2][1].close()  # (closing before the pass's end: its answer has nobody to go to)
    held = [_received(client) for client, _ in pairs[:2]]
    await asyncio.sleep(0)  # one pass of the loop
    sent = [_received(client) for client, _ in pairs[:2]]
    for client, transport in pairs:
        client.close()
        transport.close()

    assert held == [b"", b""]  # nothing went out in the pass that held them
    assert sent == [b"first to one, then again to one", b"to two"]


async def test_an_answer_with_nothing_else_queued_goes_at_once() -> None:
    """A lone request's answer is not held: nothing would go with it, and holding it would
    cost a pass of the loop."""
    client, transport = await _connected_pair()
    outbox = Outbox(asyncio.get_running_loop())
    outbox.hold(transport, b"alone")
    at_once = _received(client)
    client.close()
    transport.close()

    assert at_once == b"alone"


def _answering(app: web.Application) -> None:
    """Routes that answer with the emulator's whole answer (web.Answer), or with aiohttp's own
    response (written at once by aiohttp's writer); `/busy/` gives the loop something more to
    run first, as other connections do under load (so the whole answer is held)."""

    async def whole(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if request.path.startswith("/busy/"):
            asyncio.get_running_loop().call_soon(lambda: None)
        head = GatewayHead("x/y", "an-id", 0.0, 0.0)
        return Answer(b"whole:" + request.path.encode() + b":" + body, head)

    async def plain(request: web.Request) -> web.StreamResponse:
        return web.Response(text="plain:" + request.path)

    app.router.add_route("*", "/whole/{n}", whole)
    app.router.add_route("*", "/busy/{n}", whole)
    app.router.add_route("*", "/plain/{n}", plain)


async def test_whole_answers_to_many_connections_at_once_arrive_whole_and_in_order(
    serve: Serve,
) -> None:
    app = web.Application()
    _answering(app)
    port = await serve(app)

    async def client(number: int) -> list[bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        bodies = []
        for turn in range(3):
            body = f"{number}.{turn}".encode()
            head = f"POST /busy/{number} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}"
            writer.write(head.encode() + b"\r\n\r\n" + body)
            bodies.append((await read_answer(reader)).rsplit(b"\r\n\r\n", 1)[1])
        writer.close()
        await writer.wait_closed()
        return bodies

    got = await asyncio.wait_for(asyncio.gather(*(client(n) for n in range(16))), 10)

    assert got == [[f"whole:/busy/{n}:{n}.{turn}".encode() for turn in range(3)] for n in range(16)]


async def test_a_whole_answer_with_a_request_pipelined_behind_it_is_not_overtaken(
    serve: Serve,
) -> None:
    """The request behind is answered in the same pass, by a response aiohttp writes at once:
    the whole answer before it is sent at once too, not held, or it would arrive second."""
    app = web.Application()
    _answering(app)
    port = await serve(app)
    answers = await exchange(port, get("/busy/1") + get("/plain/2") + get("/busy/3"), 3)

    assert [answer.rsplit(b"\r\n\r\n", 1)[1] for answer in answers] == [
        b"whole:/busy/1:",
        b"plain:/plain/2",
        b"whole:/busy/3:",
    ]


async def test_a_client_that_stops_sending_after_its_request_still_gets_the_whole_answer(
    serve: Serve,
) -> None:
    """A client may shut its sending half once its request is out (`shutdown(SHUT_WR)`);
    asyncio closes the connection when it reads that, in the pass the handler answers in: the
    answer held for the next pass is sent before (the handler's `eof_received`)."""
    app = web.Application()
    _answering(app)
    port = await serve(app)
    loop = asyncio.get_running_loop()
    got = []
    for number in range(20):  # (the end and the request in one read, or in two: both ways)
        client = socket.create_connection(("127.0.0.1", port))
        client.setblocking(False)
        await loop.sock_sendall(client, get(f"/whole/{number}"))
        client.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := await loop.sock_recv(client, 1 << 16):
            received += chunk
        client.close()
        got.append(received.rsplit(b"\r\n\r\n", 1)[-1])

    assert got == [f"whole:/whole/{number}:".encode() for number in range(20)]
