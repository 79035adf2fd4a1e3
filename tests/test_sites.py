"""The other plans' sites on the same port, for reproducing key / base-URL mix-ups (issue 3).

docs/sources.md's matrix through the official SDKs: only the key or the base URL changes from a
working Token Plan call. The Coding Plan lives under `/coding-plan/...`, pay-as-you-go DashScope
under `/dashscope/...`; their keys are in `GET /_emulator/state` (`coding_plan.key`,
`payg.key`). Then the Coding Plan's request-count quotas (docs/sources.md): per 5 hours rolling,
per week from Monday 00:00 UTC+8, per month from the subscription day.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import anthropic
import openai
import pytest

from emulator.config import Config, SeatConfig
from emulator.harness import RunningEmulator, start_emulator
from emulator.plan.clock import parse_instant
from tests.admin_api import USER, Admin, anthropic_client, openai_client

Factory = Callable[..., RunningEmulator]

TOKEN_PLAN = ("/compatible-mode/v1", "/apps/anthropic")
CODING_PLAN = ("/coding-plan/v1", "/coding-plan/apps/anthropic")
PAYG = ("/dashscope/compatible-mode/v1", "/dashscope/apps/anthropic")
INVALID_TOKEN = "invalid access token or token expired"
INCORRECT_KEY = (
    "Incorrect API key provided. For details, see: "
    "https://www.alibabacloud.com/help/en/model-studio/error-code#apikey-error"
)
BAD_KEY = "Invalid API-key provided."


@pytest.fixture(scope="module")
def sites() -> Iterator[RunningEmulator]:
    """One emulator for the refusals: a refused request changes nothing, so they can share it."""
    emulator = start_emulator(Config(clock="2026-05-01T00:00:00Z", seats=(SeatConfig("alice"),)))
    yield emulator
    emulator.stop()


def keys(emulator: RunningEmulator) -> dict[str, str]:
    state = Admin(emulator).state()
    return {
        "token_plan": emulator.api_key,
        "coding_plan": state["coding_plan"]["key"],
        "payg": state["payg"]["key"],
    }


def call(emulator: RunningEmulator, base: str, key: str, stream: bool = False) -> Any:
    """One chat turn on `base` with `key`, through the SDK of that base's protocol."""
    if "anthropic" in base:
        client = anthropic_client(emulator, key, base)
        if stream:
            with client.messages.stream(model="qwen3.6-plus", max_tokens=64, messages=USER) as s:  # type: ignore[arg-type]
                return s.get_final_message()
        return client.messages.create(model="qwen3.6-plus", max_tokens=64, messages=USER)  # type: ignore[arg-type]
    oai = openai_client(emulator, key, base)
    if stream:
        return list(oai.chat.completions.create(model="qwen3.6-plus", messages=USER, stream=True))  # type: ignore[call-overload]
    return oai.chat.completions.create(model="qwen3.6-plus", messages=USER)  # type: ignore[arg-type]


# ---- the mix-up matrix --------------------------------------------------------------------

ENVELOPE_401 = [
    # (key, base URL, message): answered in the called protocol's envelope
    ("token_plan", CODING_PLAN[0], INVALID_TOKEN),
    ("token_plan", CODING_PLAN[1], INVALID_TOKEN),
    ("payg", CODING_PLAN[0], INVALID_TOKEN),
    ("token_plan", PAYG[0], INCORRECT_KEY),
    ("token_plan", PAYG[1], INCORRECT_KEY),
    ("coding_plan", PAYG[0], INCORRECT_KEY),  # the observed answer; the FAQ says 403
]


@pytest.mark.parametrize(("key", "base", "message"), ENVELOPE_401)
def test_a_key_on_another_plans_base_url_gets_that_sites_401(
    sites: RunningEmulator, key: str, base: str, message: str
) -> None:
    """A Token Plan key on the Coding Plan base URL: 401 "invalid access token or token
    expired"; on the pay-as-you-go base URL: 401 "Incorrect API key provided. ...". OpenAI:
    AuthenticationError with code invalid_api_key; Anthropic: error.type authentication_error.
    Nothing is charged."""
    admin = Admin(sites)
    books = admin.books()
    if "anthropic" in base:
        with pytest.raises(anthropic.AuthenticationError) as refused:
            call(sites, base, keys(sites)[key])
        assert refused.value.status_code == 401
        assert isinstance(refused.value.body, dict)
        assert refused.value.body["type"] == "error"
        assert refused.value.body["error"] == {"type": "authentication_error", "message": message}
    else:
        with pytest.raises(openai.AuthenticationError) as denied:
            call(sites, base, keys(sites)[key])
        assert denied.value.status_code == 401
        assert (denied.value.code, denied.value.type) == (
            "invalid_api_key",
            "invalid_request_error",
        )
        assert isinstance(denied.value.body, dict)
        assert denied.value.body["message"] == message
    assert admin.books() == books


