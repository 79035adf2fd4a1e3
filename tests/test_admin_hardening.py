"""The admin surface (/_emulator/) against hostile input: values out of range, pages of other
sites, DNS rebinding, and the small 500s of query and body values (issue 10, items 3 and 8).

Every test talks to a real server on loopback: raw HTTP where the headers are the point
(`Host`, `Origin`, `Content-Type`), the SDKs where a client would meet the error.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anthropic
import openai
import pytest

from emulator.admin.guard import AdminPolicy, loopback
from emulator.config import Config
from emulator.harness import RunningEmulator, start_emulator
from emulator.plan.clock import parse_instant
from emulator.testing import AdminError, TokenPlan
from tests import raw_http
from tests.test_cli import cli_server, run_cli

Start = Callable[..., RunningEmulator]
HELLO = [{"role": "user", "content": "Hello"}]
JSON = {"Content-Type": "application/json"}
WINDOW = "2000-01-01T00:00:00Z to 2200-01-01T00:00:00Z"
RANGE = "<400> InternalError.Algo.InvalidParameter: Range of temperature should be [0.0, 2.0)"
HOST_REFUSED = (
    "Host {host!r} is refused: the admin API answers to loopback names only (127.0.0.1, "
    "localhost, [::1]), a guard against DNS rebinding; start the emulator with "
    "--admin-anywhere to lift it"
)
ORIGIN_REFUSED = (
    "cross-origin admin request refused: Origin {origin!r} is not this server; admin writes "
    "come from the usage page or from clients that send no Origin"
)
TYPE_REFUSED = (
    "admin writes need Content-Type: application/json (got {got}), a guard against "
    "cross-site form posts"
)


@dataclass(frozen=True)
class Reply(raw_http.Reply):
    @property
    def error(self) -> str:
        return str(self.json["error"])


def send(
    url: str,
    method: str,
    path: str,
    body: bytes | dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """One request with exactly these headers, read as an admin answer."""
    reply = raw_http.send(url, method, path, body, headers)
    return Reply(reply.status, reply.headers, reply.raw)


def admin(url: str, method: str, path: str, body: Any = None, **headers: str) -> Reply:
    """An admin call as a well-behaved client makes it: JSON, no Origin; `headers` add to or
    replace those (a value of "" drops the header)."""
    given = {**(JSON if method != "GET" else {}), **headers}
    data = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    if method != "GET" and data is None:
        data = b"{}"
    return send(url, method, "/_emulator" + path, data, {k: v for k, v in given.items() if v})


def port_of(url: str) -> int:
    return urlsplit(url).port or 80


def chat_status(url: str, key: str) -> int:
    body = {"model": "qwen3.6-plus", "messages": HELLO}
    headers = {**JSON, "Authorization": f"Bearer {key}"}
    return send(url, "POST", "/compatible-mode/v1/chat/completions", body, headers).status


@pytest.fixture
def quiet_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A client's mistake is at most an INFO or WARNING line: fail on any ERROR the server
    logged meanwhile (a caught 500 logs one, with its traceback; aiohttp logs an uncaught one).
    Other loggers are not the server's: asyncio reports an SDK client another test left open."""
    with caplog.at_level(logging.INFO, logger="emulator"):
        yield
    errors = [
        r.getMessage()
        for r in caplog.get_records("call")
        if r.levelno >= logging.ERROR and r.name.startswith(("emulator", "aiohttp"))
    ]
    assert not errors, errors


# ---- item 3: values with ranges -------------------------------------------------------------


