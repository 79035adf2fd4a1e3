"""The pytest plugin: the `token_plan` fixture, its marker and admin handle, in sync and async
tests, and one emulator per pytest-xdist worker."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import aiohttp
import anthropic
import openai
import pytest

from emulator.harness import RunningEmulator
from emulator.testing import Admin, AdminError, Servers, TokenPlan, Wanted

HELLO = [{"role": "user", "content": "Hello"}]
FROZEN_AT = "2026-05-01T00:00:00Z"


def chat(plan: TokenPlan) -> str:
    client = openai.OpenAI(**plan.openai_kwargs(max_retries=0))
    reply = client.chat.completions.create(model="qwen3.6-plus", messages=HELLO)
    return reply.choices[0].message.content or ""


# ---- the handle -------------------------------------------------------------------------------


def test_the_handle_serves_both_protocols_with_a_valid_key(token_plan: TokenPlan) -> None:
    assert token_plan.api_key.startswith("sk-sp-")
    assert token_plan.openai_base_url == token_plan.url + "/compatible-mode/v1"
    assert token_plan.anthropic_base_url == token_plan.url + "/apps/anthropic"
    assert chat(token_plan)
    claude = anthropic.Anthropic(**token_plan.anthropic_kwargs(max_retries=0))
    message = claude.messages.create(model="glm-5", max_tokens=1024, messages=HELLO)
    assert message.stop_reason == "end_turn"
    assert token_plan.env() == {
        "OPENAI_BASE_URL": token_plan.openai_base_url,
        "OPENAI_API_KEY": token_plan.api_key,
        "ANTHROPIC_BASE_URL": token_plan.anthropic_base_url,
        "ANTHROPIC_AUTH_TOKEN": token_plan.api_key,
    }


def test_env_drives_a_spawned_process(token_plan: TokenPlan) -> None:
    script = (
        "import openai; c = openai.OpenAI(max_retries=0); "
        "print(c.chat.completions.create(model='glm-5', messages=[{'role': 'user', "
        "'content': 'hi'}]).choices[0].finish_reason)"
    )
    env = {**os.environ, **token_plan.env()}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "stop", done.stderr
    assert token_plan.admin.last()["model"] == "glm-5"


@pytest.mark.parametrize("turn", [1, 2, 3])
def test_every_test_starts_from_the_scenarios_start(token_plan: TokenPlan, turn: int) -> None:
    """Whichever of these runs second finds what the first left undone: nothing."""
    admin = token_plan.admin
    start = admin.state()
    assert admin.journal() == []
    assert start["packs"] == [] and start["seats"][0]["used"] == 0
    assert start["scenario"] == "default"
    chat(token_plan)
    admin.buy_pack()
    admin.add_seat("max", member=f"member-{turn}")
    admin.advance("+40d")
    admin.switch("all-spent")
    assert admin.state()["scenario"] == "all-spent"


@pytest.mark.token_plan(scenario="rate-limited-then-ok", seed=5)
@pytest.mark.parametrize("turn", [1, 2])
def test_a_marked_scenario_starts_again_in_every_test(token_plan: TokenPlan, turn: int) -> None:
    """Every switch to a scenario shares one Config (built once per file text): whichever of
    these runs second still meets the rule's first two 429s and a seat with its full quota."""
    admin = token_plan.admin
    seat = admin.seat()
    assert (seat["used"], seat["remaining"]) == (0, 100_000)
    assert admin.journal() == []
    client = openai.OpenAI(**token_plan.openai_kwargs(max_retries=0))
    for _ in range(2):
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="qwen3.6-plus", messages=HELLO)
    assert chat(token_plan)
    assert 0 < admin.seat()["used"] < 100_000


@pytest.mark.token_plan(scenario="seat-spent-pack-active")
@pytest.mark.parametrize("turn", [1, 2])
def test_a_pack_spent_in_one_test_is_full_in_the_next(token_plan: TokenPlan, turn: int) -> None:
    admin = token_plan.admin
    assert [pack["remaining"] for pack in admin.state()["packs"]] == [625_000]
    assert admin.now() == "2026-05-10T00:00:00Z"
    chat(token_plan)
    assert admin.last()["from_packs"]
    assert admin.state()["packs"][0]["remaining"] < 625_000
    admin.advance("+2d")


