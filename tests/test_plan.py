"""The Token Plan's books (issue 3), driven through the real endpoints with the official SDKs.

Every rule of docs/sources.md and the FAQ is exercised as a user sees it: requests go through the
`openai` / `anthropic` clients; the clock is moved and the books are read over the admin API
(`POST /_emulator/clock`, `GET /_emulator/state`, `/journal`, `/stats`, `/usage`). Amounts are
compared exactly: the journal reports Credits as decimal strings, the state as floats of at most
six decimals (micro-Credits), both read into `Decimal`.

Sources: docs/sources.md (the Token Plan FAQ, usage-quota and team pages).
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from emulator.catalog import default_catalog
from emulator.config import ConfigError, PackConfig, SeatConfig, load_scenario
from emulator.harness import RunningEmulator
from emulator.plan.credits import MICRO, Cost, cost_of
from emulator.plan.credits import credits as as_credits
from tests.admin_api import (
    KEY_FORMAT,
    USER,
    Admin,
    anthropic_client,
    async_anthropic_client,
    async_openai_client,
    credits,
    openai_client,
)

Factory = Callable[..., RunningEmulator]

START = "2026-04-15T00:00:00Z"  # the subscription date: months reset on the 15th
NOW = "2026-05-01T00:00:00Z"  # a 1st of the month, mid-cycle: 14 days to the next reset
QUOTA_MESSAGE = "You exceeded your current quota, please check your plan and billing details."
BAD_KEY = {"code": "InvalidApiKey", "message": "Invalid API-key provided."}
ONE_SUBSCRIPTION = (
    "Each Alibaba Cloud account can have only one active Token Plan Team Edition subscription."
)


# ---- usage as the client received it, and what it must cost -------------------------------


@dataclass(frozen=True)
class Tokens:
    """A response's usage split as the Token Plan bills it: uncached input, cached, output."""

    uncached: int
    cached: int
    output: int

    def cost(self, model: str) -> Decimal:
        """input x rate_in + cached x rate_cached + output x rate_out, rates per million tokens
        from the model catalogue (exact for the catalogue's whole-number rates)."""
        rates = default_catalog().text_model(model)
        assert rates is not None
        r = rates.credits
        micro = self.uncached * r.input + self.cached * r.cached + self.output * r.output
        return Decimal(micro) / MICRO


def openai_tokens(usage: Any) -> Tokens:
    details = usage.prompt_tokens_details
    cached = (details.cached_tokens or 0) if details else 0
    return Tokens(usage.prompt_tokens - cached, cached, usage.completion_tokens)


def anthropic_tokens(usage: Any) -> Tokens:
    """Anthropic's `input_tokens` excludes cache reads and writes; a write is uncached input."""
    return Tokens(
        usage.input_tokens + (usage.cache_creation_input_tokens or 0),
        usage.cache_read_input_tokens or 0,
        usage.output_tokens,
    )


def ask_openai(
    client: openai.OpenAI, model: str = "qwen3.6-plus", stream: bool = False, **extra: Any
) -> Tokens:
    """One chat completion; the usage the client was told about."""
    if not stream:
        return openai_tokens(
            client.chat.completions.create(model=model, messages=USER, **extra).usage  # type: ignore[call-overload]
        )
    chunks = client.chat.completions.create(  # type: ignore[call-overload]
        model=model, messages=USER, stream=True, stream_options={"include_usage": True}, **extra
    )
    usage = [chunk.usage for chunk in chunks if chunk.usage is not None]
    assert len(usage) == 1
    return openai_tokens(usage[0])


def ask_anthropic(
    client: anthropic.Anthropic, model: str = "qwen3.6-plus", stream: bool = False
) -> Tokens:
    """One message; with `stream`, the usage of the final `message_delta`."""
    if not stream:
        return anthropic_tokens(
            client.messages.create(model=model, max_tokens=256, messages=USER).usage  # type: ignore[arg-type]
        )
    with client.messages.stream(model=model, max_tokens=256, messages=USER) as streamed:  # type: ignore[arg-type]
        return anthropic_tokens(streamed.get_final_message().usage)


def seat_used(admin: Admin, seat_id: str = "seat-1") -> Decimal:
    return credits(admin.seat(seat_id)["used"])


def ms(instant: str) -> int:
    return int(datetime.fromisoformat(instant.replace("Z", "+00:00")).timestamp() * 1000)


def plan(factory: Factory, *seats: SeatConfig, **overrides: Any) -> tuple[RunningEmulator, Admin]:
    """An emulator on a frozen clock at NOW with a subscription from START."""
    settings: dict[str, Any] = {"clock": NOW, "subscription_start": START, **overrides}
    if seats:
        settings["seats"] = seats
    emulator = factory(**settings)
    return emulator, Admin(emulator)


def assert_quota_refused(emulator: RunningEmulator, key: str | None = None) -> None:
    """All Credits spent: 429 `insufficient_quota` on both protocols, streaming or not; the
    refusal comes before any stream starts (the SDK raises on the call itself)."""
    oai = openai_client(emulator, key)
    claude = anthropic_client(emulator, key)
    for stream in (False, True):
        with pytest.raises(openai.RateLimitError) as refused:
            oai.chat.completions.create(model="qwen3.6-plus", messages=USER, stream=stream)  # type: ignore[call-overload]
        assert refused.value.status_code == 429
        assert refused.value.response.headers["content-type"].startswith("application/json")
        assert refused.value.code == "insufficient_quota"
        assert refused.value.type == "insufficient_quota"
        assert isinstance(refused.value.body, dict)
        assert refused.value.body["message"] == QUOTA_MESSAGE
        with pytest.raises(anthropic.RateLimitError) as limited:
            claude.messages.create(
                model="qwen3.6-plus",
                max_tokens=64,
                messages=USER,  # type: ignore[arg-type]
                stream=stream,
            )
        assert limited.value.status_code == 429
        body = limited.value.body
        assert isinstance(body, dict)
        assert body["error"] == {"type": "rate_limit_error", "message": QUOTA_MESSAGE}


