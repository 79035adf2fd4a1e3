"""The context cache (docs/sources.md) through the real SDKs: implicit hits on repeated prefixes,
explicit `cache_control` blocks, minimums, the 5-minute TTL on the emulator's clock, scopes,
Credits at the cached rate, streaming, determinism across instances, and the scenario switch.

Expected token counts are computed with the emulator's own counter (`emulator.engine.tokens`):
a prefix of tools and the first k messages counts `prompt_tokens(messages[:k], tools)`.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from emulator.catalog import default_catalog
from emulator.config import Config, SeatConfig, load_scenario
from emulator.engine import tokens
from emulator.engine.cache import ContextCache, Prompt
from emulator.engine.types import ChatRequest, Message, ToolSpec
from emulator.harness import RunningEmulator

FROZEN_AT = "2026-05-01T00:00:00Z"
Factory = Callable[..., RunningEmulator]

# "the" is one token of Qwen's vocabulary, and so is " the" (docs/tokens.md).
LONG_SYSTEM = " ".join(f"rule {n}: keep each answer calm and kind." for n in range(60))
BOOK = " ".join(f"chapter {n} tells how the ship kept its course by the stars." for n in range(120))
QUESTION = "What is the first rule?"


def words(n: int) -> str:
    """`n` tokens of text."""
    return " ".join(["the"] * n)


def prefix_tokens(*texts: str, role: Any = "system") -> int:
    """Prompt tokens of a prefix made of messages with these texts (tools none)."""
    return tokens.prompt_tokens([Message(role, text) for text in texts], ())


def sys_user(system: str, user: str = QUESTION) -> list[dict[str, Any]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


# ---- clients and admin --------------------------------------------------------------------


def fresh(factory: Factory, **overrides: Any) -> RunningEmulator:
    return factory(clock=FROZEN_AT, **overrides)


def oai_for(emulator: RunningEmulator, base: str | None = None, key: str | None = None) -> Any:
    kwargs = emulator.openai_kwargs(max_retries=0)
    if base is not None:
        kwargs["base_url"] = emulator.url + base
    if key is not None:
        kwargs["api_key"] = key
    return openai.OpenAI(**kwargs)


def claude_for(emulator: RunningEmulator) -> anthropic.Anthropic:
    return anthropic.Anthropic(**emulator.anthropic_kwargs(max_retries=0))


def post(url: str, body: Any, key: str | None = None) -> bytes:
    """POST JSON, the answer's raw body (raises on an error status)."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        data: bytes = response.read()
    return data


def journal(emulator: RunningEmulator) -> list[dict[str, Any]]:
    """The journal, newest first."""
    with urllib.request.urlopen(emulator.url + "/_emulator/journal", timeout=30) as response:
        entries: list[dict[str, Any]] = json.loads(response.read())["entries"]
    return entries


def advance(emulator: RunningEmulator, step: str) -> None:
    post(emulator.url + "/_emulator/clock", {"advance": step})


def cached(oai: openai.OpenAI, model: str = "qwen3.6-plus", **body: Any) -> int:
    """The cached tokens the completion of `body` reports."""
    body.setdefault("messages", sys_user(LONG_SYSTEM))
    reply = oai.chat.completions.create(model=model, **body)
    assert reply.usage is not None and reply.usage.prompt_tokens_details is not None
    return reply.usage.prompt_tokens_details.cached_tokens or 0


def marked_system(*texts: str) -> list[dict[str, Any]]:
    """Anthropic `system` blocks, the last one carrying a cache_control marker."""
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text} for text in texts]
    blocks[-1]["cache_control"] = {"type": "ephemeral"}
    return blocks


# ---- implicit cache (OpenAI-compatible) ---------------------------------------------------


