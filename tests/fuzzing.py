"""A seeded fuzzer for every endpoint: valid requests, mutated, sent over real HTTP to an emulator
started in process, with the emulator's and aiohttp's loggers watched.

A finding is a 5xx, a hang (no whole answer within the per-request timeout), an ERROR log record
(a traceback), or a refused request (4xx) that changed the books. tests/test_fuzz.py runs a few
thousand mutations per endpoint; bench/fuzz.py runs as many as asked (100,000 for the long run).

Mutations come in named families, so a finding says which kind of mutation found it. Every
family runs on every endpoint: nothing is left out.
"""

from __future__ import annotations

import gc
import http.client
import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

from emulator.config import Config
from emulator.harness import RunningEmulator, start_emulator

FROZEN_AT = "2026-05-01T00:00:00Z"
TIMEOUT = 10.0  # seconds for one whole answer, streams included
WATCHED_LOGGERS = ("emulator", "aiohttp", "asyncio")
SERVER_THREAD = "token-plan-emulator"  # emulator.harness's thread: the server's records
OPENAI = "/compatible-mode/v1"
ANTHROPIC = "/apps/anthropic/v1"
AIGC = "/api/v1/services/aigc"
ADMIN = "/_emulator"

TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@dataclass(frozen=True)
class Request:
    """One HTTP request, as sent (a body of bytes, headers of str or bytes)."""

    method: str
    path: str
    body: bytes | None = None
    headers: tuple[tuple[str, str | bytes], ...] = ()

    def header(self, name: str, value: str | bytes) -> Request:
        kept = tuple((n, v) for n, v in self.headers if n.lower() != name.lower())
        return replace(self, headers=(*kept, (name, value)))

    def without(self, name: str) -> Request:
        return replace(self, headers=tuple(h for h in self.headers if h[0].lower() != name.lower()))

    def shown(self, limit: int = 300) -> str:
        body = (self.body or b"")[:limit]
        extra = "..." if self.body and len(self.body) > limit else ""
        headers = {n: v for n, v in self.headers if n.lower() != "authorization"}
        return f"{self.method} {self.path[:limit]} {headers} {body!r}{extra}"


@dataclass(frozen=True)
class Endpoint:
    """A valid request to mutate: JSON `body` (None: none), and where its variable parts are."""

    name: str
    method: str
    path: str
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()  # a query string's valid values
    ident: str | None = None  # the last path segment is an id to mutate

    def request(self, key: str) -> Request:
        path = self.path
        if self.query:
            path += "?" + "&".join(f"{k}={quote(v)}" for k, v in self.query)
        body = None if self.body is None else json.dumps(self.body).encode()
        headers: list[tuple[str, str | bytes]] = [("Authorization", f"Bearer {key}")]
        if body is not None:
            headers.append(("Content-Type", "application/json"))
        headers += list(self.headers)
        return Request(self.method, path, body, tuple(headers))