@pytest.mark.token_plan(clock="2026-05-01T00:00:00Z")
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("10000-01-01T00:00:00Z", "set: '10000-01-01T00:00:00Z' is not an ISO-8601 instant"),
        ("0001-01-01T00:00:00Z", "set: '0001-01-01T00:00:00Z' is outside the emulator's "),
        ("9999-12-31T23:59:59Z", "set: '9999-12-31T23:59:59Z' is outside the emulator's "),
        ("1999-12-31T23:59:59Z", "set: '1999-12-31T23:59:59Z' is outside the emulator's "),
        ("2200-01-01T00:00:01Z", "set: '2200-01-01T00:00:01Z' is outside the emulator's "),
        ("inf", "set: 'inf' is not an ISO-8601 instant"),
        (float("inf"), "set: inf is not an ISO-8601 instant"),
        (1777593600, "set: 1777593600 is not an ISO-8601 instant"),
        ("２０２６-05-01T00:00:00Z", "set: '２０２６-05-01T00:00:00Z' is not an ISO-8601 instant"),
    ],
)
def test_a_clock_outside_the_calendar_is_refused(
    token_plan: TokenPlan, quiet_logs: None, value: Any, message: str
) -> None:
    """Years 1 and 9999 used to be accepted and made every later request answer 500; the
    clock's window is 2000 to 2200, and a refused value moves nothing."""
    reply = admin(token_plan.url, "POST", "/clock", {"set": value})
    assert reply.status == 400
    assert reply.error.startswith(message), reply.error
    if "outside" in message:
        assert reply.error.endswith(f"({WINDOW})")
    else:
        assert reply.error.endswith("(e.g. 2026-05-01T00:00:00Z)")
    assert token_plan.admin.now() == "2026-05-01T00:00:00Z"
    assert chat_status(token_plan.url, token_plan.api_key) == 200
    assert admin(token_plan.url, "GET", "/state").status == 200


@pytest.mark.token_plan(clock="2026-05-01T00:00:00Z")
def test_the_window_edges_are_accepted_and_serve(token_plan: TokenPlan, quiet_logs: None) -> None:
    for edge in ("2000-01-01T00:00:00Z", "2200-01-01T00:00:00Z"):
        assert token_plan.admin.set_clock(edge) == edge
        assert admin(token_plan.url, "GET", "/state").status == 200
        assert admin(token_plan.url, "GET", "/usage?days=30").status == 200
        assert admin(token_plan.url, "GET", "/stats").status == 200
        assert chat_status(token_plan.url, token_plan.api_key) in (200, 401)  # 401: expired


@pytest.mark.token_plan(clock="2026-05-01T00:00:00Z")
@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            "-1d",
            "advance: bad clock step '-1d': the clock only advances; to go back, set it "
            '(POST /_emulator/clock {"set": "2026-05-01T00:00:00Z"})',
        ),
        (
            "-0.5h",
            "advance: bad clock step '-0.5h': the clock only advances; to go back, set it "
            '(POST /_emulator/clock {"set": "2026-05-01T00:00:00Z"})',
        ),
        (
            "+٣d",
            "advance: bad clock step '+٣d': use a number and one of s, m, h, d, w (e.g. +31d)",
        ),
        (
            "1e9w",
            "advance: bad clock step '1e9w': use a number and one of s, m, h, d, w (e.g. +31d)",
        ),
        (
            "9999999999w",
            f"advance: bad clock step '9999999999w': more than the emulator's calendar ({WINDOW})",
        ),
        (
            "+175y",
            "advance: bad clock step '+175y': use a number and one of s, m, h, d, w (e.g. +31d)",
        ),
        ("+9200w", f"advance: '+9200w' would move the clock outside {WINDOW}"),
        (31, "advance: bad clock step 31: use a number and one of s, m, h, d, w (e.g. +31d)"),
    ],
)
def test_clock_steps_go_forward_within_the_calendar(
    token_plan: TokenPlan, quiet_logs: None, step: Any, message: str
) -> None:
    reply = admin(token_plan.url, "POST", "/clock", {"advance": step})
    assert (reply.status, reply.error) == (400, message)
    assert token_plan.admin.now() == "2026-05-01T00:00:00Z"


@pytest.mark.token_plan(clock="2026-05-01T00:00:00Z")
def test_a_refused_step_leaves_set_and_freeze_undone(token_plan: TokenPlan) -> None:
    """One call is checked whole before anything moves."""
    body = {"set": "2027-01-01T00:00:00Z", "advance": "-1d", "freeze": False}
    assert admin(token_plan.url, "POST", "/clock", body).status == 400
    clock = token_plan.admin.get("/clock")
    assert clock == {"now": "2026-05-01T00:00:00Z", "frozen": True}


@pytest.mark.token_plan(clock="2026-05-01T00:00:00Z")
def test_the_admin_client_reports_the_refusal(token_plan: TokenPlan) -> None:
    """The pytest plugin's Admin raises AdminError with the API's status and message."""
    with pytest.raises(AdminError) as caught:
        token_plan.admin.advance("-1d")
    assert caught.value.status == 400
    assert caught.value.message.startswith("advance: bad clock step '-1d': the clock only")
    assert token_plan.admin.advance("+1d") == "2026-05-02T00:00:00Z"