def test_the_admin_handle_reads_and_moves_the_plan(token_plan: TokenPlan) -> None:
    admin = token_plan.admin
    assert admin.set_clock(FROZEN_AT, freeze=True) == FROZEN_AT
    chat(token_plan)
    [entry] = admin.journal()
    assert entry == admin.last() and entry["status"] == 200 and entry["member"] == "alice"
    assert admin.journal(status=429) == []
    assert admin.usage(days=1)["by_member"] == {"alice": admin.seat()["used"]}
    assert admin.stats()["Data"]["Items"][0]["SeatType"] == "pro"
    assert admin.advance("+31d") == "2026-06-01T00:00:00Z" == admin.now()
    assert admin.buy_pack()["remaining"] == 625000
    assert admin.key("alice") == token_plan.api_key
    assert admin.seat_action("seat-1", "reset-key")["key"] != token_plan.api_key
    assert "all-spent" in admin.scenarios()
    with pytest.raises(AdminError) as refused:
        admin.advance("next tuesday")
    assert refused.value.status == 400


# ---- the marker -------------------------------------------------------------------------------


@pytest.mark.token_plan(scenario="all-spent", seed=1, clock=FROZEN_AT)
def test_the_marker_chooses_scenario_seed_and_clock(
    token_plan: TokenPlan, token_plan_emulator: RunningEmulator
) -> None:
    state = token_plan.admin.state()
    assert (token_plan.scenario, state["scenario"]) == ("all-spent", "all-spent")
    assert state["clock"] == {"now": FROZEN_AT, "frozen": True}
    assert token_plan.api_key == state["seats"][0]["key"]
    assert token_plan.url == token_plan_emulator.url  # the session's server, not a new one
    with pytest.raises(openai.RateLimitError):
        chat(token_plan)


@pytest.mark.token_plan("rate-limited")
def test_the_scenario_may_be_given_positionally(token_plan: TokenPlan) -> None:
    assert token_plan.scenario == "rate-limited"


@pytest.mark.token_plan(clock=FROZEN_AT, seed=3)
class TestMarksCombine:
    """A test's own mark wins over its class's (and module's), key by key."""

    @pytest.mark.token_plan(scenario="seat-spent-pack-active", seed=4)
    def test_own_mark_over_the_class_mark(self, token_plan: TokenPlan) -> None:
        assert token_plan.scenario == "seat-spent-pack-active"
        assert token_plan.admin.now() == FROZEN_AT
        seed_4_key = token_plan.api_key
        assert token_plan.admin.switch("seat-spent-pack-active", seed=3)["seats"][0]["key"] != (
            seed_4_key
        )

    def test_the_class_mark_alone(self, token_plan: TokenPlan) -> None:
        assert token_plan.scenario == "default"
        assert token_plan.admin.now() == FROZEN_AT


def test_marks_are_checked(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="not sceanrio"):
        Wanted.from_marks([((), {"sceanrio": "all-spent"})], tmp_path)
    wanted = Wanted.from_marks([((), {"scenarios_file": "mine.yaml"})], tmp_path)
    assert wanted.scenarios_file == str(tmp_path / "mine.yaml")


def test_an_unknown_scenario_is_refused_with_a_suggestion(token_plan_servers: Servers) -> None:
    with pytest.raises(AdminError, match="did you mean 'all-spent'"):
        token_plan_servers.open(Wanted("all-spnt"))


def test_marker_values_are_checked_as_the_admin_api_checks_them(
    token_plan_servers: Servers,
) -> None:
    """The fixture's switch runs the admin API's own (on the server's thread, without HTTP):
    the same checks, the same refusals, and nothing changed by a refused one."""
    before = token_plan_servers.open(Wanted("all-spent", seed=2, clock=FROZEN_AT))
    refusals = {
        Wanted(seed=-1): "seed must be a whole number from 0 to",
        Wanted(seed=True): "seed must be a whole number",
        Wanted(clock="yesterday"): "clock: 'yesterday' is not an ISO-8601 instant",
        Wanted(catalog="old"): "catalog must be one of current, launch",
        Wanted(scenario=" default"): "name must be 1 to 200 printable characters",
    }
    for wanted, message in refusals.items():
        with pytest.raises(AdminError, match=message) as refused:
            token_plan_servers.open(wanted)
        assert refused.value.status == 400
    state = before.admin.state()
    assert (state["scenario"], state["clock"]["now"]) == ("all-spent", FROZEN_AT)
    assert state["seats"][0]["key"] == before.api_key


def test_every_catalogue_scenario_can_be_switched_to(token_plan: TokenPlan) -> None:
    for name in token_plan.admin.scenarios():
        assert token_plan.admin.switch(name)["scenario"] == name