# ---- Credits ------------------------------------------------------------------------------


def test_documented_qwen36_plus_example_costs_exactly_3_17328_credits() -> None:
    """The only published example: 8,349 uncached + 40,794 cached + 573 output tokens on
    qwen3.6-plus. At 200 / 20 / 1,200 Credits per million that is 1.6698 + 0.81588 + 0.6876 =
    3.17328 Credits exactly; the doc shows each part to 0.01 (1.67 + 0.82 + 0.69 ≈ 3.18)."""
    model = default_catalog().text_model("qwen3.6-plus")
    assert model is not None
    assert (model.credits.input, model.credits.cached, model.credits.output) == (200, 20, 1200)
    cost = cost_of(8_349, 40_794, 573, model.credits)
    assert cost == Cost(input=1_669_800, cached=815_880, output=687_600)
    assert as_credits(cost.total) == Decimal("3.17328")
    shown = [round(as_credits(part), 2) for part in (cost.input, cost.cached, cost.output)]
    assert shown == [Decimal("1.67"), Decimal("0.82"), Decimal("0.69")]
    assert sum(shown) == Decimal("3.18")


CHARGE_CASES = [
    ("openai", False, "qwen3.6-plus"),
    ("openai", True, "glm-5"),
    ("openai", False, "deepseek-v3.2"),
    ("anthropic", False, "MiniMax-M2.5"),
    ("anthropic", True, "qwen3.6-plus"),
]


@pytest.mark.parametrize(("protocol", "stream", "model"), CHARGE_CASES)
def test_a_request_is_charged_exactly_the_usage_the_client_received(
    emulator_factory: Factory, protocol: str, stream: bool, model: str
) -> None:
    """credits = uncached x rate_in + cached x rate_cached + output x rate_out, with the usage
    the client got and the catalogue's rates; the journal shows that cost, and the seat's
    `used` grows by exactly that much."""
    emulator, admin = plan(emulator_factory, SeatConfig("alice", "pro", used=1234.5))
    before = seat_used(admin)
    if protocol == "openai":
        tokens = ask_openai(openai_client(emulator), model, stream)
    else:
        tokens = ask_anthropic(anthropic_client(emulator), model, stream)
    expected = tokens.cost(model)
    assert expected > 0
    entry = admin.last()
    assert (entry["model"], entry["status"], entry["stream"]) == (model, 200, stream)
    assert (entry["member"], entry["seat"]) == ("alice", "seat-1")
    uncached = entry["input_tokens"] - entry["cached_tokens"]
    assert Tokens(uncached, entry["cached_tokens"], entry["output_tokens"]) == tokens
    assert credits(entry["cost"]) == credits(entry["charged"]) == expected
    assert entry["from_packs"] == []
    assert seat_used(admin) - before == expected


LONG_SYSTEM = " ".join(["context"] * 1_500)  # a prompt prefix of about 1,500 tokens


def test_a_cached_prefix_is_charged_at_the_cached_rate(emulator_factory: Factory) -> None:
    """The same long system prompt sent twice: the second answer reports the prefix as
    `prompt_tokens_details.cached_tokens` and the ledger charges those at the cached rate (20
    instead of 200 Credits per million on qwen3.6-plus), exactly as the formula says."""
    emulator, admin = plan(emulator_factory, SeatConfig("alice", "pro"))
    client = openai_client(emulator)
    messages = [{"role": "system", "content": LONG_SYSTEM}, *USER]
    costs = []
    for _ in range(2):
        before = seat_used(admin)
        usage = client.chat.completions.create(model="qwen3.6-plus", messages=messages).usage  # type: ignore[arg-type]
        tokens = openai_tokens(usage)
        assert (
            credits(admin.last()["charged"])
            == seat_used(admin) - before
            == tokens.cost("qwen3.6-plus")
        )
        assert admin.last()["cached_tokens"] == tokens.cached
        costs.append((tokens, tokens.cost("qwen3.6-plus")))
    (first, first_cost), (second, second_cost) = costs
    assert first.cached == 0
    assert second.cached > 1_000
    assert second.uncached + second.cached == first.uncached
    assert second_cost < first_cost


def test_explicit_cache_blocks_are_charged_create_at_input_then_read_at_cached_rate(
    emulator_factory: Factory,
) -> None:
    """An Anthropic `cache_control` block: the first request reports
    `cache_creation_input_tokens` (charged at the input rate, docs/fidelity.md), the second
    `cache_read_input_tokens` (charged at the cached rate); the journal matches both."""
    emulator, admin = plan(emulator_factory, SeatConfig("alice", "pro"))
    claude = anthropic_client(emulator)
    system = [{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}]
    seen = []
    for _ in range(2):
        before = seat_used(admin)
        usage = claude.messages.create(
            model="glm-5",
            max_tokens=64,
            system=system,  # type: ignore[arg-type]
            messages=USER,  # type: ignore[arg-type]
        ).usage
        tokens = anthropic_tokens(usage)
        assert credits(admin.last()["charged"]) == seat_used(admin) - before == tokens.cost("glm-5")
        seen.append((usage.cache_creation_input_tokens, usage.cache_read_input_tokens))
    (created, read_first), (created_again, read) = seen
    assert created and created > 1_000 and not read_first
    assert not created_again and read == created