def endpoints(response_id: str, task_id: str) -> list[Endpoint]:
    """Every endpoint a client can call, with a valid request each."""
    say = [{"role": "user", "content": "Write one short line about the sea."}]
    image = {"messages": [{"role": "user", "content": [{"text": "a red fox in the snow"}]}]}
    return [
        Endpoint(
            "chat completions",
            "POST",
            f"{OPENAI}/chat/completions",
            {
                "model": "qwen3.6-plus",
                "messages": [{"role": "system", "content": "Be brief."}, *say],
                "max_tokens": 64,
                "temperature": 0.7,
                "tools": [TOOL],
                "stream": False,
                "response_format": {"type": "text"},
            },
        ),
        Endpoint(
            "chat completions, streamed",
            "POST",
            f"{OPENAI}/chat/completions",
            {
                "model": "glm-5",
                "messages": say,
                "max_tokens": 64,
                "stream": True,
                "stream_options": {"include_usage": True},
                "enable_thinking": False,
            },
        ),
        Endpoint(
            "anthropic messages",
            "POST",
            f"{ANTHROPIC}/messages",
            {
                "model": "glm-5",
                "max_tokens": 64,
                "system": "Be brief.",
                "messages": say,
                "stream": False,
                "tools": [
                    {
                        "name": "get_weather",
                        "description": "The weather",
                        "input_schema": TOOL["function"]["parameters"],  # type: ignore[index]
                    }
                ],
            },
        ),
        Endpoint(
            "anthropic messages, streamed",
            "POST",
            f"{ANTHROPIC}/messages",
            {"model": "qwen3.6-plus", "max_tokens": 64, "messages": say, "stream": True},
        ),
        Endpoint(
            "anthropic count_tokens",
            "POST",
            f"{ANTHROPIC}/messages/count_tokens",
            {"model": "glm-5", "messages": say, "system": "Be brief."},
        ),
        Endpoint(
            "responses create",
            "POST",
            f"{OPENAI}/responses",
            {
                "model": "qwen3.6-plus",
                "input": [{"role": "user", "content": "One line about the sea."}],
                "instructions": "Be brief.",
                "max_output_tokens": 64,
                "tools": [{"type": "web_search"}],
                "stream": False,
                "store": True,
            },
        ),
        Endpoint(
            "responses create, streamed",
            "POST",
            f"{OPENAI}/responses",
            {"model": "glm-5", "input": "One line about the sea.", "stream": True},
        ),
        Endpoint("responses get", "GET", f"{OPENAI}/responses/{response_id}", ident=response_id),
        Endpoint(
            "responses delete", "DELETE", f"{OPENAI}/responses/{response_id}", ident=response_id
        ),
        Endpoint(
            "images, sync",
            "POST",
            f"{AIGC}/multimodal-generation/generation",
            {"model": "qwen-image-2.0", "input": image, "parameters": {"size": "512*512", "n": 1}},
        ),
        Endpoint(
            "images, async",
            "POST",
            f"{AIGC}/image-generation/generation",
            {"model": "wan2.7-image", "input": image, "parameters": {"size": "1K", "n": 1}},
            headers=(("X-DashScope-Async", "enable"),),
        ),
        Endpoint("image tasks", "GET", f"/api/v1/tasks/{task_id}", ident=task_id),
        Endpoint("models", "GET", f"{OPENAI}/models"),
        *admin_endpoints(),
    ]


def admin_endpoints() -> list[Endpoint]:
    return [
        Endpoint("admin GET state", "GET", f"{ADMIN}/state"),
        Endpoint(
            "admin GET journal",
            "GET",
            f"{ADMIN}/journal",
            query=(("limit", "5"), ("status", "200"), ("bodies", "0")),
        ),
        Endpoint("admin GET usage", "GET", f"{ADMIN}/usage", query=(("days", "7"),)),
        Endpoint("admin GET clock, stats, health", "GET", f"{ADMIN}/stats"),
        Endpoint("admin POST clock", "POST", f"{ADMIN}/clock", {"advance": "+1h", "freeze": True}),
        Endpoint("admin POST seats", "POST", f"{ADMIN}/seats", {"tier": "pro", "member": "eve"}),
        Endpoint(
            "admin POST seat action", "POST", f"{ADMIN}/seats/seat-1/upgrade", {"tier": "max"}
        ),
        Endpoint("admin POST renew", "POST", f"{ADMIN}/subscription/renew", {"months": 1}),
        Endpoint(
            "admin POST scenario",
            "POST",
            f"{ADMIN}/scenario",
            {"name": "default", "seed": 0, "clock": FROZEN_AT},
        ),
    ]


# ---- mutations ----------------------------------------------------------------------------

Mutation = Callable[[random.Random, Request, Endpoint], Request]

DEEP = 100_000
LONG = 100_000
NUMBERS: tuple[Any, ...] = (
    0,
    -1,
    -(2**63),
    2**64,
    10**400,
    1e308,
    -1e308,
    1e-320,
    float("nan"),
    float("inf"),
    float("-inf"),
    0.5,
    True,
)
STRINGS = (
    "",
    "\ud800",
    "\udfff x \ud83d",
    "\x00",
    "x" * LONG,
    "\u202e\u0000\uffff",
    "😀" * 1000,
    "%s%n{0}{{}}",
    "../../etc/passwd",
    "<script>alert(1)</script>",
)
OTHERS: tuple[Any, ...] = (None, [], {}, [None], {"": None}, [[[[[]]]]])