def test_a_users_scenarios_file(tmp_path: Path, token_plan_servers: Servers) -> None:
    (tmp_path / "mine.yaml").write_text(
        "greeting:\n  description: Says hi.\n  rules:\n    - reply: {text: 'Hi {member}!'}\n"
    )
    plan = token_plan_servers.open(Wanted("greeting", scenarios_file=str(tmp_path / "mine.yaml")))
    assert plan.url != token_plan_servers.shared.url  # one server per file, for the session
    assert chat(plan) == "Hi alice!"
    assert token_plan_servers.open(Wanted("greeting", scenarios_file=str(tmp_path / "mine.yaml")))
    assert Admin(plan.url).journal() == []


def test_after_a_test_the_session_server_is_back_on_default(
    token_plan_servers: Servers, token_plan_emulator: RunningEmulator
) -> None:
    """Tests that use `token_plan_emulator` directly meet no scenario left by another test."""
    plan = token_plan_servers.open(Wanted("all-spent", clock=FROZEN_AT))
    plan.admin.advance("+400d")
    token_plan_servers.close(plan)
    state = Admin(token_plan_emulator.url).state()
    assert state["scenario"] == "default" and not state["clock"]["frozen"]


# ---- async tests ------------------------------------------------------------------------------


@pytest.mark.token_plan(clock=FROZEN_AT)
async def test_async_tests_get_the_same_fixture(token_plan: TokenPlan) -> None:
    client = openai.AsyncOpenAI(**token_plan.openai_kwargs(max_retries=0))
    reply = await client.chat.completions.create(model="qwen3.6-plus", messages=HELLO)
    assert reply.choices[0].finish_reason == "stop"
    claude = anthropic.AsyncAnthropic(**token_plan.anthropic_kwargs(max_retries=0))
    message = await claude.messages.create(model="glm-5", max_tokens=1024, messages=HELLO)
    assert message.stop_reason == "end_turn"
    token_plan.admin.advance("+1d")  # a blocking call is fine: the server has its own thread
    assert [entry["time"] for entry in token_plan.admin.journal()] == [FROZEN_AT, FROZEN_AT]


@pytest.mark.token_plan(scenario="all-spent")
async def test_async_tests_with_aiohttp(token_plan: TokenPlan) -> None:
    headers = {"Authorization": f"Bearer {token_plan.api_key}"}
    body = {"model": "qwen3.6-plus", "messages": HELLO}
    async with aiohttp.ClientSession(headers=headers) as session:
        url = token_plan.openai_base_url + "/chat/completions"
        async with session.post(url, json=body) as response:
            assert response.status == 429
            assert (await response.json())["error"]["code"] == "insufficient_quota"
        token_plan.admin.buy_pack()
        async with session.post(url, json=body) as response:
            assert response.status == 200


# ---- pytest-xdist -----------------------------------------------------------------------------

INNER_SUITE = """
import os
from pathlib import Path

import openai
import pytest

OUT = Path(os.environ["TOKEN_PLAN_OUT"])
HELLO = [{"role": "user", "content": "Hello"}]


@pytest.mark.parametrize("n", range(8))
def test_fresh_and_alone(token_plan, n):
    admin = token_plan.admin
    assert admin.journal() == [] and admin.seat()["used"] == 0
    openai.OpenAI(**token_plan.openai_kwargs(max_retries=0)).chat.completions.create(
        model="qwen3.6-plus", messages=HELLO
    )
    assert len(admin.journal()) == 1
    admin.advance("+40d")
    admin.buy_pack()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    (OUT / f"{worker}-{n}").write_text(token_plan.url)


@pytest.mark.token_plan(scenario="all-spent", clock="2026-05-01T00:00:00Z")
async def test_async_on_a_scenario(token_plan):
    client = openai.AsyncOpenAI(**token_plan.openai_kwargs(max_retries=0))
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(model="qwen3.6-plus", messages=HELLO)
"""


def test_each_xdist_worker_gets_its_own_isolated_server(tmp_path: Path) -> None:
    """A suite of a tool's own, in its own folder: the plugin comes from the entry point,
    --strict-markers accepts the marker, and two workers use two servers."""
    suite, out = tmp_path / "suite", tmp_path / "out"
    suite.mkdir()
    out.mkdir()
    (suite / "test_tool.py").write_text(textwrap.dedent(INNER_SUITE))
    (suite / "pytest.ini").write_text(
        "[pytest]\naddopts = --strict-markers -p no:cacheprovider\n"
        "asyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-q"],
        cwd=suite,
        env={**os.environ, "TOKEN_PLAN_OUT": str(out)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "9 passed" in done.stdout
    urls: dict[str, set[str]] = {}
    for record in out.iterdir():
        urls.setdefault(record.name.split("-")[0], set()).add(record.read_text())
    assert sorted(urls) == ["gw0", "gw1"]
    assert all(len(seen) == 1 for seen in urls.values())  # one server for a worker's session
    assert urls["gw0"] != urls["gw1"]