# ---- order of deduction, depletion --------------------------------------------------------


def test_seat_first_then_packs_soonest_expiring_first(emulator_factory: Factory) -> None:
    """The seat's quota is drawn first, then shared packs, the soonest-expiring first. Here the
    seat has 0.01 Credits left and pack-1 (bought a day before pack-2) 0.01: one request takes
    both and the rest from pack-2, and the journal shows the split."""
    emulator, admin = plan(
        emulator_factory,
        SeatConfig("alice", "standard", used=24_999.99),
        packs=(PackConfig(used=624_999.99),),  # bought at NOW, expires 2026-06-01
    )
    admin.advance("+1d")
    pack2 = admin.post("/packs", status=201)
    assert (pack2["id"], pack2["expires_at"]) == ("pack-2", "2026-06-02T00:00:00Z")
    assert admin.pack("pack-1")["expires_at"] == "2026-06-01T00:00:00Z"

    cost = ask_openai(openai_client(emulator)).cost("qwen3.6-plus")
    assert cost > Decimal("0.02")
    entry = admin.last()
    assert credits(entry["cost"]) == credits(entry["charged"]) == cost
    split = [(pack, credits(amount)) for pack, amount in entry["from_packs"]]
    assert split == [("pack-1", Decimal("0.01")), ("pack-2", cost - Decimal("0.02"))]
    seat = admin.seat()
    assert (credits(seat["used"]), credits(seat["remaining"])) == (25_000, 0)
    assert credits(admin.pack("pack-1")["remaining"]) == 0
    assert credits(admin.pack("pack-2")["used"]) == cost - Decimal("0.02")

    # The next request draws on pack-2 alone.
    cost = ask_anthropic(anthropic_client(emulator)).cost("qwen3.6-plus")
    assert [p for p, _ in admin.last()["from_packs"]] == ["pack-2"]
    assert credits(admin.last()["charged"]) == cost


def test_spent_balance_stops_at_zero_and_further_requests_get_429(
    emulator_factory: Factory,
) -> None:
    """A request admitted with Credits left completes; its cost takes the balance to zero, not
    below. Every later request, OpenAI or Anthropic, streaming or not, gets 429
    insufficient_quota, and a refusal costs nothing."""
    emulator, admin = plan(emulator_factory, SeatConfig("alice", "standard", used=24_999.99))
    cost = ask_openai(openai_client(emulator)).cost("qwen3.6-plus")
    entry = admin.last()
    assert entry["status"] == 200
    assert credits(entry["cost"]) == cost > Decimal("0.01")
    assert credits(entry["charged"]) == Decimal("0.01")  # what was there, never more
    seat = admin.seat()
    assert (credits(seat["used"]), credits(seat["remaining"])) == (25_000, 0)

    books = admin.books()
    assert_quota_refused(emulator)
    assert admin.books() == books
    refusals = admin.journal()[-4:]
    assert [e["status"] for e in refusals] == [429] * 4
    assert {e["error"] for e in refusals} == {"insufficient_quota"}
    assert {credits(e["charged"]) for e in refusals} == {0}
    assert [e["stream"] for e in refusals] == [False, False, True, True]


def test_rejected_requests_cost_nothing(emulator_factory: Factory) -> None:
    """400 (bad parameter, input too long), 404 (unknown model, wrong protocol) and 401 (a
    mistyped key) change nothing in the books."""
    emulator, admin = plan(emulator_factory, SeatConfig("alice", "standard", used=100))
    oai, claude = openai_client(emulator), anthropic_client(emulator)
    books = admin.books()
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(model="qwen3.6-plus", messages=USER, max_tokens=0)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError) as too_long:
        oai.chat.completions.create(
            model="deepseek-v3.2",
            messages=[{"role": "user", "content": "x " * 100_000}],
        )
    assert "Range of input length should be [1, 98304]" in str(too_long.value.body)
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model="Qwen3.6-Plus", messages=USER)  # type: ignore[arg-type]
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.create(model="deepseek-v3.2", max_tokens=64, messages=USER)  # type: ignore[arg-type]
    with pytest.raises(openai.AuthenticationError):
        openai_client(emulator, emulator.api_key[:-1]).chat.completions.create(
            model="qwen3.6-plus",
            messages=USER,  # type: ignore[arg-type]
        )
    assert admin.books() == books
    entries = admin.journal()
    assert [e["status"] for e in entries] == [400, 400, 404, 404, 401]
    assert {credits(e["charged"]) for e in entries} == {0}


def test_buying_a_pack_restores_service_at_once(emulator_factory: Factory) -> None:
    """With seat and packs spent, buying a shared pack (625,000 Credits) lets the very next
    request through, charged to the pack."""
    emulator, admin = plan(emulator_factory, SeatConfig("alice", "standard", used=25_000))
    assert_quota_refused(emulator)
    pack = admin.post("/packs", status=201)
    assert (credits(pack["size"]), credits(pack["remaining"])) == (625_000, 625_000)
    assert pack["expires_at"] == "2026-06-01T00:00:00Z"
    cost = ask_openai(openai_client(emulator)).cost("qwen3.6-plus")
    assert [(p, credits(a)) for p, a in admin.last()["from_packs"]] == [("pack-1", cost)]
    assert credits(admin.state()["packs_remaining"]) == 625_000 - cost
    assert credits(admin.seat()["used"]) == 25_000