@pytest.mark.token_plan(clock="2026-05-01T00:00:00Z")
@pytest.mark.parametrize(
    ("months", "message"),
    [
        (95_700, "months must be a whole number from 1 to 1200"),
        (0, "months must be a whole number from 1 to 1200"),
        (-3, "months must be a whole number from 1 to 1200"),
        (1.0, "months must be a whole number from 1 to 1200"),
        (True, "months must be a whole number from 1 to 1200"),
        ("12", "months must be a whole number from 1 to 1200"),
        (10**400, "months must be a whole number from 1 to 1200"),
        (
            1189,
            "months must be from 1 to 1188: a subscription term is at most 1200 months "
            "and this one has 12",
        ),
    ],
)
def test_renewals_have_a_range(
    token_plan: TokenPlan, quiet_logs: None, months: Any, message: str
) -> None:
    """A renewal of ~95,700 months used to push the end past year 9999: every request 500."""
    reply = admin(token_plan.url, "POST", "/subscription/renew", {"months": months})
    assert (reply.status, reply.error) == (400, message)
    assert token_plan.admin.state()["subscription"]["months"] == 12
    assert chat_status(token_plan.url, token_plan.api_key) == 200


@pytest.mark.token_plan(clock="2026-05-01T00:00:00Z")
def test_renewals_add_up_to_a_century_at_most(token_plan: TokenPlan, quiet_logs: None) -> None:
    for _ in range(98):
        token_plan.admin.renew(12)
    subscription = token_plan.admin.renew(11)
    assert (subscription["months"], subscription["end"]) == (1199, "2126-04-01T00:00:00Z")
    assert token_plan.admin.renew(1)["end"] == "2126-05-01T00:00:00Z"
    reply = admin(token_plan.url, "POST", "/subscription/renew", {"months": 1})
    assert (reply.status, reply.error) == (
        400,
        "the subscription term is already the longest kept (1200 months)",
    )
    token_plan.admin.set_clock("2200-01-01T00:00:00Z")
    assert token_plan.admin.state()["subscription"]["expired"] is True
    state = token_plan.admin.subscribe(1200)
    assert state["subscription"]["end"] == "2300-01-01T00:00:00Z"
    assert chat_status(token_plan.url, token_plan.admin.key("alice")) == 200


@pytest.mark.token_plan(clock="2026-05-01T00:00:00Z")
@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/seats", {"member": "\ud800"}, "member must be 1 to 64 printable characters"),
        ("/seats", {"member": "bob\n"}, "member must be 1 to 64 printable characters"),
        ("/seats", {"member": " bob"}, "member must be 1 to 64 printable characters"),
        ("/seats", {"member": "b" * 65}, "member must be 1 to 64 printable characters"),
        ("/seats", {"member": 7}, "member must be 1 to 64 printable characters"),
        ("/seats", {"tier": ["pro"]}, "tier must be one of standard, pro, max"),
        ("/seats", {"tier": "pro", "seats": 3}, "unknown field 'seats' (expected: tier, member)"),
        ("/seats/seat-1/reclaim", {}, None),  # so that assign finds the seat free
        ("/seats/seat-1/assign", {"member": "\u202e"}, "member must be 1 to 64 printable"),
        ("/seats/seat-1/assign", {}, "assign needs a member name"),
        ("/seats/seat-1/upgrade", {"tier": {}}, "tier must be one of standard, pro, max"),
        ("/seats/seat-1/upgrade", {}, "upgrade needs a tier: one of standard, pro, max"),
        ("/scenario", {"name": "\ud800"}, "name must be 1 to 200 printable characters"),
        ("/scenario", {"name": "x" * 201}, "name must be 1 to 200 printable characters"),
        (
            "/scenario",
            {"seed": "\ud800"},
            "seed must be a whole number from 0 to 9223372036854775807",
        ),
        ("/scenario", {"seed": 2**63}, "seed must be a whole number from 0 to 9223372036854775807"),
        ("/scenario", {"seed": -1}, "seed must be a whole number from 0 to 9223372036854775807"),
        (
            "/scenario",
            {"clock": 5},
            "clock: 5 is not an ISO-8601 instant (e.g. 2026-05-01T00:00:00Z)",
        ),
        ("/scenario", {"clock": ["2026"]}, "clock: ['2026'] is not an ISO-8601 instant"),
        (
            "/scenario",
            {"clock": "3000-01-01T00:00:00Z"},
            "clock: '3000-01-01T00:00:00Z' is outside",
        ),
        ("/scenario", {"catalog": []}, "catalog must be one of current, launch"),
        ("/clock", {"freeze": "yes"}, "freeze must be true or false"),
        ("/subscription", {"months": 0}, "months must be a whole number from 1 to 1200"),
    ],
)
def test_admin_body_values_have_ranges(
    token_plan: TokenPlan, quiet_logs: None, path: str, body: dict[str, Any], message: str | None
) -> None:
    """A seed or member name with a lone surrogate, a non-string clock, a list for a scenario's
    catalogue: each used to answer 500; now a 400 naming the field and its range."""
    reply = admin(token_plan.url, "POST", path, body)
    if message is None:
        assert reply.status == 200
        return
    assert reply.status == 400, reply.raw
    assert reply.error.startswith(message), reply.error
    # Nothing unsafe got in: the page's reads and the journal still answer.
    for read in ("/state", "/journal?limit=5", "/usage?days=7", "/stats"):
        assert admin(token_plan.url, "GET", read).status == 200, read


