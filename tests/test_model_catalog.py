"""The model catalogue (issue 9): every model the Team Edition serves today answers through the
real openai and anthropic SDKs; the launch-era list is one switch away (`--catalog launch`, the
harness Config, a scenario's `catalog:`, the pytest marker); a scenario adds, changes and
withdraws models (`models:`), validated with file and line; and the documented tools' default
`max_tokens` (Claude Code 32000, LiteLLM 128000) is accepted wherever no source gives a lower
limit.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from emulator.catalog import BUILTIN_TOOLS, base_catalog, default_catalog
from emulator.config import Config, ConfigError, load_scenario, read_scenarios
from emulator.harness import RunningEmulator
from emulator.testing import TokenPlan
from tests.admin_api import Admin, anthropic_client, credits, openai_client

Factory = Callable[..., RunningEmulator]
HELLO: list[Any] = [{"role": "user", "content": "Hello"}]
CLOCK = "2026-05-01T00:00:00Z"
ALGO = "<400> InternalError.Algo.InvalidParameter: "
NOT_FOUND = "model '{model}' not found or not supported"

# The issue's list: every model the Team Edition serves today.
CURRENT = [
    "qwen3.8-max",
    "qwen3.8-max-preview",
    "qwen3.7-max",
    "qwen3.7-plus",
    "qwen3.6-plus",
    "qwen3.6-flash",
    "deepseek-v4-pro",
    "deepseek-v4-flash",
    "deepseek-v3.2",
    "kimi-k2.7-code",
    "kimi-k2.6",
    "kimi-k2.5",
    "glm-5.2",
    "glm-5.1",
    "glm-5",
    "MiniMax-M2.5",
]
LAUNCH = ["qwen3.6-plus", "glm-5", "MiniMax-M2.5", "deepseek-v3.2"]
IMAGES = ["qwen-image-2.0", "qwen-image-2.0-pro", "wan2.7-image", "wan2.7-image-pro"]
ANTHROPIC = [m for m in CURRENT if m != "deepseek-v3.2"]  # "DeepSeek V3.2 does not support..."
# Models whose max_tokens bound a source documents (their max response); every other model
# takes at least LiteLLM's 128000 (docs/fidelity.md, "Model catalogue").
DOCUMENTED_LIMITS = {"deepseek-v3.2": 65536, "kimi-k2.5": 32768, "MiniMax-M2.5": 32768}
CLAUDE_CODE_MAX_TOKENS = 32000
LITELLM_MAX_TOKENS = 128000


def serve(factory: Factory, tmp_path: Path, scenario: str, name: str = "s") -> RunningEmulator:
    """An emulator on a one-scenario file (`scenario` is its body, YAML under `name:`)."""
    body = textwrap.indent(textwrap.dedent(scenario).strip("\n"), "  ")
    path = tmp_path / "scenarios.yaml"
    path.write_text(f"{name}:\n  clock: {CLOCK}\n{body}\n", "utf-8")
    return factory(load_scenario(name, path))


def not_found(call: Callable[[], Any], error: type[Exception], model: str) -> None:
    """`call` is refused 404 with the FAQ's message for `model`, in its SDK's error class."""
    with pytest.raises(error) as caught:
        call()
    assert isinstance(caught.value, (openai.NotFoundError, anthropic.NotFoundError))
    body = caught.value.body
    assert isinstance(body, dict), body
    message = body["error"]["message"] if "error" in body else body["message"]
    assert message == NOT_FOUND.format(model=model)


# ---- the current catalogue ----------------------------------------------------------------


def test_the_default_catalogue_is_the_current_list() -> None:
    catalog = default_catalog()
    assert list(catalog.text_models) == CURRENT
    assert list(catalog.image_models) == IMAGES
    assert set(base_catalog("launch").text_models) == set(LAUNCH)
    assert list(base_catalog("launch").image_models) == IMAGES


def test_models_lists_every_model_of_the_issue(oai: openai.OpenAI) -> None:
    assert sorted(model.id for model in oai.models.list()) == sorted(CURRENT + IMAGES)


@pytest.mark.parametrize("model", CURRENT)
def test_every_current_model_answers_chat_completions(oai: openai.OpenAI, model: str) -> None:
    reply = oai.chat.completions.create(model=model, messages=HELLO)
    assert reply.model == model
    assert reply.choices[0].message.content
    assert reply.usage is not None and reply.usage.completion_tokens > 0


@pytest.mark.parametrize("model", ANTHROPIC)
def test_every_anthropic_model_answers_messages(claude: anthropic.Anthropic, model: str) -> None:
    reply = claude.messages.create(model=model, max_tokens=1024, messages=HELLO)
    assert reply.model == model
    assert any(block.type == "text" and block.text for block in reply.content)


def test_deepseek_v3_2_stays_openai_only(claude: anthropic.Anthropic) -> None:
    not_found(
        lambda: claude.messages.create(model="deepseek-v3.2", max_tokens=64, messages=HELLO),
        anthropic.NotFoundError,
        "deepseek-v3.2",
    )


def test_built_in_tools_follow_the_team_edition_table() -> None:
    """The Harness tools page's Team Edition table: qwen3.8-max and qwen3.7-plus have all
    five, qwen3.7-max three, no other model any."""
    tools = {m.id: m.builtin_tools for m in default_catalog().text_models.values()}
    assert set(tools["qwen3.8-max"]) == set(BUILTIN_TOOLS)
    assert set(tools["qwen3.7-plus"]) == set(BUILTIN_TOOLS)
    assert set(tools["qwen3.7-max"]) == {"web_search", "web_extractor", "code_interpreter"}
    others = set(CURRENT) - {"qwen3.8-max", "qwen3.8-max-preview", "qwen3.7-plus", "qwen3.7-max"}
    assert all(tools[model] == () for model in others)


# ---- the tools' default max_tokens --------------------------------------------------------


@pytest.mark.parametrize("model", ANTHROPIC)
def test_claude_code_default_max_tokens_on_every_anthropic_model(
    claude: anthropic.Anthropic, model: str
) -> None:
    """Claude Code streams with max_tokens 32000: every model the docs pair it with takes it
    (glm-5 refused it before: "Range of max_tokens should be [1, 16384]")."""
    with claude.messages.stream(
        model=model, max_tokens=CLAUDE_CODE_MAX_TOKENS, messages=HELLO
    ) as stream:
        reply = stream.get_final_message()
    assert reply.stop_reason == "end_turn"


@pytest.mark.parametrize("model", [m for m in CURRENT if m not in DOCUMENTED_LIMITS])
def test_litellm_default_max_tokens_where_no_limit_is_documented(
    oai: openai.OpenAI, claude: anthropic.Anthropic, model: str
) -> None:
    reply = oai.chat.completions.create(model=model, messages=HELLO, max_tokens=LITELLM_MAX_TOKENS)
    assert reply.choices[0].finish_reason == "stop"
    message = claude.messages.create(
        model=model, max_tokens=LITELLM_MAX_TOKENS, messages=HELLO, timeout=30
    )
    assert message.stop_reason == "end_turn"


@pytest.mark.parametrize("model", CURRENT)
def test_the_range_error_still_fires_above_the_limit(
    oai: openai.OpenAI, claude: anthropic.Anthropic, model: str
) -> None:
    """One above the bound: DashScope's exact range message, in each protocol's envelope."""
    limit = default_catalog().text_models[model].max_tokens_limit
    assert limit == DOCUMENTED_LIMITS.get(model, limit) and limit >= CLAUDE_CODE_MAX_TOKENS
    expected = ALGO + f"Range of max_tokens should be [1, {limit}]"
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model=model, messages=HELLO, max_tokens=limit + 1)
    assert caught.value.body == {
        "message": expected,
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_parameter_error",
    }
    if model in ANTHROPIC:
        with pytest.raises(anthropic.BadRequestError) as refused:
            claude.messages.create(model=model, max_tokens=limit + 1, messages=HELLO, timeout=30)
        assert refused.value.body == {
            "type": "error",
            "error": {"type": "invalid_request_error", "message": expected},
            "request_id": refused.value.response.headers["x-request-id"],
        }


def test_a_documented_limit_still_refuses_litellms_default(oai: openai.OpenAI) -> None:
    for model, limit in DOCUMENTED_LIMITS.items():
        with pytest.raises(openai.BadRequestError) as caught:
            oai.chat.completions.create(model=model, messages=HELLO, max_tokens=LITELLM_MAX_TOKENS)
        assert caught.value.body["message"] == (  # type: ignore[index]
            ALGO + f"Range of max_tokens should be [1, {limit}]"
        )


# ---- the launch switch --------------------------------------------------------------------


def launch_list_is_served(emulator: RunningEmulator) -> None:
    """qwen3.7-plus is a 404 again on both protocols; the launch models answer."""
    oai, claude = openai_client(emulator), anthropic_client(emulator)
    not_found(
        lambda: oai.chat.completions.create(model="qwen3.7-plus", messages=HELLO),
        openai.NotFoundError,
        "qwen3.7-plus",
    )
    not_found(
        lambda: claude.messages.create(model="qwen3.7-plus", max_tokens=64, messages=HELLO),
        anthropic.NotFoundError,
        "qwen3.7-plus",
    )
    assert sorted(m.id for m in oai.models.list()) == sorted(LAUNCH + IMAGES)
    assert oai.chat.completions.create(model="glm-5", messages=HELLO).choices


def test_the_launch_catalogue_from_the_harness_config(emulator_factory: Factory) -> None:
    launch_list_is_served(emulator_factory(Config(catalog="launch")))


def test_the_launch_catalogue_from_a_scenario_key(emulator_factory: Factory) -> None:
    config = load_scenario("launch-catalogue")
    assert config.catalog == "launch"
    launch_list_is_served(emulator_factory(config))


def test_the_admin_switch_changes_the_catalogue(emulator_factory: Factory) -> None:
    emulator = emulator_factory(Config())
    oai = openai_client(emulator)
    assert oai.chat.completions.create(model="qwen3.7-plus", messages=HELLO).choices
    state = Admin(emulator).post("/scenario", {"name": "default", "catalog": "launch"})
    assert state["catalog"] == "launch"
    launch_list_is_served(emulator)
    Admin(emulator).post("/scenario", {"name": "default"})
    assert oai.chat.completions.create(model="qwen3.7-plus", messages=HELLO).choices
    Admin(emulator).post("/scenario", {"name": "default", "catalog": "old"}, status=400)


@pytest.mark.token_plan(catalog="launch")
def test_the_pytest_marker_serves_the_launch_catalogue(token_plan: TokenPlan) -> None:
    oai = openai.OpenAI(**token_plan.openai_kwargs(max_retries=0))
    not_found(
        lambda: oai.chat.completions.create(model="qwen3.7-plus", messages=HELLO),
        openai.NotFoundError,
        "qwen3.7-plus",
    )
    assert token_plan.admin.state()["catalog"] == "launch"


# ---- scenarios change the catalogue -------------------------------------------------------


def test_a_scenario_adds_a_model(emulator_factory: Factory, tmp_path: Path) -> None:
    """A full mapping adds a model the catalogue lacks; it answers, is listed, and is charged
    at its own rates (the unset fields take their defaults)."""
    emulator = serve(
        emulator_factory,
        tmp_path,
        """
        models:
          qwen9-max:
            protocols: [openai]
            context_window: 65536
            max_input: 60000
            max_output: 4096
            thinking: none
            credits: {input: 1000000, cached: 0, output: 0}
        """,
    )
    oai = openai_client(emulator)
    assert "qwen9-max" in {m.id for m in oai.models.list()}
    reply = oai.chat.completions.create(model="qwen9-max", messages=HELLO)
    assert reply.model == "qwen9-max"
    assert "reasoning_content" not in reply.choices[0].message.model_dump()  # thinking: none
    assert reply.usage is not None
    assert credits(Admin(emulator).last()["cost"]) == Decimal(reply.usage.prompt_tokens)
    not_found(  # OpenAI only, as the scenario says
        lambda: anthropic_client(emulator).messages.create(
            model="qwen9-max", max_tokens=64, messages=HELLO
        ),
        anthropic.NotFoundError,
        "qwen9-max",
    )
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model="qwen9-max", messages=HELLO, max_tokens=4097)
    assert caught.value.body["message"] == ALGO + "Range of max_tokens should be [1, 4096]"  # type: ignore[index]


def test_a_scenario_changes_a_model(emulator_factory: Factory, tmp_path: Path) -> None:
    """A partial mapping changes only the fields it gives: glm-5's max_output (and with it the
    max_tokens bound), its protocols (OpenAI only now) and its Credit rates."""
    emulator = serve(
        emulator_factory,
        tmp_path,
        """
        models:
          glm-5:
            max_output: 1000
            protocols: [openai]
            credits: {input: 1000000}
        """,
    )
    oai = openai_client(emulator)
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model="glm-5", messages=HELLO, max_tokens=1001)
    assert caught.value.body["message"] == ALGO + "Range of max_tokens should be [1, 1000]"  # type: ignore[index]
    reply = oai.chat.completions.create(model="glm-5", messages=HELLO, max_tokens=1000)
    assert reply.usage is not None
    cost = credits(Admin(emulator).last()["cost"])
    # input at the scenario's rate (1 Credit a token), output at glm-5's catalogue rate (1300/M)
    assert cost == Decimal(reply.usage.prompt_tokens) + Decimal(
        reply.usage.completion_tokens * 1300
    ) / Decimal(1_000_000)
    not_found(
        lambda: anthropic_client(emulator).messages.create(
            model="glm-5", max_tokens=64, messages=HELLO
        ),
        anthropic.NotFoundError,
        "glm-5",
    )
    other = anthropic_client(emulator).messages.create(
        model="MiniMax-M2.5", max_tokens=2000, messages=HELLO
    )
    assert other.model == "MiniMax-M2.5"  # the rest of the catalogue is as shipped


def test_a_scenario_withdraws_models(emulator_factory: Factory, tmp_path: Path) -> None:
    """`null` and `{withdrawn: true}` both withdraw: 404 like an unknown model, not listed."""
    emulator = serve(
        emulator_factory,
        tmp_path,
        """
        models:
          kimi-k2.5: null
          glm-5.1: {withdrawn: true}
        """,
    )
    oai, claude = openai_client(emulator), anthropic_client(emulator)
    for model in ("kimi-k2.5", "glm-5.1"):
        not_found(
            lambda model=model: oai.chat.completions.create(model=model, messages=HELLO),
            openai.NotFoundError,
            model,
        )
        not_found(
            lambda model=model: claude.messages.create(model=model, max_tokens=64, messages=HELLO),
            anthropic.NotFoundError,
            model,
        )
    listed = {m.id for m in oai.models.list()}
    assert listed == set(CURRENT + IMAGES) - {"kimi-k2.5", "glm-5.1"}
    assert all(entry["charged"] in (0, "0") for entry in Admin(emulator).journal())


def test_rates_may_name_a_model_the_scenario_adds(
    emulator_factory: Factory, tmp_path: Path
) -> None:
    emulator = serve(
        emulator_factory,
        tmp_path,
        """
        catalog: launch
        models:
          mine:
            protocols: [openai, anthropic]
            context_window: 32768
            max_input: 30000
            max_output: 8192
            thinking: hybrid
            thinking_default: false
            credits: {input: 1, cached: 1, output: 1}
        rates:
          mine: {input: 2000000}
        """,
    )
    reply = anthropic_client(emulator).messages.create(model="mine", max_tokens=64, messages=HELLO)
    assert credits(Admin(emulator).last()["cost"]) >= Decimal(2 * reply.usage.input_tokens)


def test_the_user_scenarios_file_follows_a_catalogue_change(tmp_path: Path) -> None:
    """A user's --scenarios file adds tomorrow's model over today's list: no release needed."""
    path = tmp_path / "mine.yaml"
    path.write_text(
        "tomorrow:\n"
        "  models:\n"
        "    qwen3.9-max: {protocols: [openai, anthropic], context_window: 1000000,\n"
        "                  max_input: 983616, max_output: 65536, thinking: hybrid,\n"
        "                  builtin_tools: [web_search],\n"
        "                  credits: {input: 1, cached: 1, output: 1}}\n"
        "    qwen3.6-plus: null\n",
        "utf-8",
    )
    config = load_scenario("tomorrow", path)
    assert config.models["qwen3.6-plus"] is None
    assert config.models["qwen3.9-max"] is not None