# ---- resets -------------------------------------------------------------------------------


def test_seat_resets_on_the_subscription_anniversary_not_the_first(
    emulator_factory: Factory,
) -> None:
    """Subscribed on the 15th: the 1st of the month changes nothing; 2026-05-14T23:59:59 still
    counts the month's spend; at 2026-05-15T00:00 the seat is back to its full 25,000 Credits,
    and what was left unused does not carry over."""
    emulator, admin = plan(
        emulator_factory, SeatConfig("alice", "standard", used=1_000), clock="2026-04-30T23:00:00Z"
    )
    spent = 1_000 + ask_openai(openai_client(emulator)).cost("qwen3.6-plus")
    assert seat_used(admin) == spent

    for moment in ("2026-05-01T00:00:00Z", "2026-05-14T23:59:59Z"):
        admin.set_clock(moment)
        assert seat_used(admin) == spent
        assert admin.state()["subscription"]["next_reset"] == "2026-05-15T00:00:00Z"

    admin.set_clock("2026-05-15T00:00:00Z")
    seat = admin.seat()
    assert (credits(seat["used"]), credits(seat["quota"])) == (0, 25_000)  # no carry-over
    assert credits(seat["remaining"]) == 25_000
    subscription = admin.state()["subscription"]
    assert subscription["cycle_start"] == "2026-05-15T00:00:00Z"
    assert subscription["next_reset"] == "2026-06-15T00:00:00Z"


def test_advancing_several_months_applies_the_resets(emulator_factory: Factory) -> None:
    """A spent seat refused at 2026-05-01 works again after the clock jumps +95 days, and counts
    only what was spent since the last anniversary (2026-07-15)."""
    emulator, admin = plan(emulator_factory, SeatConfig("alice", "standard", used=25_000))
    assert_quota_refused(emulator)
    assert admin.advance("+95d") == "2026-08-04T00:00:00Z"
    cost = ask_anthropic(anthropic_client(emulator)).cost("qwen3.6-plus")
    assert seat_used(admin) == cost
    subscription = admin.state()["subscription"]
    assert (subscription["cycle_start"], subscription["next_reset"]) == (
        "2026-07-15T00:00:00Z",
        "2026-08-15T00:00:00Z",
    )


def test_a_month_without_the_subscription_day_resets_on_its_last_day(
    emulator_factory: Factory,
) -> None:
    """Subscribed on January 31st: the months reset on Feb 28, Mar 31, Apr 30."""
    emulator, admin = plan(
        emulator_factory,
        SeatConfig("alice", "standard", used=500),
        clock="2026-02-10T00:00:00Z",
        subscription_start="2026-01-31T00:00:00Z",
    )
    client = openai_client(emulator)
    expected_resets = ["2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"]
    for reset, following in pairwise(expected_resets):
        assert admin.state()["subscription"]["next_reset"] == f"{reset}T00:00:00Z"
        spent = seat_used(admin)
        assert spent > 0
        day = int(reset[-2:])
        admin.set_clock(f"{reset[:8]}{day - 1:02d}T23:59:59Z")
        assert seat_used(admin) == spent
        admin.set_clock(f"{reset}T00:00:00Z")
        assert seat_used(admin) == 0
        assert admin.state()["subscription"]["next_reset"] == f"{following}T00:00:00Z"
        ask_openai(client)  # something to reset next time


# ---- packs --------------------------------------------------------------------------------


def test_a_pack_is_valid_one_month_from_purchase_and_expires_unused(
    emulator_factory: Factory,
) -> None:
    """A pack bought on 2026-04-10 is live until 2026-05-10T00:00 and then gone, unused Credits
    included: a seat that runs dry after that is refused, not charged to the expired pack."""
    emulator, admin = plan(
        emulator_factory,
        SeatConfig("alice", "standard"),
        clock="2026-04-10T00:00:00Z",
        subscription_start="2026-04-01T00:00:00Z",
    )
    pack = admin.post("/packs", status=201)
    assert (pack["purchased_at"], pack["expires_at"]) == (
        "2026-04-10T00:00:00Z",
        "2026-05-10T00:00:00Z",
    )
    admin.set_clock("2026-05-09T23:59:59Z")
    assert admin.pack("pack-1")["expired"] is False
    assert credits(admin.state()["packs_remaining"]) == 625_000

    admin.set_clock("2026-05-10T00:00:00Z")
    assert admin.pack("pack-1")["expired"] is True
    assert credits(admin.state()["packs_remaining"]) == 0

    # A pack's month always spans one seat reset (2026-05-01 here), so the seat is full again.
    # Spending 25,000 Credits through the SDK would take hundreds of requests: the admin API
    # has no "set used", so the test leaves the seat 0.01 Credits directly in the ledger.
    seat = emulator.runtime.ledger.seat("seat-1")
    seat.used = seat.quota - MICRO // 100
    cost = ask_openai(openai_client(emulator)).cost("qwen3.6-plus")
    entry = admin.last()
    assert credits(entry["cost"]) == cost > Decimal("0.01")
    assert (credits(entry["charged"]), entry["from_packs"]) == (Decimal("0.01"), [])
    assert_quota_refused(emulator)
    assert credits(admin.pack("pack-1")["used"]) == 0


# ---- upgrades -----------------------------------------------------------------------------