def _paths(node: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield at
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*at, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*at, index))


def _set(node: Any, at: tuple[Any, ...], value: Any) -> Any:
    if not at:
        return value
    copy: Any = dict(node) if isinstance(node, dict) else list(node)
    copy[at[0]] = _set(node[at[0]], at[1:], value)
    return copy


def _drop(node: Any, at: tuple[Any, ...]) -> Any:
    if len(at) == 1:
        copy: Any = dict(node) if isinstance(node, dict) else list(node)
        del copy[at[0]]
        return copy
    return _set(node, at[:1], _drop(node[at[0]], at[1:]))


def _deep(rng: random.Random) -> str:
    depth = rng.choice((64, 1000, DEEP))
    opener, closer = rng.choice((("[", "]"), ('{"a":', "}")))
    return opener * depth + "1" + closer * depth


def _json_body(rng: random.Random, request: Request, endpoint: Endpoint, value: Any) -> Request:
    """The endpoint's body with the value at a random place replaced (`value` is JSON text)."""
    if endpoint.body is None:
        return replace(request, body=value.encode("utf-8", "surrogatepass"))
    places = list(_paths(endpoint.body))
    at = rng.choice(places)
    marker = "\u0000MARK\u0000"
    text = json.dumps(_set(endpoint.body, at, marker))
    text = text.replace(json.dumps(marker), value, 1)
    return replace(request, body=text.encode("utf-8", "surrogatepass"))


def value_type(rng: random.Random, request: Request, endpoint: Endpoint) -> Request:
    return _json_body(rng, request, endpoint, json.dumps(rng.choice((*OTHERS, 1, "1", True))))


def value_number(rng: random.Random, request: Request, endpoint: Endpoint) -> Request:
    return _json_body(rng, request, endpoint, json.dumps(rng.choice(NUMBERS)))


def value_string(rng: random.Random, request: Request, endpoint: Endpoint) -> Request:
    return _json_body(rng, request, endpoint, json.dumps(rng.choice(STRINGS)))


def value_deep(rng: random.Random, request: Request, endpoint: Endpoint) -> Request:
    return _json_body(rng, request, endpoint, _deep(rng))


def value_many(rng: random.Random, request: Request, endpoint: Endpoint) -> Request:
    item = rng.choice(('{"role":"user","content":"hi"}', '"x"', "1", "{}", "[]"))
    return _json_body(rng, request, endpoint, "[" + ",".join([item] * 10_000) + "]")


def key_drop(rng: random.Random, request: Request, endpoint: Endpoint) -> Request:
    if not isinstance(endpoint.body, (dict, list)) or not endpoint.body:
        return value_type(rng, request, endpoint)
    at = rng.choice([p for p in _paths(endpoint.body) if p])
    return replace(request, body=json.dumps(_drop(endpoint.body, at)).encode())


def key_unknown(rng: random.Random, request: Request, endpoint: Endpoint) -> Request:
    name = rng.choice(("unknown", "__proto__", "constructor", "", "\ud800", "x" * 1000))
    value = rng.choice((1, "x", None, [], {"a": 1}))
    places = [p for p in _paths(endpoint.body) if _is_dict(endpoint.body, p)]
    if not places:
        return value_type(rng, request, endpoint)
    at = rng.choice(places)
    node = _get(endpoint.body, at)
    text = json.dumps(_set(endpoint.body, at, {**node, name: value}))
    return replace(request, body=text.encode("utf-8", "surrogatepass"))


def _get(node: Any, at: tuple[Any, ...]) -> Any:
    for step in at:
        node = node[step]
    return node


def _is_dict(node: Any, at: tuple[Any, ...]) -> bool:
    return isinstance(_get(node, at), dict)