def test_repeated_system_prompt_is_reported_as_cached_tokens(emulator_factory: Factory) -> None:
    """The second request's long system prompt is cached: exactly the prefix's tokens, a
    subset of prompt_tokens; the answer does not change."""
    emulator = fresh(emulator_factory)
    oai = oai_for(emulator)
    prefix = prefix_tokens(LONG_SYSTEM)
    assert prefix >= 256
    first = oai.chat.completions.create(model="qwen3.6-plus", messages=sys_user(LONG_SYSTEM))
    second = oai.chat.completions.create(model="qwen3.6-plus", messages=sys_user(LONG_SYSTEM))
    assert first.usage is not None and second.usage is not None
    assert first.usage.prompt_tokens_details is not None
    assert second.usage.prompt_tokens_details is not None
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    assert second.usage.prompt_tokens_details.cached_tokens == prefix
    assert second.usage.prompt_tokens == first.usage.prompt_tokens
    assert second.usage.prompt_tokens == prefix_tokens(LONG_SYSTEM, QUESTION)
    assert second.choices[0].message.content == first.choices[0].message.content
    # a follow-up question on the same system prompt hits the same prefix
    assert cached(oai, messages=sys_user(LONG_SYSTEM, "And the second one?")) == prefix


def test_cached_tokens_cost_the_cached_rate_in_the_journal(emulator_factory: Factory) -> None:
    """qwen3.6-plus: 200 Credits per million uncached input, 20 cached, 1,200 output (§2.4);
    the journal records the cached tokens and the cheaper cost."""
    emulator = fresh(emulator_factory)
    oai = oai_for(emulator)
    prefix = prefix_tokens(LONG_SYSTEM)
    for _ in range(2):
        oai.chat.completions.create(model="qwen3.6-plus", messages=sys_user(LONG_SYSTEM))
    second, first = journal(emulator)[:2]
    assert first["cached_tokens"] == 0
    assert second["cached_tokens"] == prefix
    assert first["input_tokens"] == second["input_tokens"]
    assert first["output_tokens"] == second["output_tokens"]

    def expected(entry: dict[str, Any]) -> Decimal:
        uncached = entry["input_tokens"] - entry["cached_tokens"]
        micro = uncached * 200 + entry["cached_tokens"] * 20 + entry["output_tokens"] * 1200
        return Decimal(micro) / 1_000_000

    assert Decimal(first["cost"]) == expected(first)
    assert Decimal(second["cost"]) == expected(second)
    assert Decimal(first["cost"]) - Decimal(second["cost"]) == Decimal(prefix * 180) / 1_000_000


def test_another_model_does_not_hit(emulator_factory: Factory) -> None:
    """A prefix cached for one model is not cached for another."""
    oai = oai_for(fresh(emulator_factory))
    assert cached(oai, "qwen3.6-plus") == 0
    assert cached(oai, "glm-5") == 0
    assert cached(oai, "glm-5") == prefix_tokens(LONG_SYSTEM)
    assert cached(oai, "qwen3.6-plus") == prefix_tokens(LONG_SYSTEM)


def test_entries_expire_five_minutes_after_their_last_use(emulator_factory: Factory) -> None:
    """The TTL runs on the emulator's clock and restarts on every hit."""
    emulator = fresh(emulator_factory)
    oai = oai_for(emulator)
    prefix = prefix_tokens(LONG_SYSTEM)
    assert cached(oai) == 0
    advance(emulator, "+4m")
    assert cached(oai) == prefix
    advance(emulator, "+4m")  # eight minutes after it was stored, four after the last hit
    assert cached(oai) == prefix
    advance(emulator, "+6m")
    assert cached(oai) == 0
    assert cached(oai) == prefix  # the miss stored it again
    post(emulator.url + "/_emulator/reset", {})  # back to the scenario's start: cache emptied
    assert cached(oai) == 0


def test_below_256_tokens_nothing_is_cached(emulator_factory: Factory) -> None:
    """The implicit minimum: a 255-token prefix never hits, a 256-token one does."""
    oai = oai_for(fresh(emulator_factory))
    short, enough = words(247), words(248)
    assert prefix_tokens(short) == 255 and prefix_tokens(enough) == 256
    assert [cached(oai, messages=sys_user(short)) for _ in range(2)] == [0, 0]
    assert [cached(oai, messages=sys_user(enough)) for _ in range(2)] == [0, 256]