def test_upgrade_restores_service_and_adds_prorated_credits(emulator_factory: Factory) -> None:
    """standard -> pro on 2026-05-01 with the month ending 2026-05-15: 14 remaining days, so
    this month gains ceil(14 / 30 x (100,000 - 25,000)) = 35,000 Credits on top of the 25,000
    already there; from the next anniversary the seat has pro's 100,000."""
    emulator, admin = plan(emulator_factory, SeatConfig("alice", "standard", used=25_000))
    assert_quota_refused(emulator)

    seat = admin.post("/seats/seat-1/upgrade", {"tier": "pro"})
    assert seat["tier"] == "pro"
    assert credits(seat["quota"]) == 25_000 + 35_000
    assert credits(seat["remaining"]) == 35_000
    cost = ask_openai(openai_client(emulator)).cost("qwen3.6-plus")
    assert seat_used(admin) == 25_000 + cost
    (item,) = admin.get("/stats")["Data"]["Items"]
    assert (item["SeatType"], credits(item["SeatCredits"])) == ("pro", 60_000)

    # pro -> max in the same month: ceil(14 / 30 x 150,000) = 70,000 more.
    seat = admin.post("/seats/seat-1/upgrade", {"tier": "max"})
    assert credits(seat["quota"]) == 25_000 + 35_000 + 70_000

    admin.set_clock("2026-05-15T00:00:00Z")
    seat = admin.seat()
    assert (credits(seat["quota"]), credits(seat["used"])) == (250_000, 0)


def test_upgrade_counts_a_started_day_as_a_whole_one(emulator_factory: Factory) -> None:
    """13.5 days before the reset count as 14 (docs/fidelity.md): +35,000 for standard -> pro."""
    _, admin = plan(emulator_factory, SeatConfig("alice", "standard"), clock="2026-05-01T12:00:00Z")
    seat = admin.post("/seats/seat-1/upgrade", {"tier": "pro"})
    assert credits(seat["quota"]) == 60_000


def test_downgrades_and_unknown_tiers_are_refused(emulator_factory: Factory) -> None:
    """Only upgrades exist: pro -> standard, pro -> pro and an unknown tier are 400s that leave
    the seat as it was."""
    _, admin = plan(emulator_factory, SeatConfig("alice", "pro", used=10))
    books = admin.books()
    for tier in ("standard", "pro", "ultra", ""):
        status, body = admin.call("POST", "/seats/seat-1/upgrade", {"tier": tier})
        assert status == 400, body
        assert body["error"]
    assert admin.books() == books


# ---- the subscription: expiry, renewal, one per account -----------------------------------


def assert_invalid_key(emulator: RunningEmulator, key: str) -> None:
    """The gateway's flat 401 on both protocols: {"code","message","request_id"}."""
    with pytest.raises(openai.AuthenticationError) as oai_refused:
        openai_client(emulator, key).chat.completions.create(model="qwen3.6-plus", messages=USER)  # type: ignore[arg-type]
    body = oai_refused.value.body
    assert isinstance(body, dict)
    assert list(body) == ["code", "message", "request_id"]
    assert {k: body[k] for k in ("code", "message")} == BAD_KEY
    with pytest.raises(anthropic.AuthenticationError) as refused:
        anthropic_client(emulator, key).messages.create(
            model="qwen3.6-plus",
            max_tokens=64,
            messages=USER,  # type: ignore[arg-type]
        )
    body = refused.value.body
    assert isinstance(body, dict)
    assert {k: body[k] for k in ("code", "message")} == BAD_KEY


def test_an_expired_subscription_answers_invalid_api_key(emulator_factory: Factory) -> None:
    """A one-month subscription from 2026-04-15 works until 2026-05-14T23:59:59; from
    2026-05-15 its keys get the flat 401 "Invalid API-key provided." and the seats show as
    expired."""
    emulator, admin = plan(emulator_factory, SeatConfig("alice", "pro"), subscription_months=1)
    admin.set_clock("2026-05-14T23:59:59Z")
    ask_openai(openai_client(emulator))
    admin.set_clock("2026-05-15T00:00:00Z")
    books = admin.books()
    assert_invalid_key(emulator, emulator.api_key)
    assert admin.books() == books
    state = admin.state()
    assert state["subscription"]["expired"] is True
    assert state["subscription"]["end"] == "2026-05-15T00:00:00Z"
    assert state["subscription"]["seats"]["expired"] == 1
    assert admin.seat()["status"] == "expired"


def test_renewal_extends_validity_but_adds_no_credits(emulator_factory: Factory) -> None:
    """Renewing a spent subscription mid-cycle moves the end date only: the seat stays at zero
    and keeps answering 429 until the anniversary, after which the renewed term carries on."""
    emulator, admin = plan(
        emulator_factory, SeatConfig("alice", "standard", used=25_000), subscription_months=1
    )
    assert_quota_refused(emulator)
    books = admin.books()
    renewed = admin.post("/subscription/renew", {"months": 2})
    assert (renewed["end"], renewed["months"]) == ("2026-07-15T00:00:00Z", 3)
    assert admin.books() == books
    assert_quota_refused(emulator)

    admin.set_clock("2026-05-15T00:00:00Z")  # the old end date: still valid, quota reset
    cost = ask_openai(openai_client(emulator)).cost("qwen3.6-plus")
    assert seat_used(admin) == cost