@pytest.mark.token_plan(clock="2026-05-01T00:00:00Z")
@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[" * 100_000, "the body must be a JSON object of fields, not nested"),
        (
            b'{"set": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
            "the body must be a JSON object of fields, not nested",
        ),
        (b"\xff\xfe", "the body must be JSON"),
        (b"[1]", "the body must be a JSON object"),
        (b"{", "the body must be JSON"),
    ],
)
def test_bodies_that_are_not_an_object_of_fields(
    token_plan: TokenPlan, quiet_logs: None, raw: bytes, message: str
) -> None:
    reply = admin(token_plan.url, "POST", "/clock", raw)
    assert (reply.status, reply.error) == (400, message)


@pytest.mark.token_plan(clock="2026-05-01T00:00:00Z")
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("/usage?days=%C2%B2", "days must be 1, 7 or 30"),  # "²": isdigit() is true
        ("/usage?days=%D9%A3", "days must be 1, 7 or 30"),  # "٣": int() reads it as 3
        ("/usage?days=07", "days must be 1, 7 or 30"),
        ("/journal?limit=%C2%B2", "limit must be a whole number from 1 to 10000"),
        ("/journal?limit=0", "limit must be a whole number from 1 to 10000"),
        ("/journal?limit=" + "9" * 5000, "limit must be a whole number from 1 to 10000"),
        ("/journal?limit=%201", "limit must be a whole number from 1 to 10000"),
        ("/journal?status=1_000", "status must be a whole number from 100 to 599"),
        ("/journal?bodies=no", "bodies must be 0 or 1"),
    ],
)
def test_query_values_are_read_strictly(
    token_plan: TokenPlan, quiet_logs: None, query: str, message: str
) -> None:
    reply = admin(token_plan.url, "GET", query)
    assert (reply.status, reply.error) == (400, message)


# ---- item 3: who may call -------------------------------------------------------------------


@pytest.mark.token_plan(clock="2026-05-01T00:00:00Z")
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/reset", b""),
        ("/scenario", b'{"name": "connection-error"}'),
        ("/scenario", b"name=connection-error"),
        ("/clock", b'{"advance": "+40d"}'),
    ],
)
@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "",
    ],
)
def test_writes_need_json_content_type(
    token_plan: TokenPlan, quiet_logs: None, path: str, body: bytes, content_type: str
) -> None:
    """What a cross-site form or a "simple" fetch can send is refused, and changes nothing."""
    token_plan.admin.buy_pack()
    before = token_plan.admin.state()
    reply = admin(token_plan.url, "POST", path, body, **{"Content-Type": content_type})
    got = repr(content_type.split(";")[0].strip().lower()) if content_type else "none"
    assert (reply.status, reply.error) == (415, TYPE_REFUSED.format(got=got))
    assert token_plan.admin.state() == before


