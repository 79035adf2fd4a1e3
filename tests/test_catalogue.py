"""The catalogue of documented cases: every scenario in the embedded scenarios.yaml, run with the
real openai and anthropic SDKs, gives the outcome its description documents.

`EXPECTED` is the table (scenario name -> outcome) that drives the test. It must name every
scenario in the file: a scenario added without its expected outcome fails the suite.
Sources: the FAQ's "Common errors and solutions" and billing sections, docs/sources.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import anthropic
import openai
import pytest

from emulator.catalog import base_catalog, default_catalog
from emulator.config import load_scenario, scenario_names
from emulator.harness import RunningEmulator
from tests.admin_api import Admin, anthropic_client, credits, openai_client

USER: list[Any] = [{"role": "user", "content": "Hello"}]
NO_KEY = "No API-key provided."
BAD_KEY = "Invalid API-key provided."
QUOTA = "You exceeded your current quota, please check your plan and billing details."
RATE = "Requests rate limit exceeded, please try again later."
NOT_FOUND = "model '{model}' not found or not supported"
TOO_LONG = "<400> InternalError.Algo.InvalidParameter: Range of input length should be [1, {limit}]"
PAYG = (
    "Incorrect API key provided. For details, see: "
    "https://www.alibabacloud.com/help/en/model-studio/error-code#apikey-error"
)
TEXT_MODELS = [m.id for m in default_catalog().text_models.values()]
ANTHROPIC_MODELS = [m.id for m in default_catalog().text_models.values() if m.speaks("anthropic")]


@pytest.fixture(autouse=True)
def _no_sdk_credentials_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDKs read keys from the environment when an argument is None: keep them out."""
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)


# ---- what the SDKs report -----------------------------------------------------------------


def openai_error(error: openai.APIStatusError) -> tuple[int, Any, Any, str]:
    """Status, `.code`, `.type` and the body's message (a flat gateway body has no type)."""
    body = error.body
    assert isinstance(body, dict), body
    return error.status_code, error.code, error.type, body["message"]


def anthropic_error(error: anthropic.APIStatusError) -> tuple[int, str, str]:
    """Status, the envelope's `error.type` (or a flat gateway body's `code`) and message."""
    body = error.body
    assert isinstance(body, dict), body
    assert body["request_id"] == error.response.headers["x-request-id"]
    if "error" in body:
        assert body["type"] == "error"
        return error.status_code, body["error"]["type"], body["error"]["message"]
    assert list(body) == ["code", "message", "request_id"]
    return error.status_code, body["code"], body["message"]


def is_broken_connection(error: BaseException) -> bool:
    """A connection that broke, as an SDK reports it: its APIConnectionError, or (mid-stream,
    where some SDKs do not wrap it) the HTTP client's transport error."""
    names = {cls.__name__ for cls in type(error).__mro__}
    return bool(names & {"APIConnectionError", "TransportError"})


def chat(client: openai.OpenAI, model: str = "qwen3.6-plus") -> str:
    completion = client.chat.completions.create(model=model, messages=USER)
    assert completion.object == "chat.completion"
    return completion.choices[0].message.content or ""


def message(client: anthropic.Anthropic, model: str = "glm-5") -> str:
    reply = client.messages.create(model=model, max_tokens=64, messages=USER)
    assert reply.type == "message"
    return "".join(block.text for block in reply.content if block.type == "text")