def test_one_subscription_per_account_and_a_new_one_after_expiry_has_new_keys(
    emulator_factory: Factory,
) -> None:
    """Subscribing while a subscription is active is refused (409, the FAQ's sentence). Once it
    has expired it cannot be renewed; subscribing again gives the same seats new keys, and the
    old keys stay invalid."""
    emulator, admin = plan(emulator_factory, SeatConfig("alice", "pro"), subscription_months=1)
    status, body = admin.call("POST", "/subscription", {"months": 1})
    assert (status, body) == (409, {"error": ONE_SUBSCRIPTION})

    old_key = emulator.api_key
    admin.set_clock("2026-06-01T00:00:00Z")
    assert_invalid_key(emulator, old_key)
    status, body = admin.call("POST", "/subscription/renew", {"months": 1})
    assert status == 409, body  # too late to renew (the old keys stay dead): subscribe again
    assert_invalid_key(emulator, old_key)
    state = admin.post("/subscription", {"months": 1}, status=201)
    assert state["subscription"]["start"] == "2026-06-01T00:00:00Z"
    assert state["subscription"]["expired"] is False
    new_key = admin.key("alice")
    assert re.match(KEY_FORMAT, new_key)
    assert new_key != old_key
    assert_invalid_key(emulator, old_key)
    ask_openai(openai_client(emulator, new_key))
    ask_anthropic(anthropic_client(emulator, new_key))
    assert admin.call("POST", "/subscription", {"months": 1})[0] == 409


# ---- seats and keys -----------------------------------------------------------------------


def test_an_unassigned_seat_has_no_key_and_assigning_generates_one(
    emulator_factory: Factory,
) -> None:
    """A seat is assigned to a member, then gets its key: `sk-sp-` + 32 lowercase hex. The
    member's requests draw on that seat."""
    emulator, admin = plan(emulator_factory, SeatConfig("alice", "pro"), SeatConfig(None, "max"))
    free = admin.seat("seat-2")
    assert (free["member"], free["key"], free["status"]) == (None, None, "unassigned")
    assert admin.state()["subscription"]["seats"] == {
        "total": 2,
        "assigned": 1,
        "unassigned": 1,
        "expired": 0,
    }
    status, body = admin.call("POST", "/seats/seat-2/reset-key")
    assert status == 409, body  # no key without an assignment

    seat = admin.post("/seats/seat-2/assign", {"member": "bob"})
    assert seat["member"] == "bob"
    assert re.match(KEY_FORMAT, seat["key"])
    assert seat["key_masked"] == "sk-sp-****" + seat["key"][-4:]
    cost = ask_anthropic(anthropic_client(emulator, seat["key"])).cost("qwen3.6-plus")
    assert (admin.last()["member"], admin.last()["seat"]) == ("bob", "seat-2")
    assert seat_used(admin, "seat-2") == cost
    assert seat_used(admin, "seat-1") == 0


def test_resetting_a_key_invalidates_the_old_one_at_once(emulator_factory: Factory) -> None:
    """After `reset-key` the old key gets the flat 401 and the new key works on the same seat."""
    emulator, admin = plan(emulator_factory, SeatConfig("alice", "pro"))
    old_key = emulator.api_key
    ask_openai(openai_client(emulator, old_key))
    new_key = admin.post("/seats/seat-1/reset-key")["key"]
    assert re.match(KEY_FORMAT, new_key)
    assert new_key != old_key
    assert_invalid_key(emulator, old_key)
    before = seat_used(admin)
    cost = ask_openai(openai_client(emulator, new_key)).cost("qwen3.6-plus")
    assert seat_used(admin) == before + cost


def test_reclaiming_a_seat_invalidates_its_key(emulator_factory: Factory) -> None:
    """A reclaimed seat is unassigned with no key; its old key gets the flat 401. Assigning it
    again gives a different key."""
    emulator, admin = plan(emulator_factory, SeatConfig("alice", "pro"), SeatConfig("bob", "pro"))
    bob_key = admin.key("bob")
    ask_openai(openai_client(emulator, bob_key))
    seat = admin.post("/seats/seat-2/reclaim")
    assert (seat["member"], seat["key"], seat["status"]) == (None, None, "unassigned")
    assert_invalid_key(emulator, bob_key)
    again = admin.post("/seats/seat-2/assign", {"member": "carol"})
    assert again["key"] != bob_key
    ask_openai(openai_client(emulator, again["key"]))
    ask_openai(openai_client(emulator, admin.key("alice")))  # other seats are untouched


def test_a_suspended_key_gets_403_access_denied_until_unsuspended(
    emulator_factory: Factory,
) -> None:
    """The usage-policy case (docs/fidelity.md): a suspended seat's key gets the gateway's flat
    403 {"code":"AccessDenied","message":"Access denied.","request_id"} on both protocols and
    costs nothing; `unsuspend` restores it."""
    emulator, admin = plan(emulator_factory, SeatConfig("alice", "pro"))
    assert admin.post("/seats/seat-1/suspend")["status"] == "suspended"
    books = admin.books()
    with pytest.raises(openai.PermissionDeniedError) as denied:
        ask_openai(openai_client(emulator))
    body = denied.value.body
    assert isinstance(body, dict)
    assert list(body) == ["code", "message", "request_id"]
    assert (body["code"], body["message"]) == ("AccessDenied", "Access denied.")
    assert re.match(r"^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$", body["request_id"])
    with pytest.raises(anthropic.PermissionDeniedError) as refused:
        ask_anthropic(anthropic_client(emulator), stream=True)
    assert isinstance(refused.value.body, dict)
    assert refused.value.body["code"] == "AccessDenied"
    assert admin.books() == books

    assert admin.post("/seats/seat-1/unsuspend")["status"] == "active"
    ask_openai(openai_client(emulator))
    ask_anthropic(anthropic_client(emulator), stream=True)