def test_the_longest_cached_prefix_wins_and_the_last_message_is_never_cached(
    emulator_factory: Factory,
) -> None:
    """Prefixes end at message boundaries; the last message is always computed afresh."""
    oai = oai_for(fresh(emulator_factory))
    lone = [{"role": "user", "content": BOOK}]
    assert [cached(oai, messages=lone) for _ in range(2)] == [0, 0]

    turn = [
        {"role": "system", "content": LONG_SYSTEM},
        {"role": "user", "content": BOOK},
        {"role": "assistant", "content": "It kept its course by the stars."},
    ]
    assert cached(oai, messages=[*turn, {"role": "user", "content": "Why?"}]) == 0
    assert cached(
        oai, messages=[*turn, {"role": "user", "content": "How?"}]
    ) == tokens.prompt_tokens(
        [
            Message("system", LONG_SYSTEM),
            Message("user", BOOK),
            Message("assistant", "It kept its course by the stars."),
        ],
        (),
    )
    # the system prompt alone is a stored prefix too
    assert cached(oai, messages=sys_user(LONG_SYSTEM, "Something else")) == prefix_tokens(
        LONG_SYSTEM
    )


def test_tool_definitions_are_the_first_prefix(emulator_factory: Factory) -> None:
    """Tools come before the messages: the same large tool set with a new question hits."""
    oai = oai_for(fresh(emulator_factory))
    tools = [
        {
            "type": "function",
            "function": {
                "name": f"tool_{n}",
                "description": f"Tool number {n} does one small thing well.",
                "parameters": {"type": "object", "properties": {"x": {"type": "string"}}},
            },
        }
        for n in range(12)
    ]
    ask: dict[str, Any] = {"tools": tools, "tool_choice": "none"}
    assert cached(oai, messages=[{"role": "user", "content": "One?"}], **ask) == 0
    hit = cached(oai, messages=[{"role": "user", "content": "Two?"}], **ask)
    specs = [
        ToolSpec(t["function"]["name"], t["function"]["description"], t["function"]["parameters"])
        for t in tools
    ]
    expected = tokens.prefix_counts([], specs)[0]
    assert expected >= 256
    assert hit == expected


# ---- scopes -------------------------------------------------------------------------------


def test_seats_share_the_subscription_cache_and_other_plans_do_not(
    emulator_factory: Factory,
) -> None:
    """One cache per account: the Token Plan's seats share it; the Coding Plan and the
    pay-as-you-go account have their own."""
    emulator = fresh(emulator_factory, seats=(SeatConfig("alice"), SeatConfig("bob")))
    keys = emulator.runtime.seat_keys()
    prefix = prefix_tokens(LONG_SYSTEM)
    assert cached(oai_for(emulator, key=keys["alice"])) == 0
    assert cached(oai_for(emulator, key=keys["bob"])) == prefix

    accounts = emulator.runtime.accounts
    payg = oai_for(emulator, "/dashscope/compatible-mode/v1", accounts.payg_key)
    coding = oai_for(emulator, "/coding-plan/v1", accounts.coding_plan.key)
    assert [cached(payg), cached(payg)] == [0, prefix]
    assert [cached(coding), cached(coding)] == [0, prefix]


# ---- explicit cache -----------------------------------------------------------------------


def test_anthropic_cache_control_creates_then_reads(emulator_factory: Factory) -> None:
    """A marked system prompt: the first call creates it, the second reads it; input_tokens
    counts only what follows the marker."""
    claude = claude_for(fresh(emulator_factory))
    system = marked_system("You are a careful reader.", BOOK)
    block = prefix_tokens("You are a careful reader.\n" + BOOK)
    total = prefix_tokens("You are a careful reader.\n" + BOOK, QUESTION)
    assert block >= 1024
    ask = {"role": "user", "content": QUESTION}

    first = claude.messages.create(
        model="qwen3.6-plus", max_tokens=200, system=system, messages=[ask]
    )
    assert first.usage.cache_creation_input_tokens == block
    assert first.usage.cache_read_input_tokens == 0
    assert first.usage.input_tokens == total - block

    second = claude.messages.create(
        model="qwen3.6-plus", max_tokens=200, system=system, messages=[ask]
    )
    assert second.usage.cache_read_input_tokens == block
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.input_tokens == total - block
    assert second.content == first.content