def body_truncated(rng: random.Random, request: Request, endpoint: Endpoint) -> Request:
    body = request.body or b'{"model": "qwen3.6-plus"}'
    return replace(request, body=body[: rng.randrange(len(body))])


def body_garbage(rng: random.Random, request: Request, endpoint: Endpoint) -> Request:
    choice = rng.randrange(6)
    if choice == 0:
        body = rng.randbytes(rng.choice((1, 64, 4096)))
    elif choice == 1:
        body = b""
    elif choice == 2:
        body = rng.choice((b"null", b"[]", b'"x"', b"1", b"true", b"NaN", b"-Infinity"))
    elif choice == 3:  # duplicate keys
        base = (request.body or b"{}").rstrip(b"}")
        body = base + (b", " if len(base) > 1 else b"") + b'"model": 1, "model": null}'
    elif choice == 4:  # invalid UTF-8 inside strings
        body = (request.body or b"{}").replace(b"sea", b"s\xff\xfe\xc3a", 1)
    else:
        body = b"\xef\xbb\xbf" + (request.body or b"{}")  # a BOM
    return replace(request, body=body)


def header_content_type(rng: random.Random, request: Request, endpoint: Endpoint) -> Request:
    kind = rng.choice(
        (
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json; charset=latin-1",
            "application/json; charset=utf-16",
            "",
            "*/*",
            None,
        )
    )
    return request.without("Content-Type") if kind is None else request.header("Content-Type", kind)


def header_auth(rng: random.Random, request: Request, endpoint: Endpoint) -> Request:
    value = rng.choice(
        (
            None,
            "",
            "Bearer",
            "Bearer ",
            "Basic dXNlcjpwYXNz",
            "Bearer sk-sp-" + "0" * 32,
            "Bearer " + "x" * 8000,
            "bearer " + _key(request),
            "Bearer  " + _key(request),
        )
    )
    if value is None:
        return request.without("Authorization")
    return request.header("Authorization", value)


def _key(request: Request) -> str:
    for name, value in request.headers:
        if name == "Authorization" and isinstance(value, str):
            return value.removeprefix("Bearer ")
    return ""


def header_non_utf8(rng: random.Random, request: Request, endpoint: Endpoint) -> Request:
    name = rng.choice(("Authorization", "X-Api-Key", "User-Agent", "X-DashScope-Async"))
    value = b"Bearer sk-sp-\xff\xfe\x80" if name == "Authorization" else b"\xc3(\xff"
    return request.header(name, value)


def header_encoding(rng: random.Random, request: Request, endpoint: Endpoint) -> Request:
    return request.header("Content-Encoding", rng.choice(("gzip", "deflate", "br", "x-unknown")))


def header_misc(rng: random.Random, request: Request, endpoint: Endpoint) -> Request:
    name, value = rng.choice(
        (
            ("X-DashScope-Async", rng.choice(("enable", "disable", "", "ENABLE"))),
            ("x-dashscope-session-cache", "enable"),
            ("Accept", "text/event-stream"),
            ("Accept-Encoding", "gzip, br"),
            ("X-Api-Key", _key(request)),
            ("anthropic-version", "1999-01-01"),
            ("Origin", "http://evil.example"),
            ("X-Forwarded-For", "10.0.0.1"),
            ("X-Long", "y" * 4000),
        )
    )
    return request.header(name, value)


def query_value(rng: random.Random, request: Request, endpoint: Endpoint) -> Request:
    path = request.path.split("?", 1)[0]
    names = [k for k, _ in endpoint.query] or ["limit", "days", "x"]
    value = rng.choice(
        (
            "",
            "-1",
            "0",
            "%C2%B2",
            "1e999",
            str(10**30),
            "%ED%A0%80",
            "%FF",
            "NaN",
            "abc",
            "1" * 2000,
        )
    )
    return replace(request, path=f"{path}?{rng.choice(names)}={value}")