@pytest.mark.parametrize("key", ["payg", "coding_plan"])
@pytest.mark.parametrize("base", TOKEN_PLAN)
def test_another_plans_key_on_the_token_plan_gets_the_flat_invalid_api_key(
    sites: RunningEmulator, key: str, base: str
) -> None:
    """A pay-as-you-go or Coding Plan key on the Token Plan site: the gateway's flat 401
    {"code":"InvalidApiKey","message":"Invalid API-key provided.","request_id"}, and the Token
    Plan's books do not move."""
    admin = Admin(sites)
    books = admin.books()
    error = anthropic.AuthenticationError if "anthropic" in base else openai.AuthenticationError
    with pytest.raises(error) as refused:
        call(sites, base, keys(sites)[key], stream=True)
    body = refused.value.body
    assert isinstance(body, dict)
    assert list(body) == ["code", "message", "request_id"]
    assert (body["code"], body["message"]) == ("InvalidApiKey", BAD_KEY)
    assert admin.books() == books


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("base", PAYG)
def test_payg_key_on_its_own_site_works_and_never_touches_the_token_plan(
    sites: RunningEmulator, base: str, stream: bool
) -> None:
    """The FAQ's "most common cause of unexpected charges": a pay-as-you-go key with the
    pay-as-you-go base URL succeeds on both protocols, and the Token Plan ledger (seats, packs,
    usage) stays exactly as it was."""
    admin = Admin(sites)
    books = admin.books()
    answer = call(sites, base, keys(sites)["payg"], stream)
    assert answer
    assert admin.books() == books
    entry = admin.last()
    assert (entry["plan"], entry["status"], entry["seat"], entry["member"]) == (
        "payg",
        200,
        None,
        None,
    )
    assert (entry["cost"], entry["charged"]) == ("0", "0")
    assert entry["output_tokens"] > 0


@pytest.mark.parametrize("base", CODING_PLAN)
def test_coding_plan_key_on_its_own_site_works_and_counts_a_request(
    emulator_factory: Factory, base: str
) -> None:
    """The Coding Plan key on the Coding Plan base URL succeeds; it counts one request against
    each quota window and takes no Credits."""
    emulator = emulator_factory(clock="2026-05-01T00:00:00Z")
    admin = Admin(emulator)
    books = admin.books()
    call(emulator, base, keys(emulator)["coding_plan"])
    call(emulator, base, keys(emulator)["coding_plan"], stream=True)
    assert admin.state()["coding_plan"]["used"] == {"hour": 2, "week": 2, "month": 2}
    assert admin.books() == books
    assert [e["plan"] for e in admin.journal()] == ["coding_plan", "coding_plan"]


def raw_post(emulator: RunningEmulator, path: str, key: str) -> tuple[int, bytes]:
    where = urlsplit(emulator.url)
    connection = http.client.HTTPConnection(where.hostname or "", where.port, timeout=10)
    try:
        connection.request(
            "POST",
            path,
            body=b'{"model": "qwen3.6-plus", "max_tokens": 16, "messages": []}',
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("plan", "path"),
    [
        ("coding_plan", "/coding-plan/v1/v1/messages"),  # Claude Code given `/v1`
        ("coding_plan", "/coding-plan/apps/anthropic/messages"),  # no `/v1`
        ("coding_plan", "/coding-plan/v1/chat"),
        ("coding_plan", "/coding-plan/chat/completions"),
        ("payg", "/dashscope/compatible-mode/v1/chat"),
        ("payg", "/dashscope/apps/anthropic/v1/message"),
        ("payg", "/dashscope/v1/chat/completions"),
    ],
)
def test_a_wrong_path_on_the_other_sites_is_404_with_no_body(
    sites: RunningEmulator, plan: str, path: str
) -> None:
    """The Coding Plan FAQ's "404 status code (no body)" for a wrong base-URL path, with the
    site's own key (the Token Plan answers 400 "url error" instead)."""
    status, body = raw_post(sites, path, keys(sites)[plan])
    assert (status, body) == (404, b"")