@pytest.mark.token_plan(clock="2026-05-01T00:00:00Z")
@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "https://evil.example",
        "null",
        "http://127.0.0.1.evil.example:{port}",
        "http://localhost:{other}",
        "http://127.0.0.1:{other}",
        "file://",
        "http://[::1]:{other}",
    ],
)
def test_cross_origin_writes_are_refused(
    token_plan: TokenPlan, quiet_logs: None, origin: str
) -> None:
    """A page of another origin may send JSON (after a preflight this server never grants, but
    old browsers and extensions exist): its Origin is refused before anything changes."""
    port = port_of(token_plan.url)
    origin = origin.format(port=port, other=port + 1)
    before = token_plan.admin.state()
    reply = admin(token_plan.url, "POST", "/scenario", {"name": "connection-error"}, Origin=origin)
    assert (reply.status, reply.error) == (403, ORIGIN_REFUSED.format(origin=origin))
    assert token_plan.admin.state() == before


@pytest.mark.token_plan(clock="2026-05-01T00:00:00Z")
@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("127.0.0.1:{port}", "http://127.0.0.1:{port}"),  # the usage page, same origin
        ("localhost:{port}", "http://localhost:{port}"),
        ("localhost:{port}", "http://127.0.0.1:{port}"),  # loopback names, same port
        ("127.0.0.1:{port}", ""),  # a non-browser client sends no Origin
    ],
)
def test_same_origin_and_non_browser_writes_pass(
    token_plan: TokenPlan, quiet_logs: None, host: str, origin: str
) -> None:
    port = port_of(token_plan.url)
    reply = admin(
        token_plan.url,
        "POST",
        "/clock",
        {"advance": "+1d"},
        Host=host.format(port=port),
        Origin=origin.format(port=port),
    )
    assert reply.status == 200, reply.raw
    assert reply.json["now"] == "2026-05-02T00:00:00Z"


@pytest.mark.token_plan(clock="2026-05-01T00:00:00Z")
@pytest.mark.parametrize(
    "path", ["/state", "/journal", "/clock", "/health", "/", "/static/dashboard.js"]
)
@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:{port}", "127.0.0.1.nip.io:{port}", "localhost.evil"]
)
def test_a_foreign_host_reads_nothing(
    token_plan: TokenPlan, quiet_logs: None, path: str, host: str
) -> None:
    """DNS rebinding: a page on evil.example, its name now resolving to 127.0.0.1, reaches the
    socket with `Host: evil.example`; it used to read every full key from /state."""
    host = host.format(port=port_of(token_plan.url))
    reply = admin(token_plan.url, "GET", path, Host=host)
    assert (reply.status, reply.error) == (403, HOST_REFUSED.format(host=host))
    assert token_plan.api_key.encode() not in reply.raw


@pytest.mark.token_plan(clock="2026-05-01T00:00:00Z")
@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:{port}",
        "localhost:{port}",
        "LOCALHOST",
        "localhost.",
        "127.0.0.2",
        "[::1]:{port}",
        "[::ffff:127.0.0.1]:{port}",
        "0.0.0.0:{port}",
    ],
)
def test_loopback_hosts_read_the_state(token_plan: TokenPlan, host: str) -> None:
    reply = admin(token_plan.url, "GET", "/state", Host=host.format(port=port_of(token_plan.url)))
    assert reply.status == 200
    assert reply.json["seats"][0]["key"] == token_plan.api_key


def test_picture_urls_answer_whatever_the_host(token_plan: TokenPlan) -> None:
    """Picture URLs are handed out like OSS links, not part of the admin API: no Host check."""
    body = {
        "model": "qwen-image-2.0",
        "input": {"messages": [{"role": "user", "content": [{"text": "a boat"}]}]},
        "parameters": {"size": "512*512"},
    }
    headers = {**JSON, "Authorization": f"Bearer {token_plan.api_key}"}
    path = "/api/v1/services/aigc/multimodal-generation/generation"
    reply = send(token_plan.url, "POST", path, body, headers)
    assert reply.status == 200, reply.raw
    url = reply.json["output"]["choices"][0]["message"]["content"][0]["image"]
    where = urlsplit(url)
    picture = send(
        token_plan.url, "GET", f"{where.path}?{where.query}", None, {"Host": "cdn.example"}
    )
    assert picture.status == 200
    assert picture.raw.startswith(b"\x89PNG")