def path_ident(rng: random.Random, request: Request, endpoint: Endpoint) -> Request:
    if endpoint.ident is None:  # a path under the endpoint's instead
        suffix = rng.choice(("/x", "/", "/%FF", "/..%2F..%2F", "//", "/" + "a" * 2000))
        return replace(request, path=request.path.split("?", 1)[0] + suffix)
    base = request.path.rsplit("/", 1)[0]
    ident = rng.choice(
        ("", "x", "%ED%A0%80", "%FF%FE", "a" * 2000, "..", "%2F", endpoint.ident * 2)
    )
    return replace(request, path=f"{base}/{ident}")


def http_oversized(rng: random.Random, request: Request, endpoint: Endpoint) -> Request:
    """A request line or a header past aiohttp's 8,190-byte limit (answered 400)."""
    if rng.random() < 0.5:
        return replace(request, path=request.path + "?pad=" + "p" * 9000)
    return request.header("X-Padding", "p" * 9000)


def method_other(rng: random.Random, request: Request, endpoint: Endpoint) -> Request:
    method = rng.choice(("GET", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "POST"))
    return replace(request, method=method)


FAMILIES: dict[str, Mutation] = {
    "value:type": value_type,
    "value:number": value_number,
    "value:string": value_string,
    "value:deep": value_deep,
    "value:many": value_many,
    "key:drop": key_drop,
    "key:unknown": key_unknown,
    "body:truncated": body_truncated,
    "body:garbage": body_garbage,
    "header:content-type": header_content_type,
    "header:auth": header_auth,
    "header:non-utf8": header_non_utf8,
    "header:content-encoding": header_encoding,
    "header:misc": header_misc,
    "query:value": query_value,
    "path:ident": path_ident,
    "method:other": method_other,
    "http:oversized": http_oversized,
}


# ---- running ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    endpoint: str
    family: str
    request: str
    what: str  # "500 ...", "hang", "ERROR log: ...", "books changed by a 400"

    def __post_init__(self) -> None:  # printable whatever the request held (lone surrogates)
        for name in ("request", "what"):
            text = getattr(self, name).encode("utf-8", "backslashreplace").decode()
            object.__setattr__(self, name, text)


@dataclass
class Report:
    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self, limit: int = 40) -> list[str]:
        """The findings, one of each (endpoint, family, what) up to `limit`."""
        distinct = {(f.endpoint, f.family, f.what[:80]): f for f in self.findings}
        shown = [
            f"{f.endpoint} [{f.family}]: {f.what}\n    {f.request}"
            for f in list(distinct.values())[:limit]
        ]
        more = len(self.findings) - len(shown)
        return shown + ([f"... and {more} more"] if more > 0 else [])