@pytest.mark.parametrize("key_of", ["token_plan", "payg", "coding_plan", "junk"])
@pytest.mark.parametrize("path", ["/coding-plan/v1/v1/messages", "/dashscope/v1/chat/completions"])
def test_a_wrong_path_on_the_other_sites_is_404_whatever_the_key(
    sites: RunningEmulator, path: str, key_of: str
) -> None:
    """Those hosts route before they check the key: any key, even a wrong one, gets the bare
    404 (the FAQ's matrix: "any key, wrong path")."""
    key = "sk-" + "0" * 32 if key_of == "junk" else keys(sites)[key_of]
    assert raw_post(sites, path, key) == (404, b"")


def test_claude_code_given_the_openai_base_url_sees_a_bare_404(sites: RunningEmulator) -> None:
    """Through the SDK: the Anthropic client given the Coding Plan's OpenAI base URL (so it
    posts to `/coding-plan/v1/v1/messages`) gets a NotFoundError whose body is empty."""
    key = keys(sites)["coding_plan"]
    with pytest.raises(anthropic.NotFoundError) as missing:
        anthropic_client(sites, key, CODING_PLAN[0]).messages.create(
            model="qwen3.6-plus",
            max_tokens=64,
            messages=USER,  # type: ignore[arg-type]
        )
    assert missing.value.status_code == 404
    assert missing.value.response.content == b""


# ---- Coding Plan request quotas -----------------------------------------------------------
#
# The quotas count requests: Lite allows 1,200 per 5 hours, 9,000 per week, 18,000 per month.
# Sending thousands of requests through the SDK would take minutes, so each test pre-fills the
# Coding Plan's list of counted call times (`runtime.accounts.coding_plan.calls`, sorted clock
# instants; the admin API has no way to say "N calls were made at T") and sends only the
# boundary requests through the SDK.

WEDNESDAY = "2026-05-06T12:00:00Z"  # 20:00 UTC+8; that week began Mon 2026-05-04 00:00 UTC+8


def coding_plan(factory: Factory, subscribed: str, *filled: tuple[str, int]) -> RunningEmulator:
    """A Lite Coding Plan at WEDNESDAY with `count` calls already counted at each instant."""
    emulator = factory(clock=WEDNESDAY, subscription_start=subscribed, coding_plan_tier="lite")
    calls = emulator.runtime.accounts.coding_plan.calls
    for instant, count in filled:
        calls.extend([parse_instant(instant)] * count)
    assert calls == sorted(calls)
    return emulator


def assert_quota_spent(emulator: RunningEmulator, window: str) -> None:
    """429 insufficient_quota "<window> allocated quota exceeded" on both protocols; a refused
    request is not counted."""
    key = keys(emulator)["coding_plan"]
    message = f"{window} allocated quota exceeded"
    before = Admin(emulator).state()["coding_plan"]["used"]
    with pytest.raises(openai.RateLimitError) as refused:
        call(emulator, CODING_PLAN[0], key)
    assert (refused.value.status_code, refused.value.code) == (429, "insufficient_quota")
    assert isinstance(refused.value.body, dict)
    assert refused.value.body["message"] == message
    with pytest.raises(anthropic.RateLimitError) as limited:
        call(emulator, CODING_PLAN[1], key, stream=True)
    assert isinstance(limited.value.body, dict)
    assert limited.value.body["error"] == {"type": "rate_limit_error", "message": message}
    assert Admin(emulator).state()["coding_plan"]["used"] == before