def test_admin_anywhere_lifts_the_host_check() -> None:
    with cli_server("--admin-anywhere") as server:
        reply = admin(server.url, "GET", "/state", Host="emulator.internal:8765")
        assert reply.status == 200
        # Cross-origin writes stay refused: the flag opens the API to clients, not to pages.
        refused = admin(server.url, "POST", "/reset", {}, Origin="http://evil.example")
        assert refused.status == 403


def test_the_bound_host_is_an_allowed_name() -> None:
    """`--host NAME` makes NAME a Host the admin API answers to (its clients use it)."""
    policy = AdminPolicy(bound_host="emulator.test")
    assert policy.refusal("GET", "127.0.0.1", {"Host": "emulator.test:8765"}) is None
    assert policy.refusal("GET", "127.0.0.1", {"Host": "other.test:8765"}) is not None
    wildcard = AdminPolicy(bound_host="0.0.0.0")
    assert wildcard.refusal("GET", "127.0.0.1", {"Host": "other.test:8765"}) is not None
    assert loopback("::ffff:127.0.0.1") and loopback("127.9.9.9") and not loopback("10.0.0.1")


# ---- what keeps working ---------------------------------------------------------------------


@pytest.mark.token_plan(clock="2026-05-01T00:00:00Z")
def test_the_usage_page_way_of_calling_works(token_plan: TokenPlan, quiet_logs: None) -> None:
    """What dashboard.js sends for each button: JSON, with the page's own Origin."""
    port = port_of(token_plan.url)
    page = {"Origin": f"http://127.0.0.1:{port}", "Host": f"127.0.0.1:{port}"}
    for path, body in [
        ("/clock", {"advance": "+1d"}),
        ("/packs", {}),
        ("/scenario", {"name": "all-spent"}),
        ("/reset", {}),
    ]:
        reply = admin(token_plan.url, "POST", path, body, **page)
        assert reply.status in (200, 201), (path, reply.raw)
    script = send(token_plan.url, "GET", "/_emulator/static/dashboard.js").raw.decode()
    assert 'headers: write ? { "content-type": "application/json" } : {}' in script


def test_the_status_command_still_reads_the_plan() -> None:
    with cli_server("--clock", "2026-05-01T00:00:00Z") as server:
        done = run_cli("status", "--port", str(port_of(server.url)))
    assert done.returncode == 0, done.stderr
    assert "Clock        2026-05-01T00:00:00Z (frozen)" in done.stdout


# ---- item 8: request values -----------------------------------------------------------------


@pytest.mark.parametrize("value", [10**400, -(10**400), 10**309], ids=["1e400", "-1e400", "1e309"])
def test_an_integer_temperature_beyond_float_range(
    token_plan: TokenPlan, quiet_logs: None, value: int
) -> None:
    """`int` to `float` overflowed inside the range check: a 500; now the range's 400."""
    client = openai.OpenAI(**token_plan.openai_kwargs(max_retries=0))
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="qwen3.6-plus", messages=HELLO, temperature=value)  # type: ignore[arg-type]
    assert caught.value.status_code == 400
    assert caught.value.body == {
        "message": RANGE,
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_parameter_error",
    }
    claude = anthropic.Anthropic(**token_plan.anthropic_kwargs(max_retries=0))
    with pytest.raises(anthropic.BadRequestError) as refused:
        claude.messages.create(
            model="glm-5", max_tokens=64, messages=HELLO, extra_body={"temperature": value}
        )
    assert refused.value.status_code == 400
    assert refused.value.body["error"]["message"] == RANGE  # type: ignore[index]
    assert token_plan.admin.journal() and token_plan.admin.seat()["used"] == 0


@pytest.mark.parametrize("expires", ["%C2%B2", "%D9%A3", "9" * 5000, "-1", "1e9", ""])
def test_odd_expires_on_a_picture_url(
    token_plan: TokenPlan, quiet_logs: None, expires: str
) -> None:
    """`Expires=²` passed isdigit() and failed int(): a 500. A value that is not ASCII digits
    is no expiry; an unknown picture is OSS's 404."""
    reply = send(token_plan.url, "GET", f"/_emulator/files/{'0' * 32}.png?Expires={expires}")
    assert reply.status == 404
    assert b"<Code>NoSuchKey</Code>" in reply.raw


def test_an_expires_in_the_past_still_expires(token_plan: TokenPlan) -> None:
    reply = send(token_plan.url, "GET", f"/_emulator/files/{'0' * 32}.png?Expires=0001")
    assert reply.status == 403
    assert b"<Message>Request has expired.</Message>" in reply.raw


