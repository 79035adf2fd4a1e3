"""One raw HTTP answer, for the tests where the exact bytes, status and headers matter."""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# The headers the emulator writes on an answer, in the order DashScope's gateway sends them
# (docs/sources.md); aiohttp adds the framing after them.
DASHSCOPE_HEADERS = (
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


@dataclass(frozen=True)
class Reply:
    """Status, headers (case-insensitive) and the exact body bytes."""

    status: int
    headers: http.client.HTTPMessage
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


def send(
    url: str,
    method: str,
    path: str,
    body: bytes | dict[str, Any] | list[Any] | None = None,
    headers: Mapping[str, str | bytes] | None = None,
) -> Reply:
    """One request to the server at `url` with exactly the headers given (http.client adds only
    Host, when none is given, and the length)."""
    where = urlsplit(url)
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    connection = http.client.HTTPConnection(where.hostname or "", where.port, timeout=10)
    try:
        connection.request(method, path, body=data, headers=dict(headers or {}))
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        connection.close()