# ---- concurrency --------------------------------------------------------------------------


# 3.000001 Credits left: charges are multiples of 50 micro-Credits, so no sum of them lands on
# it exactly, and exactly one request straddles seat and pack whatever order they arrive in.
@pytest.mark.parametrize("left", [None, Decimal("3.000001")], ids=["seat", "seat-then-pack"])
async def test_concurrent_requests_on_one_key_lose_no_charge(
    emulator_factory: Factory, left: Decimal | None
) -> None:
    """50 concurrent requests on one key from four clients (OpenAI and Anthropic, streaming and
    not): the seat's (and pack's) spend equals the sum of the journal's charges to the last
    micro-Credit, and equals what the usage the clients received is worth. In the second case
    the seat runs out part-way and the rest is drawn from a pack."""
    used = 0.0 if left is None else float(25_000 - left)
    emulator, admin = plan(
        emulator_factory,
        SeatConfig("alice", "standard", used=used),
        packs=() if left is None else (PackConfig(),),
    )
    oai = async_openai_client(emulator)
    claude = async_anthropic_client(emulator)
    oai_twin = async_openai_client(emulator)
    claude_twin = async_anthropic_client(emulator)
    models = ("qwen3.6-plus", "glm-5", "MiniMax-M2.5")

    async def one(index: int) -> Decimal:
        model = models[index % 3]
        kind = index % 4
        if kind == 0:
            reply = await oai.chat.completions.create(model=model, messages=USER)  # type: ignore[arg-type]
            return openai_tokens(reply.usage).cost(model)
        if kind == 1:
            chunks = await oai_twin.chat.completions.create(  # type: ignore[call-overload]
                model=model, messages=USER, stream=True, stream_options={"include_usage": True}
            )
            usages = [chunk.usage async for chunk in chunks if chunk.usage is not None]
            return openai_tokens(usages[0]).cost(model)
        if kind == 2:
            message = await claude.messages.create(model=model, max_tokens=128, messages=USER)  # type: ignore[arg-type]
            return anthropic_tokens(message.usage).cost(model)
        async with claude_twin.messages.stream(model=model, max_tokens=128, messages=USER) as s:  # type: ignore[arg-type]
            final = await s.get_final_message()
        return anthropic_tokens(final.usage).cost(model)

    worth = await asyncio.gather(*(one(i) for i in range(50)))

    entries = list(emulator.runtime.journal.entries)
    assert len(entries) == 50
    assert {(e.status, e.seat) for e in entries} == {(200, "seat-1")}
    ledger = emulator.runtime.ledger
    seat, packs = ledger.seat("seat-1"), ledger.packs
    start = round(used * MICRO)
    charged = sum(e.charged for e in entries)
    assert seat.used - start + sum(p.used for p in packs) == charged  # integers of micro-Credits
    assert sum(e.cost for e in entries) == charged  # nothing ran out
    assert as_credits(charged) == sum(worth)

    journal = admin.journal()
    assert sum(credits(e["charged"]) for e in journal) == sum(worth)
    from_packs = sum(credits(a) for e in journal for _, a in e["from_packs"])
    assert seat_used(admin) - credits(used) == sum(worth) - from_packs
    if left is not None:
        assert credits(admin.seat()["remaining"]) == 0
        assert from_packs == sum(worth) - left
        assert credits(admin.pack("pack-1")["used"]) == from_packs
        crossing = [
            e
            for e in journal
            if e["from_packs"]
            and credits(e["charged"]) > sum(credits(a) for _, a in e["from_packs"])
        ]
        assert len(crossing) == 1  # exactly one request straddled seat and pack
    else:
        assert from_packs == 0


# ---- the admin views: GetSubscriptionStats, usage analysis --------------------------------


def test_subscription_stats_agree_with_the_state(emulator_factory: Factory) -> None:
    """GET /_emulator/stats is shaped like GetSubscriptionStats (docs/sources.md) and its numbers
    are the state's: per SeatType the next reset (ms), seat counts, and monthly and remaining
    Credits summed over that tier's seats."""
    emulator, admin = plan(
        emulator_factory,
        SeatConfig("alice", "standard", used=2_000),
        SeatConfig(None, "standard"),
        SeatConfig("bob", "pro"),
        SeatConfig("carol", "max", used=250_000),
    )
    ask_openai(openai_client(emulator))
    ask_anthropic(anthropic_client(emulator, admin.key("bob")))

    stats = admin.get("/stats")
    assert (stats["Success"], stats["Code"]) == (True, "Success")
    assert isinstance(stats["RequestId"], str)
    state = admin.state()
    data = stats["Data"]
    assert data["SubscriptionStartTime"] == ms(state["subscription"]["start"]) == ms(START)
    assert data["SubscriptionEndTime"] == ms(state["subscription"]["end"])
    expected = []
    for tier in ("standard", "pro", "max"):
        seats = [s for s in state["seats"] if s["tier"] == tier]
        expected.append(
            {
                "SeatType": tier,
                "SeatRefreshTime": ms(state["subscription"]["next_reset"]),
                "TotalSeats": len(seats),
                "AssignedSeats": sum(1 for s in seats if s["member"]),
                "SeatCredits": sum(credits(s["quota"]) for s in seats),
                "SeatRemainingCredits": sum(credits(s["remaining"]) for s in seats),
            }
        )
    items = [
        {
            **item,
            "SeatCredits": credits(item["SeatCredits"]),
            "SeatRemainingCredits": credits(item["SeatRemainingCredits"]),
        }
        for item in data["Items"]
    ]
    assert items == expected
    assert [i["TotalSeats"] for i in items] == [2, 1, 1]
    assert [i["AssignedSeats"] for i in items] == [1, 1, 1]
    assert items[0]["SeatRefreshTime"] == ms("2026-05-15T00:00:00Z")
    assert items[0]["SeatRemainingCredits"] == 50_000 - seat_used(admin, "seat-1")
    assert items[2]["SeatRemainingCredits"] == 0