# ---- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("s:\n  catalog: lunch\n", ":2: s.catalog: must be one of current, launch; did you mean"),
        (
            "s:\n  models:\n    glm-5: {max_outptu: 1}\n",
            ":3: s.models.glm-5: unknown key 'max_outptu'; did you mean 'max_output'?",
        ),
        (
            "s:\n  models:\n    glm-5: {max_output: many}\n",
            ":3: s.models.glm-5.max_output: must be",
        ),
        (
            "s:\n  models:\n    glm-5: {max_output: 0}\n",
            "s.models.glm-5.max_output: must be at least",
        ),
        (
            "s:\n  models:\n    glm-5: {thinking: always}\n",
            ":3: s.models.glm-5.thinking: must be one of none, hybrid, only",
        ),
        (
            "s:\n  models:\n    glm-5: {protocols: [opnai]}\n",
            "s.models.glm-5.protocols: must be a non-empty list of openai, anthropic",
        ),
        (
            "s:\n  models:\n    glm-5: {builtin_tools: [web_serch]}\n",
            "s.models.glm-5.builtin_tools[0]: must be one of web_search",
        ),
        (
            "s:\n  models:\n    glm-5: {credits: {input: -1}}\n",
            "s.models.glm-5.credits.input: must be at least 0",
        ),
        ("s:\n  models:\n    glm-5: 7\n", ":3: s.models.glm-5: must be null (withdraw the model)"),
        ("s:\n  models: [glm-5]\n", ":2: s.models: must be dict"),
        (
            "s:\n  models:\n    glm5: {max_output: 10}\n",
            ":3: s.models.glm5: is not in the current catalogue, so it adds a model, which needs "
            "protocols, context_window, max_input, thinking, credits; did you mean 'glm-5'?",
        ),
        (
            "s:\n  models:\n    new:\n      protocols: [openai]\n      context_window: 9\n"
            "      max_input: 9\n      max_output: 9\n      thinking: none\n"
            "      credits: {input: 1}\n",
            ":3: s.models.new: is not in the current catalogue, so it adds a model, which needs "
            "credits.cached/output",
        ),
        (
            "s:\n  catalog: launch\n  models:\n    qwen3.7-plus: {max_output: 10}\n",
            ":4: s.models.qwen3.7-plus: is not in the launch catalogue, so it adds a model",
        ),
        (
            "s:\n  models:\n    glm-6: null\n",
            ":3: s.models.glm-6: withdraws no model of the current catalogue; did you mean",
        ),
        (
            "s:\n  models:\n    glm-5: {withdrawn: true, vision: true}\n",
            ":3: s.models.glm-5: a withdrawn model takes no other fields",
        ),
        (
            "s:\n  models:\n    qwen-image-2.0: null\n",
            ":3: s.models.qwen-image-2.0: is an image model",
        ),
        (
            "s:\n  models:\n    glm-5: null\n  rates:\n    glm-5: {input: 1}\n",
            ":5: s.rates: names no model 'glm-5'",
        ),
    ],
)
def test_models_validation_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "scenarios.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(ConfigError) as caught:
        read_scenarios(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:"), message
    assert problem in message, message  # a problem starting ":N:" names its line too


def test_every_problem_of_a_models_entry_is_reported_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "s:\n"
        "  models:\n"
        "    glm5: {max_output: 10}\n"
        "    glm-5: {thinking: maybe, vision: 1}\n"
        "  rates:\n"
        "    kimi-k9: {input: 1}\n",
        "utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        read_scenarios(path)
    lines = str(caught.value).splitlines()
    assert [line.split(":")[1] for line in lines] == ["3", "4", "4", "6"]
    assert "s.models.glm-5.vision: must be bool" in lines[2]