# ---- outcomes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Refused:
    """Every request (both SDKs, streaming or not, every model tried) is refused before any
    answer. `message` is a template: `{model}` the model asked for, `{limit}` its max_input.
    A flat gateway body has no OpenAI `type`; the Anthropic SDK then shows its `code`."""

    status: int
    openai_class: type[openai.APIStatusError]
    anthropic_class: type[anthropic.APIStatusError]
    openai_code: str
    openai_type: str | None
    anthropic_type: str  # error.type, or the flat body's code
    message: str
    rule: str | None  # the rule the journal names (`{model}` filled in); None: the plan refused
    openai_models: tuple[str, ...] = ("qwen3.6-plus",)
    anthropic_models: tuple[str, ...] = ("glm-5",)

    def expected(self, model: str) -> str:
        limit = default_catalog().text_models[model].max_input
        return self.message.format(model=model, limit=limit)

    def answered_by(self, model: str) -> str | None:
        return None if self.rule is None else self.rule.format(model=model)

    def __call__(self, emulator: RunningEmulator) -> None:
        admin = Admin(emulator)
        oai, claude = openai_client(emulator), anthropic_client(emulator)
        for model in self.openai_models:
            for stream in (False, True):
                with pytest.raises(self.openai_class) as caught:
                    oai.chat.completions.create(model=model, messages=USER, stream=stream)
                assert openai_error(caught.value) == (
                    self.status,
                    self.openai_code,
                    self.openai_type,
                    self.expected(model),
                )
                assert admin.last()["rule"] == self.answered_by(model)
        for model in self.anthropic_models:
            with pytest.raises(self.anthropic_class) as refused:
                claude.messages.create(model=model, max_tokens=64, messages=USER)
            assert anthropic_error(refused.value) == (
                self.status,
                self.anthropic_type,
                self.expected(model),
            )
            assert admin.last()["rule"] == self.answered_by(model)
        assert all(credits(entry["charged"]) == 0 for entry in admin.journal())


def unauthorized(message: str, rule: str | None) -> Refused:
    """The gateway's flat 401 InvalidApiKey."""
    return Refused(
        401,
        openai.AuthenticationError,
        anthropic.AuthenticationError,
        "InvalidApiKey",
        None,
        "InvalidApiKey",
        message,
        rule,
    )


def quota_spent(rule: str | None = None) -> Refused:
    return Refused(
        429,
        openai.RateLimitError,
        anthropic.RateLimitError,
        "insufficient_quota",
        "insufficient_quota",
        "rate_limit_error",
        QUOTA,
        rule,
    )


def healthy(emulator: RunningEmulator) -> None:
    """default: both SDKs are answered; the key only in x-api-key is not provided at all."""
    assert chat(openai_client(emulator))
    assert message(anthropic_client(emulator))
    with pytest.raises(anthropic.AuthenticationError) as caught:
        message(x_api_key_client(emulator))
    assert anthropic_error(caught.value) == (401, "InvalidApiKey", NO_KEY)


def x_api_key_client(emulator: RunningEmulator) -> anthropic.Anthropic:
    """The key in X-Api-Key and no Authorization header, as Claude Code sends ANTHROPIC_API_KEY."""
    return anthropic.Anthropic(
        base_url=emulator.anthropic_base_url,
        # Omit() removes a default header at run time; the annotation says str only
        default_headers={"X-Api-Key": emulator.api_key, "Authorization": anthropic.Omit()},  # type: ignore[dict-item]
        max_retries=0,
    )


def x_api_key_accepted(emulator: RunningEmulator) -> None:
    assert message(x_api_key_client(emulator))
    assert message(anthropic_client(emulator))  # Bearer still works
    assert Admin(emulator).last()["status"] == 200


def key_suspended(emulator: RunningEmulator) -> None:
    """403 AccessDenied (flat) while suspended; the console's unsuspend restores the key."""
    Refused(
        403,
        openai.PermissionDeniedError,
        anthropic.PermissionDeniedError,
        "AccessDenied",
        None,
        "AccessDenied",
        "Access denied.",
        None,
    )(emulator)
    assert Admin(emulator).seat()["status"] == "suspended"
    Admin(emulator).post("/seats/seat-1/unsuspend")
    assert chat(openai_client(emulator))


def subscription_expired(emulator: RunningEmulator) -> None:
    unauthorized(BAD_KEY, None)(emulator)
    assert Admin(emulator).state()["subscription"]["end"].startswith("2026-05-01")


def connection_error(emulator: RunningEmulator) -> None:
    """The SDKs' APIConnectionError ("Connection error."); no status ever reached them."""
    with pytest.raises(openai.APIConnectionError) as caught:
        chat(openai_client(emulator))
    assert not isinstance(caught.value, openai.APITimeoutError)
    with pytest.raises(anthropic.APIConnectionError) as dropped:
        message(anthropic_client(emulator))
    assert not isinstance(dropped.value, anthropic.APITimeoutError)
    journal = Admin(emulator).journal()
    assert [(e["status"], e["error"], e["rule"]) for e in journal] == [
        (499, "fault:drop", "drop")
    ] * 2


