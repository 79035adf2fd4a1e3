"""HTTP plumbing shared by every route: the request's typed keys and DashScope's response
headers, on the emulator's clock."""

from __future__ import annotations

import functools
from email.utils import formatdate
from typing import Any

from aiohttp import web

from emulator.journal import Entry
from emulator.plan.accounts import Caller
from emulator.protocols.fields import compact
from emulator.runtime import RUNTIME
from emulator.sites import Site

REQUEST_ID = web.RequestKey("request_id", str)
ARRIVED = web.RequestKey("arrived", float)  # clock time the request arrived
SITE = web.RequestKey("site", Site)
CALLER = web.RequestKey("caller", Caller)
ENTRY = web.RequestKey("entry", Entry)
BODY = web.RequestKey("body", bytes)  # the request body as received


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
    """The headers DashScope's gateway sends (docs/sources.md), timed by the emulator's clock."""
    runtime = request.app[RUNTIME]
    now = runtime.clock.now()
    arrived = request.get(ARRIVED, now)
    return {
        "Content-Type": content_type,
        "x-request-id": request[REQUEST_ID],
        "vary": "Origin",
        "x-dashscope-call-gateway": "true",
        "req-arrive-time": str(int(arrived * 1000)),
        "resp-start-time": str(int(now * 1000)),
        "req-cost-time": str(int((now - arrived) * 1000)),
        "Server": "istio-envoy",
        "Date": http_date(now),
    }


def json_response(request: web.Request, body: Any, status: int = 200) -> web.Response:
    return rendered_response(request, compact(body), status)


def rendered_response(request: web.Request, text: str, status: int = 200) -> web.Response:
    """A JSON answer already written as text."""
    return web.Response(
        status=status, body=text.encode(), headers=headers(request, "application/json")
    )