def test_a_later_turn_reads_the_earlier_block_and_creates_only_the_rest(
    emulator_factory: Factory,
) -> None:
    """Claude Code's pattern, the marker on the newest user turn: turn two reads turn one's
    prompt and creates the new part (both counters non-zero, as DashScope reports)."""
    claude = claude_for(fresh(emulator_factory))
    system = marked_system(BOOK)

    def user(text: str) -> dict[str, Any]:
        return {
            "role": "user",
            "content": [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}],
        }

    one = claude.messages.create(
        model="glm-5", max_tokens=100, system=system, messages=[user("Who steers?")]
    )
    turn_one = prefix_tokens(BOOK) + tokens.message_tokens(Message("user", "Who steers?"))
    assert one.usage.cache_creation_input_tokens == turn_one
    assert one.usage.cache_read_input_tokens == 0
    assert one.usage.input_tokens == 0

    reply = "".join(b.text for b in one.content if b.type == "text")
    history = [
        {"role": "user", "content": "Who steers?"},  # the marker has moved on, the text stayed
        {"role": "assistant", "content": reply},
        user("And at night?"),
    ]
    two = claude.messages.create(model="glm-5", max_tokens=100, system=system, messages=history)
    turn_two = (
        turn_one
        + tokens.message_tokens(Message("assistant", reply))
        + tokens.message_tokens(Message("user", "And at night?"))
    )
    assert two.usage.cache_read_input_tokens == turn_one
    assert two.usage.cache_creation_input_tokens == turn_two - turn_one
    assert two.usage.input_tokens == 0


def test_explicit_below_1024_tokens_creates_nothing_and_is_not_implicit(
    emulator_factory: Factory,
) -> None:
    """A marked prefix under 1,024 tokens is not cached; and a marked request never uses the
    implicit cache, even with 256 tokens or more (the modes are exclusive)."""
    claude = claude_for(fresh(emulator_factory))
    short, enough = words(1015), words(1016)
    assert prefix_tokens(short) == 1023 and prefix_tokens(enough) == 1024
    ask = [{"role": "user", "content": QUESTION}]

    def usage(system: str) -> tuple[int, int]:
        message = claude.messages.create(
            model="glm-5", max_tokens=50, system=marked_system(system), messages=ask
        )
        return (
            message.usage.cache_creation_input_tokens or 0,
            message.usage.cache_read_input_tokens or 0,
        )

    assert [usage(short), usage(short)] == [(0, 0), (0, 0)]
    assert [usage(enough), usage(enough)] == [(1024, 0), (0, 1024)]


def test_openai_content_parts_with_cache_control_report_the_explicit_fields(
    emulator_factory: Factory,
) -> None:
    """OpenAI-compatible explicit cache: prompt_tokens_details gains cache_type and the
    creation counters (docs/sources.md key order); creation is charged at the input rate."""
    emulator = fresh(emulator_factory)
    body = {
        "model": "qwen3.6-plus",
        "messages": [
            {
                "role": "system",
                "content": [{"type": "text", "text": BOOK, "cache_control": {"type": "ephemeral"}}],
            },
            {"role": "user", "content": QUESTION},
        ],
    }
    url = emulator.openai_base_url + "/chat/completions"
    block = prefix_tokens(BOOK)
    first, second = (
        json.loads(post(url, body, emulator.api_key))["usage"]["prompt_tokens_details"]
        for _ in range(2)
    )
    assert list(first) == [
        "cached_tokens",
        "cache_type",
        "cache_creation_input_tokens",
        "cache_creation",
    ]
    assert first == {
        "cached_tokens": 0,
        "cache_type": "ephemeral",
        "cache_creation_input_tokens": block,
        "cache_creation": {"ephemeral_5m_input_tokens": block},
    }
    assert second == {
        "cached_tokens": block,
        "cache_type": "ephemeral",
        "cache_creation_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0},
    }
    # the SDK reads the same numbers
    reply = oai_for(emulator).chat.completions.create(**body)
    assert reply.usage is not None and reply.usage.prompt_tokens_details is not None
    assert reply.usage.prompt_tokens_details.cached_tokens == block

    newest = journal(emulator)
    created, read = newest[2], newest[1]
    assert (
        Decimal(created["cost"])
        == Decimal(created["input_tokens"] * 200 + created["output_tokens"] * 1200) / 1_000_000
    )
    assert read["cached_tokens"] == block
    assert (
        Decimal(read["cost"])
        == Decimal((read["input_tokens"] - block) * 200 + block * 20 + read["output_tokens"] * 1200)
        / 1_000_000
    )