def seat_spent_pack_active(emulator: RunningEmulator) -> None:
    """The seat quota is spent, so the whole charge comes from the shared usage pack."""
    admin = Admin(emulator)
    assert admin.seat()["remaining"] == 0
    before = credits(admin.pack("pack-1")["remaining"])
    assert chat(openai_client(emulator))
    entry = admin.last()
    assert entry["status"] == 200
    assert entry["rule"] is None
    charged = credits(entry["charged"])
    assert charged > 0
    assert charged == credits(entry["cost"])
    assert entry["from_packs"] == [["pack-1", entry["charged"]]]
    assert credits(admin.pack("pack-1")["remaining"]) == before - charged
    assert admin.seat()["remaining"] == 0
    assert message(anthropic_client(emulator))
    assert admin.last()["from_packs"][0][0] == "pack-1"


def reset_next_month(emulator: RunningEmulator) -> None:
    """Spent until the subscription-month anniversary; one minute later the seat is full again."""
    admin = Admin(emulator)
    quota_spent()(emulator)
    assert admin.state()["subscription"]["next_reset"].startswith("2026-05-10T00:00:00")
    assert admin.advance("+1m").startswith("2026-05-10T00:00:00")
    assert chat(openai_client(emulator))
    assert message(anthropic_client(emulator))
    seat = admin.seat()
    assert Decimal(0) < credits(seat["used"]) < Decimal(100)
    assert admin.last()["status"] == 200


def coding_plan_quota_spent(emulator: RunningEmulator) -> None:
    """The Coding Plan, with its own key, answers 429 for its spent window; the Token Plan not."""
    key = Admin(emulator).state()["coding_plan"]["key"]
    with pytest.raises(openai.RateLimitError) as caught:
        chat(openai_client(emulator, key, "/coding-plan/v1"))
    assert openai_error(caught.value) == (
        429,
        "insufficient_quota",
        "insufficient_quota",
        "hour allocated quota exceeded",
    )
    with pytest.raises(anthropic.RateLimitError) as refused:
        message(anthropic_client(emulator, key, "/coding-plan/apps/anthropic"))
    assert anthropic_error(refused.value) == (
        429,
        "rate_limit_error",
        "hour allocated quota exceeded",
    )
    assert chat(openai_client(emulator))
    assert message(anthropic_client(emulator))


def rate_limited_then_ok(emulator: RunningEmulator) -> None:
    """The first two calls get 429 limit_requests, the third is answered: a retry loop works."""
    client = openai_client(emulator)
    for _ in range(2):
        with pytest.raises(openai.RateLimitError) as caught:
            chat(client)
        assert openai_error(caught.value) == (429, "limit_requests", "limit_requests", RATE)
        assert "retry-after" not in caught.value.response.headers
    assert chat(client)
    assert message(anthropic_client(emulator))
    journal = Admin(emulator).journal()
    assert [e["status"] for e in journal] == [429, 429, 200, 200]
    assert [e["rule"] for e in journal] == ["first-two-limited"] * 2 + [None] * 2


def stream_cut(emulator: RunningEmulator) -> None:
    """Streams break after 3 chunks (iterating raises); whole answers are unaffected."""
    received: list[Any] = []
    try:
        stream = openai_client(emulator).chat.completions.create(
            model="qwen3.6-plus", messages=USER, stream=True
        )
        received.extend(stream)
    except Exception as error:  # the SDK's own error type for a cut varies by version
        assert is_broken_connection(error), repr(error)
    else:
        pytest.fail(f"the openai stream ended normally after {len(received)} chunks")
    assert len(received) == 3
    events: list[str] = []
    try:
        with anthropic_client(emulator).messages.stream(
            model="glm-5", max_tokens=64, messages=USER
        ) as events_stream:
            events.extend(event.type for event in events_stream)
    except Exception as error:
        assert is_broken_connection(error), repr(error)
    else:
        pytest.fail(f"the anthropic stream ended normally: {events}")
    assert "message_stop" not in events
    journal = Admin(emulator).journal()
    assert [(e["status"], e["error"], e["rule"]) for e in journal] == [
        (200, "fault:cut", "cut-stream")
    ] * 2
    assert chat(openai_client(emulator))
    assert message(anthropic_client(emulator))