def journal_sums(entries: list[dict[str, Any]], field: str) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for entry in entries:
        if entry["plan"] == "token_plan" and entry["status"] == 200:
            sums[entry[field]] += credits(entry["charged"])
    return dict(sums)


def usage_sums(usage: dict[str, Any], field: str) -> dict[str, Decimal]:
    return {name: credits(amount) for name, amount in usage[field].items()}


def test_usage_by_model_and_member_agrees_with_the_journal(emulator_factory: Factory) -> None:
    """GET /_emulator/usage?days=1|7|30 sums the journal's charges by model and by member;
    yesterday's usage leaves the 1-day window when the clock moves on but stays in 7 and 30."""
    emulator, admin = plan(
        emulator_factory,
        SeatConfig("alice", "pro"),
        SeatConfig("bob", "pro"),
        clock="2026-05-01T10:00:00Z",
    )
    alice, bob = admin.key("alice"), admin.key("bob")
    ask_openai(openai_client(emulator, alice), "qwen3.6-plus")
    ask_anthropic(anthropic_client(emulator, alice), "glm-5", stream=True)
    ask_openai(openai_client(emulator, bob), "deepseek-v3.2", stream=True)
    first_day = admin.journal()
    for days in (1, 7, 30):
        usage = admin.get(f"/usage?days={days}")
        assert usage_sums(usage, "by_model") == journal_sums(first_day, "model")
        assert usage_sums(usage, "by_member") == journal_sums(first_day, "member")
        assert credits(usage["total"]) == sum(journal_sums(first_day, "model").values())

    admin.advance("+1d")
    ask_anthropic(anthropic_client(emulator, bob), "MiniMax-M2.5")
    everything = admin.journal()
    today = everything[len(first_day) :]
    usage = admin.get("/usage?days=1")
    assert (
        usage_sums(usage, "by_model")
        == journal_sums(today, "model")
        == {"MiniMax-M2.5": credits(today[0]["charged"])}
    )
    assert usage_sums(usage, "by_member") == journal_sums(today, "member")
    assert [d["date"] for d in usage["by_day"]] == ["2026-05-02"]
    for days in (7, 30):
        usage = admin.get(f"/usage?days={days}")
        assert usage_sums(usage, "by_model") == journal_sums(everything, "model")
        assert usage_sums(usage, "by_member") == journal_sums(everything, "member")
        by_day = {d["date"]: credits(d["credits"]) for d in usage["by_day"] if d["credits"]}
        assert by_day == {
            "2026-05-01": sum(journal_sums(first_day, "model").values()),
            "2026-05-02": sum(journal_sums(today, "model").values()),
        }
        assert len(usage["by_day"]) == days
    status, body = admin.call("GET", "/usage?days=2")
    assert status == 400, body


# ---- rates a scenario sets ----------------------------------------------------------------


def test_a_scenario_sets_the_credit_rates(emulator_factory: Factory, tmp_path: Any) -> None:
    """The unpublished rates are assumptions, so a scenario can replace them: text models per
    million tokens, image models per image; the ledger charges what the scenario says."""
    path = Path(tmp_path) / "rates.yaml"
    path.write_text(
        "priced:\n"
        "  clock: 2026-05-01T00:00:00Z\n"
        "  rates:\n"
        "    glm-5: {input: 1000000, output: 0, cached: 0}\n"
        "    qwen-image-2.0: {per_image: 7}\n"
    )
    emulator = emulator_factory(load_scenario("priced", path))
    admin = Admin(emulator)
    client = openai.OpenAI(**emulator.openai_kwargs(max_retries=0))
    reply = client.chat.completions.create(
        model="glm-5", messages=[{"role": "user", "content": "Hi"}]
    )
    assert reply.usage is not None
    assert credits(admin.last()["cost"]) == Decimal(reply.usage.prompt_tokens)  # 1 Credit a token
    request = urllib.request.Request(
        emulator.url + "/api/v1/services/aigc/multimodal-generation/generation",
        data=json.dumps(
            {
                "model": "qwen-image-2.0",
                "input": {"messages": [{"role": "user", "content": [{"text": "a boat"}]}]},
                "parameters": {"size": "512*512", "n": 2},
            }
        ).encode(),
        headers={"Authorization": f"Bearer {emulator.api_key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as answer:
        assert answer.status == 200
    assert credits(admin.last()["cost"]) == Decimal(14)


def test_a_scenario_rate_for_an_unknown_model_is_refused(tmp_path: Any) -> None:
    """A rate for a model the catalogue lacks is a validation error with file and line."""
    path = Path(tmp_path) / "rates.yaml"
    path.write_text("priced:\n  rates:\n    glm5: {input: 1}\n")
    with pytest.raises(ConfigError, match=r"rates.yaml:3: priced.rates: names no model 'glm5'"):
        load_scenario("priced", path)