class ErrorRecords(logging.Handler):
    """Every ERROR (or worse) record the watched loggers emit: a traceback is a finding."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        # The emulator's loop thread only: what other threads log is not the server's.
        if record.threadName == SERVER_THREAD:
            self.records.append(record)


@contextmanager
def watched() -> Iterator[ErrorRecords]:
    """Count the watched loggers' ERROR records, and keep their records from the root's
    handlers (pytest's capture among them): findings say what they held, printably, while a
    record can hold anything a request sent (a lone surrogate, which pytest-xdist cannot
    carry)."""
    handler = ErrorRecords()
    loggers = [logging.getLogger(name) for name in WATCHED_LOGGERS]
    propagated = [logger.propagate for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.propagate = False
    try:
        yield handler
    finally:
        for logger, propagate in zip(loggers, propagated, strict=True):
            logger.removeHandler(handler)
            logger.propagate = propagate


class Connection:
    """One keep-alive HTTP/1.1 connection, opened again whenever the server closed it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._http: http.client.HTTPConnection | None = None

    def send(self, request: Request) -> tuple[int, bytes]:
        if self._http is None:
            self._http = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        http_ = self._http
        try:
            http_.putrequest(
                request.method, request.path, skip_host=False, skip_accept_encoding=True
            )
            for name, value in request.headers:
                http_.putheader(name, value)
            if request.body is not None:
                http_.putheader("Content-Length", str(len(request.body)))
            http_.endheaders(request.body)
            response = http_.getresponse()
            body = response.read()
            if response.will_close:
                self.close()
            return response.status, body
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None


def books(emulator: RunningEmulator) -> tuple[Any, ...]:
    """What a refused request must not change: spend, packs, usage, the Coding Plan's count."""
    runtime = emulator.runtime
    ledger = runtime.ledger
    return (
        tuple((s.id, s.used, s.tier, s.member, s.key, s.suspended) for s in ledger.seats.values()),
        tuple((p.id, p.used) for p in ledger.packs),
        sum(ledger.usage.values()),
        runtime.accounts.coding_plan.counted,
        ledger.start,
        ledger.term_months,
    )


def prepare(emulator: RunningEmulator) -> tuple[str, str]:
    """A stored response and an image task, for the endpoints that read them."""
    connection = Connection(*_address(emulator))
    key = emulator.api_key
    created = Endpoint(
        "",
        "POST",
        f"{OPENAI}/responses",
        {"model": "qwen3.6-plus", "input": "hi", "store": True},
    )
    status, body = connection.send(created.request(key))
    assert status == 200, body
    response_id = json.loads(body)["id"]
    image = {"messages": [{"role": "user", "content": [{"text": "a fox"}]}]}
    task = Endpoint(
        "",
        "POST",
        f"{AIGC}/image-generation/generation",
        {"model": "wan2.7-image", "input": image, "parameters": {"size": "1K"}},
        headers=(("X-DashScope-Async", "enable"),),
    )
    status, body = connection.send(task.request(key))
    assert status == 200, body
    connection.close()
    return response_id, json.loads(body)["output"]["task_id"]


def _address(emulator: RunningEmulator) -> tuple[str, int]:
    host, port = emulator.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def fuzz(
    endpoint: Endpoint,
    mutations: int,
    seed: int,
    emulator: RunningEmulator,
    families: dict[str, Mutation],
    report: Report,
) -> None:
    """Send `mutations` mutated requests to `endpoint` (and the valid one every so often)."""
    rng = random.Random(f"{seed}:{endpoint.name}")
    connection = Connection(*_address(emulator))
    names = sorted(families)
    started = time.perf_counter()
    # Tests run before in this process may leave SDK clients whose cleanup tasks the collector
    # would finish (and asyncio log as ERROR) mid-run, on any thread: collect them first.
    gc.collect()
    with watched() as errors:
        for number in range(mutations):
            valid = endpoint.request(emulator.api_key)
            family = names[rng.randrange(len(names))]
            # Two mutations at once now and then: what one check lets through, the next sees.
            request = families[family](rng, valid, endpoint)
            if rng.random() < 0.1:
                second = names[rng.randrange(len(names))]
                request = families[second](rng, request, endpoint)
                family = f"{family}+{second}"
            if number % 50 == 0:
                request, family = valid, "valid"
            before = books(emulator)
            seen = len(errors.records)
            try:
                status, body = connection.send(request)
            except TimeoutError:
                report.findings.append(Finding(endpoint.name, family, request.shown(), "hang"))
                continue
            except (ConnectionError, http.client.HTTPException) as error:
                status, body = 0, repr(error).encode()
            report.sent += 1
            report.statuses[status] = report.statuses.get(status, 0) + 1
            what = None
            if status >= 500 or status == 0:
                what = f"{status} {body[:300]!r}"
            elif status >= 400 and books(emulator) != before:
                what = f"books changed by a {status}: {body[:200]!r}"
            if len(errors.records) > seen:
                record = errors.records[seen]
                what = (what + "; " if what else "") + f"ERROR log: {record.getMessage()[:200]}"
                if record.exc_info and record.exc_info[1] is not None:
                    what += f" ({record.exc_info[1]!r:.200})"
            if what is not None:
                report.findings.append(Finding(endpoint.name, family, request.shown(), what))
    connection.close()
    report.seconds += time.perf_counter() - started


def fresh_emulator() -> RunningEmulator:
    return start_emulator(Config(clock=FROZEN_AT))