# ---- the property: nothing that passes validation breaks a later request --------------------

NAMES = ["default", "all-spent", "subscription-expired", "key-suspended", "reset-next-month"]
POOL: list[Any] = [
    None, True, 0, -1, 1, 12, 1188, 1200, 95_700, 2**31, 2**63, 10**400, 1.5, 1e308,
    "", " ", "x" * 300, "\ud800", "a\ud800b", "²", "٣", "bob", "carol", "pro", "max", "standard",
    "launch", "current", *NAMES, "nope",
    "+0d", "+1d", "+31d", "+٣d", "-1d", "90s", "1w", "+9000w", "9999999999w", "1e9w", "inf",
    "2000-01-01T00:00:00Z", "2200-01-01T00:00:00Z", "2199-12-31T23:59:59Z",
    "1999-12-31T23:59:59Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
    "2026-05-01T00:00:00+14:00", "2026-05-01T00:00:00-23:59", "2026-02-29T00:00:00Z",
    [], {}, [[[[]]]], {"a": 1},
]  # fmt: skip
WRITES: list[tuple[str, tuple[str, ...]]] = [
    ("/clock", ("set", "advance", "freeze")),
    ("/subscription/renew", ("months",)),
    ("/subscription", ("months",)),
    ("/seats", ("tier", "member")),
    ("/seats/seat-1/assign", ("member",)),
    ("/seats/seat-2/assign", ("member",)),
    ("/seats/seat-1/reclaim", ()),
    ("/seats/seat-1/upgrade", ("tier",)),
    ("/seats/seat-1/reset-key", ()),
    ("/seats/seat-1/suspend", ()),
    ("/seats/seat-1/unsuspend", ()),
    ("/packs", ()),
    ("/scenario", ("name", "seed", "clock", "catalog")),
    ("/reset", ()),
]
READS = ["/usage?days=30", "/stats", "/journal?limit=20"]


def _mutate(rng: random.Random) -> tuple[str, dict[str, Any]]:
    path, known = rng.choice(WRITES)
    fields = [*known, "bogus"]
    body = {name: rng.choice(POOL) for name in rng.sample(fields, rng.randint(0, len(known)))}
    return path, body


def _check_serves(url: str) -> None:
    for read in READS:
        reply = admin(url, "GET", read)
        assert reply.status == 200, (read, reply.raw[:300])
    answer = admin(url, "GET", "/state")
    assert answer.status == 200, answer.raw[:300]
    state = answer.json
    keys = [seat["key"] for seat in state["seats"] if seat["key"]]
    assert chat_status(url, keys[0] if keys else "sk-sp-" + "0" * 32) < 500


def test_no_admin_value_that_passes_makes_a_later_request_fail(
    emulator_factory: Start, tmp_path: Path, quiet_logs: None
) -> None:
    """Seeded: 600 admin writes drawn from edge values (window edges, long terms, surrogates,
    huge numbers). Every answer is < 500 and JSON; after each accepted one, every read and a
    chat request still answer; and the state file the run leaves starts a server again."""
    state_file = str(tmp_path / "plan.sqlite")
    server = start_emulator(Config(clock="2026-05-01T00:00:00Z", state_file=state_file))
    try:
        rng = random.Random(10)
        accepted = 0
        for _ in range(600):
            path, body = _mutate(rng)
            reply = admin(server.url, "POST", path, body)
            assert reply.status < 500, (path, body, reply.raw[:300])
            assert isinstance(reply.json, dict)
            if reply.status < 300:
                accepted += 1
                _check_serves(server.url)
        assert accepted > 100  # the draw reaches the edges, not only refusals
        before = admin(server.url, "GET", "/state").json
        served = server.runtime.config  # what a restart must name to continue the file
    finally:
        server.stop()
    again = emulator_factory(
        Config(state_file=state_file, scenario=served.scenario, seed=served.seed)
    )
    after = admin(again.url, "GET", "/state").json["clock"]
    assert after["frozen"] == before["clock"]["frozen"]
    if after["frozen"]:
        assert after["now"] == before["clock"]["now"]
    else:  # a running clock went on between the two reads
        moved = parse_instant(after["now"]) - parse_instant(before["clock"]["now"])
        assert 0 <= moved < 60
    _check_serves(again.url)
