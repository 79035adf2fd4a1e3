"""HTTP plumbing shared by every route: the request's typed keys and DashScope's response
headers, on the emulator's clock."""

from __future__ import annotations

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
        "Date": formatdate(now, usegmt=True),
    }


def json_response(request: web.Request, body: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=compact(body).encode(),
        headers=headers(request, "application/json"),
    )