def test_anthropic_request_without_markers_uses_the_implicit_cache(
    emulator_factory: Factory,
) -> None:
    """No cache_control: the implicit cache, reported as cache_read_input_tokens."""
    claude = claude_for(fresh(emulator_factory))
    ask = [{"role": "user", "content": QUESTION}]
    runs = [
        claude.messages.create(model="glm-5", max_tokens=50, system=LONG_SYSTEM, messages=ask)
        for _ in range(2)
    ]
    prefix = prefix_tokens(LONG_SYSTEM)
    assert runs[0].usage.cache_read_input_tokens == 0
    assert runs[1].usage.cache_read_input_tokens == prefix
    assert runs[1].usage.cache_creation_input_tokens == 0
    assert runs[1].usage.input_tokens == prefix_tokens(LONG_SYSTEM, QUESTION) - prefix


# ---- count_tokens, streaming, determinism -------------------------------------------------


def test_count_tokens_is_unaffected_and_stores_nothing(emulator_factory: Factory) -> None:
    """count_tokens always counts the whole prompt and never fills the cache."""
    claude = claude_for(fresh(emulator_factory))
    request: dict[str, Any] = {
        "model": "qwen3.6-plus",
        "system": marked_system(BOOK),
        "messages": [{"role": "user", "content": QUESTION}],
    }
    total = prefix_tokens(BOOK, QUESTION)
    assert claude.messages.count_tokens(**request).input_tokens == total
    first = claude.messages.create(max_tokens=50, **request)
    assert first.usage.cache_read_input_tokens == 0  # counting did not store anything
    assert first.usage.cache_creation_input_tokens == prefix_tokens(BOOK)
    assert claude.messages.count_tokens(**request).input_tokens == total
    second = claude.messages.create(max_tokens=50, **request)
    assert second.usage.cache_read_input_tokens == prefix_tokens(BOOK)


def test_streamed_usage_agrees_with_the_non_streamed_one(emulator_factory: Factory) -> None:
    """A hit reports the same numbers streamed and not, on both protocols."""
    emulator = fresh(emulator_factory)
    oai = oai_for(emulator)
    prefix = prefix_tokens(LONG_SYSTEM)
    messages = sys_user(LONG_SYSTEM)
    oai.chat.completions.create(model="qwen3.6-plus", messages=messages)
    stream = oai.chat.completions.create(
        model="qwen3.6-plus",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
    )
    streamed = [chunk.usage for chunk in stream if chunk.usage is not None]
    once = oai.chat.completions.create(model="qwen3.6-plus", messages=messages).usage
    assert len(streamed) == 1 and once is not None
    assert streamed[0] == once
    assert once.prompt_tokens_details is not None
    assert once.prompt_tokens_details.cached_tokens == prefix

    claude = claude_for(emulator)
    request: dict[str, Any] = {
        "model": "glm-5",
        "max_tokens": 100,
        "system": marked_system(BOOK),
        "messages": [{"role": "user", "content": QUESTION}],
    }
    claude.messages.create(**request)
    with claude.messages.stream(**request) as events:
        opening = next(e for e in events if e.type == "message_start").message.usage
        final = events.get_final_message().usage
    plain = claude.messages.create(**request).usage
    assert final == plain
    assert plain.cache_read_input_tokens == prefix_tokens(BOOK)
    assert (opening.input_tokens, opening.cache_read_input_tokens) == (
        plain.input_tokens,
        plain.cache_read_input_tokens,
    )
    assert opening.cache_creation_input_tokens == plain.cache_creation_input_tokens == 0