def launch_catalogue(emulator: RunningEmulator) -> None:
    """The launch-era list: the four launch text models answer, later ones are 404 on both
    protocols (no rule answers: the catalogue does), GET /models lists the launch list."""
    Refused(
        404,
        openai.NotFoundError,
        anthropic.NotFoundError,
        "model_not_found",
        "invalid_request_error",
        "not_found_error",
        NOT_FOUND,
        None,
        openai_models=("qwen3.7-plus", "deepseek-v4-pro", "glm-5.1"),
        anthropic_models=("qwen3.7-plus", "kimi-k2.6"),
    )(emulator)
    for model in base_catalog("launch").text_models:
        assert chat(openai_client(emulator), model)
    assert message(anthropic_client(emulator), "qwen3.6-plus")
    listed = {model.id for model in openai_client(emulator).models.list()}
    assert listed == {
        *("qwen3.6-plus", "glm-5", "MiniMax-M2.5", "deepseek-v3.2"),
        *("qwen-image-2.0", "qwen-image-2.0-pro", "wan2.7-image", "wan2.7-image-pro"),
    }


Outcome = Callable[[RunningEmulator], None]

EXPECTED: dict[str, Outcome] = {
    "default": healthy,
    "no-api-key": unauthorized(NO_KEY, "no-key"),
    "x-api-key-accepted": x_api_key_accepted,
    "invalid-api-key": unauthorized(BAD_KEY, "invalid-key"),
    "subscription-expired": subscription_expired,
    "key-suspended": key_suspended,
    "coding-plan-base-url": Refused(
        401,
        openai.AuthenticationError,
        anthropic.AuthenticationError,
        "invalid_api_key",
        "invalid_request_error",
        "authentication_error",
        "invalid access token or token expired",
        "coding-plan-base-url",
    ),
    "payg-base-url": Refused(
        401,
        openai.AuthenticationError,
        anthropic.AuthenticationError,
        "invalid_api_key",
        "invalid_request_error",
        "authentication_error",
        PAYG,
        "payg-base-url",
    ),
    "connection-error": connection_error,
    "model-not-found": Refused(
        404,
        openai.NotFoundError,
        anthropic.NotFoundError,
        "model_not_found",
        "invalid_request_error",
        "not_found_error",
        NOT_FOUND,
        "model-not-found",
        openai_models=tuple(TEXT_MODELS),
        anthropic_models=tuple(ANTHROPIC_MODELS),
    ),
    "launch-catalogue": launch_catalogue,
    "image-model-on-text-endpoint": Refused(
        404,
        openai.NotFoundError,
        anthropic.NotFoundError,
        "model_not_found",
        "invalid_request_error",
        "not_found_error",
        NOT_FOUND.format(model="qwen-image-2.0"),
        "image-model",
    ),
    "input-too-long": Refused(
        400,
        openai.BadRequestError,
        anthropic.BadRequestError,
        "invalid_parameter_error",
        "invalid_request_error",
        "invalid_request_error",
        TOO_LONG,
        "{model}-too-long",
        openai_models=tuple(TEXT_MODELS),
        anthropic_models=tuple(ANTHROPIC_MODELS),
    ),
    "seat-spent-pack-active": seat_spent_pack_active,
    "all-spent": quota_spent(),
    "reset-next-month": reset_next_month,
    "coding-plan-quota-spent": coding_plan_quota_spent,
    "rate-limited": Refused(
        429,
        openai.RateLimitError,
        anthropic.RateLimitError,
        "limit_requests",
        "limit_requests",
        "rate_limit_error",
        RATE,
        "rate-limit",
    ),
    "rate-limited-then-ok": rate_limited_then_ok,
    "stream-cut": stream_cut,
}


def test_the_table_covers_every_scenario() -> None:
    """A scenario added to scenarios.yaml without its expected outcome here fails CI."""
    assert sorted(EXPECTED) == sorted(scenario_names())


def test_every_scenario_has_a_one_line_description() -> None:
    for name, description in scenario_names().items():
        assert description, f"scenario {name!r} has no description"
        assert "\n" not in description


@pytest.mark.parametrize("name", list(scenario_names()))
def test_scenario_gives_its_documented_outcome(emulator_factory: Any, name: str) -> None:
    outcome = EXPECTED.get(name)
    if outcome is None:
        pytest.fail(f"scenario {name!r} has no expected outcome in tests/test_catalogue.py")
    outcome(emulator_factory(load_scenario(name)))