def test_coding_plan_five_hour_quota_rolls(emulator_factory: Factory) -> None:
    """Lite: 1,200 requests per 5 hours, rolling. With 600 counted 4 h ago and 599 an hour ago,
    one more request is the 1,200th; the next is "hour allocated quota exceeded". An hour later
    the 600 from 4 h before are 5 h old and released."""
    emulator = coding_plan(
        emulator_factory,
        "2026-04-20T00:00:00Z",
        ("2026-05-06T08:00:00Z", 600),
        ("2026-05-06T11:00:00Z", 599),
    )
    admin, key = Admin(emulator), keys(emulator)["coding_plan"]
    call(emulator, CODING_PLAN[0], key)
    assert admin.state()["coding_plan"]["used"]["hour"] == 1_200
    assert_quota_spent(emulator, "hour")

    admin.set_clock("2026-05-06T12:59:59Z")
    assert_quota_spent(emulator, "hour")
    admin.set_clock("2026-05-06T13:00:00Z")  # the 08:00 calls are now 5 h old
    assert admin.state()["coding_plan"]["used"]["hour"] == 600
    call(emulator, CODING_PLAN[1], key)
    assert admin.state()["coding_plan"]["used"] == {"hour": 601, "week": 1_201, "month": 1_201}


def test_coding_plan_weekly_quota_resets_monday_midnight_utc8(emulator_factory: Factory) -> None:
    """Lite: 9,000 requests per week. With 8,999 counted early on Monday (UTC+8), the 9,000th
    succeeds and the next is "week allocated quota exceeded" until Monday 00:00 UTC+8 (Sunday
    16:00 UTC), not Monday 00:00 UTC."""
    emulator = coding_plan(
        emulator_factory, "2026-04-20T00:00:00Z", ("2026-05-03T16:00:01Z", 8_999)
    )
    admin, key = Admin(emulator), keys(emulator)["coding_plan"]
    call(emulator, CODING_PLAN[1], key)
    assert admin.state()["coding_plan"]["used"] == {"hour": 1, "week": 9_000, "month": 9_000}
    assert_quota_spent(emulator, "week")

    admin.set_clock("2026-05-10T15:59:59Z")  # Sunday 23:59:59 UTC+8
    assert_quota_spent(emulator, "week")
    admin.set_clock("2026-05-10T16:00:00Z")  # Monday 00:00 UTC+8
    assert admin.state()["coding_plan"]["used"]["week"] == 0
    call(emulator, CODING_PLAN[0], key)


def test_coding_plan_monthly_quota_resets_on_the_subscription_day(
    emulator_factory: Factory,
) -> None:
    """Lite: 18,000 requests per month from the subscription day (the 20th, 00:00 UTC+8). Two
    earlier weeks of 8,999 and 9,000 calls leave one: after it, "month allocated quota
    exceeded" until 2026-05-20 00:00 UTC+8 (2026-05-19T16:00Z)."""
    emulator = coding_plan(
        emulator_factory,
        "2026-04-20T00:00:00Z",
        ("2026-04-21T00:00:00Z", 8_999),
        ("2026-04-28T00:00:00Z", 9_000),
    )
    admin, key = Admin(emulator), keys(emulator)["coding_plan"]
    call(emulator, CODING_PLAN[0], key, stream=True)
    assert admin.state()["coding_plan"]["used"] == {"hour": 1, "week": 1, "month": 18_000}
    assert_quota_spent(emulator, "month")

    admin.set_clock("2026-05-19T15:59:59Z")
    assert_quota_spent(emulator, "month")
    admin.set_clock("2026-05-19T16:00:00Z")
    assert admin.state()["coding_plan"]["used"]["month"] == 0
    call(emulator, CODING_PLAN[1], key)


def test_coding_plan_month_without_the_subscription_day_resets_on_its_last_day(
    emulator_factory: Factory,
) -> None:
    """Subscribed on the 31st (UTC+8): February's month ends on Feb 28 00:00 UTC+8
    (2026-02-27T16:00Z), "or the last day of the month if there is no such day"."""
    emulator = emulator_factory(
        clock="2026-02-20T00:00:00Z",
        subscription_start="2026-01-31T00:00:00Z",
        coding_plan_tier="lite",
    )
    calls = emulator.runtime.accounts.coding_plan.calls  # see the note above the quota tests
    calls.extend([parse_instant("2026-02-02T00:00:00Z")] * 8_999)
    calls.extend([parse_instant("2026-02-10T00:00:00Z")] * 9_000)
    admin, key = Admin(emulator), keys(emulator)["coding_plan"]
    call(emulator, CODING_PLAN[0], key)
    assert_quota_spent(emulator, "month")
    admin.set_clock("2026-02-27T15:59:59Z")
    assert_quota_spent(emulator, "month")
    admin.set_clock("2026-02-27T16:00:00Z")
    assert admin.state()["coding_plan"]["used"]["month"] == 0
    call(emulator, CODING_PLAN[0], key)