def test_two_fresh_emulators_answer_a_sequence_byte_for_byte(emulator_factory: Factory) -> None:
    """Determinism with a cache: the same requests in the same order to two emulators with the
    same seed and clock give the same bytes, the second reply of each carrying the hit."""

    def run(emulator: RunningEmulator) -> list[bytes]:
        url = emulator.openai_base_url + "/chat/completions"
        body = {"model": "qwen3.6-plus", "messages": sys_user(LONG_SYSTEM)}
        return [post(url, body, emulator.api_key) for _ in range(2)]

    one, two = run(fresh(emulator_factory)), run(fresh(emulator_factory))
    assert one == two
    assert one[0] != one[1]
    assert f'"cached_tokens":{prefix_tokens(LONG_SYSTEM)}'.encode() in one[1]


# ---- the switch ---------------------------------------------------------------------------


def test_the_scenario_switch_turns_the_cache_off(emulator_factory: Factory, tmp_path: Path) -> None:
    """`context_cache: false` in scenarios.yaml: no hits, no creation, full-rate Credits."""
    scenarios = tmp_path / "scenarios.yaml"
    scenarios.write_text(f"nocache:\n  clock: '{FROZEN_AT}'\n  context_cache: false\n", "utf-8")
    config = load_scenario("nocache", scenarios)
    assert config.context_cache is False
    assert Config().context_cache is True
    emulator = emulator_factory(config)
    oai = oai_for(emulator)
    assert [cached(oai), cached(oai)] == [0, 0]
    assert [entry["cached_tokens"] for entry in journal(emulator)[:2]] == [0, 0]

    claude = claude_for(emulator)
    for _ in range(2):
        message = claude.messages.create(
            model="glm-5",
            max_tokens=50,
            system=marked_system(BOOK),
            messages=[{"role": "user", "content": QUESTION}],
        )
        assert message.usage.cache_creation_input_tokens == 0
        assert message.usage.cache_read_input_tokens == 0
        assert message.usage.input_tokens == prefix_tokens(BOOK, QUESTION)


# ---- the cache itself ---------------------------------------------------------------------


def _request(system: str, model: str = "qwen3.6-plus") -> Prompt:
    text_model = default_catalog().text_model(model)
    assert text_model is not None
    chat = ChatRequest(
        protocol="openai",
        model=text_model,
        messages=(Message("system", system), Message("user", QUESTION)),
    )
    prompt = Prompt.of(chat)
    # the cache's reading of the prompt counts exactly what the token counter counts
    assert prompt.tokens == tokens.prompt_tokens(chat.messages, chat.tools)
    return prompt


def test_the_cache_is_bounded_and_evicts_the_least_recently_used() -> None:
    """At most `max_entries` prefixes; a hit keeps an entry, the oldest unused one goes.
    Each request here stores two prefixes (system, system + question)."""
    cache = ContextCache(max_entries=6)
    systems = [f"{n} {LONG_SYSTEM}" for n in range(4)]
    for system in systems[:3]:
        assert cache.use("token_plan", _request(system), 0.0).read == 0
    assert len(cache) == 6
    assert cache.use("token_plan", _request(systems[0]), 1.0).read > 0  # now the newest
    cache.use("token_plan", _request(systems[3]), 2.0)  # evicts systems[1]
    assert len(cache) == 6
    assert cache.use("token_plan", _request(systems[0]), 3.0).read > 0
    assert cache.use("token_plan", _request(systems[1]), 3.0).read == 0
    assert cache.use("payg", _request(systems[0]), 3.0).read == 0  # another scope


@pytest.mark.parametrize(("later", "hit"), [(300.0, True), (300.5, False)])
def test_the_ttl_boundary(later: float, hit: bool) -> None:
    """An entry used exactly five minutes ago still hits; a moment later it is gone."""
    cache = ContextCache()
    cache.use("token_plan", _request(LONG_SYSTEM), 1000.0)
    assert (cache.use("token_plan", _request(LONG_SYSTEM), 1000.0 + later).read > 0) is hit
