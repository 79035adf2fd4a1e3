"""The management API (/tokenplan/..., ModelStudio OpenAPI 2026-02-10), driven by the official
Alibaba Cloud SDK `alibabacloud-modelstudio20260210` pointed at the emulator: it signs every
request (ACS3-HMAC-SHA256) and reads every answer through its own models, so a field name, a
type or an envelope the SDK does not expect shows up here. Raw HTTP only for malformed
signatures, which the SDK cannot make."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from alibabacloud_modelstudio20260210 import models
from alibabacloud_modelstudio20260210.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException

from emulator.config import Config, ConfigError, load_scenario, read_scenarios
from emulator.harness import RunningEmulator, start_emulator
from emulator.runtime import Runtime
from emulator.testing import Admin, AdminError, TokenPlan

MODEL = "qwen3.6-plus"
BAD_KEY = "Invalid API-key provided."


@pytest.fixture
def client(token_plan: TokenPlan) -> Client:
    return Client(token_plan.management_config())


def plan_of(emulator: RunningEmulator) -> TokenPlan:
    """The pytest plugin's handle on an emulator started outside the `token_plan` fixture."""
    admin = Admin(emulator.url)
    return TokenPlan(emulator.url, admin, admin.state())


def scenario_plan(
    emulator_factory: Callable[..., RunningEmulator], tmp_path: Path, name: str, text: str
) -> TokenPlan:
    """An emulator serving scenario `name` of the YAML `text`, and its handle."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, "utf-8")
    return plan_of(emulator_factory(load_scenario(name, path)))


def refused(call: Any) -> ClientException:
    """The SDK's exception for a refused call (ClientException for every 4xx)."""
    with pytest.raises(ClientException) as caught:
        call()
    return caught.value


def member_id(client: Client, name: str) -> str:
    rows = client.list_organization_members(models.ListOrganizationMembersRequest(name=name))
    return next(row.account_id for row in rows.body.data if row.account_name == name)


def chat(token_plan: TokenPlan, key: str) -> str:
    oai = openai.OpenAI(base_url=token_plan.openai_base_url, api_key=key, max_retries=0)
    answer = oai.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hello"}]
    )
    return answer.choices[0].message.content or ""


def message(token_plan: TokenPlan, key: str) -> str:
    claude = anthropic.Anthropic(
        base_url=token_plan.anthropic_base_url, auth_token=key, max_retries=0
    )
    answer = claude.messages.create(
        model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "hello"}]
    )
    return "".join(getattr(block, "text", "") for block in answer.content)


def assert_key_refused(token_plan: TokenPlan, key: str) -> None:
    with pytest.raises(openai.AuthenticationError) as oai_error:
        chat(token_plan, key)
    assert oai_error.value.status_code == 401
    assert BAD_KEY in str(oai_error.value)
    with pytest.raises(anthropic.AuthenticationError) as claude_error:
        message(token_plan, key)
    assert claude_error.value.status_code == 401
    assert BAD_KEY in str(claude_error.value)


# ---- the subscription ---------------------------------------------------------------------


def test_subscription_stats_are_the_ledgers(token_plan: TokenPlan, client: Client) -> None:
    token_plan.admin.add_seat("standard")
    body = client.get_subscription_stats(models.GetSubscriptionStatsRequest()).body
    assert body.success is True
    state = token_plan.admin.state()
    by_type = {item.seat_type: item for item in body.data.items}
    assert by_type["pro"].total_seats == 1 and by_type["pro"].assigned_seats == 1
    assert by_type["standard"].total_seats == 1 and by_type["standard"].assigned_seats == 0
    assert by_type["pro"].seat_credits == 100_000.0
    assert by_type["standard"].seat_remaining_credits == 25_000.0
    assert body.data.subscription_end_time > body.data.subscription_start_time
    assert isinstance(body.data.subscription_start_time, int)
    assert state["subscription"]["seats"]["total"] == 2


def test_seat_details_page_and_filter(token_plan: TokenPlan, client: Client) -> None:
    for _ in range(3):
        token_plan.admin.add_seat("max")
    every = client.get_subscription_seat_details(
        models.GetSubscriptionSeatDetailsRequest(page_no=1, page_size=2)
    ).body.data
    assert (every.total, every.page_no, every.page_size, len(every.items)) == (4, 1, 2, 2)
    alice = every.items[0]
    assert (alice.seat_id, alice.account_name, alice.assigned_status) == (
        "seat-1",
        "alice",
        "ASSIGNED",
    )
    assert alice.equity_list[0].cycle_total_value == 100_000.0
    unassigned = client.get_subscription_seat_details(
        models.GetSubscriptionSeatDetailsRequest(query_assigned=False, seat_type="max")
    ).body.data
    assert unassigned.total == 3
    assert {item.status for item in unassigned.items} == {"UNASSIGNED"}
    active = client.get_subscription_seat_details(
        models.GetSubscriptionSeatDetailsRequest(status_list=["ACTIVE"])
    ).body.data
    assert [item.seat_id for item in active.items] == ["seat-1"]


def test_shared_packages_show_the_packs_credits(token_plan: TokenPlan, client: Client) -> None:
    empty = client.list_subscription_shared_packages(
        models.ListSubscriptionSharedPackagesRequest()
    ).body.data
    assert empty.total == 0 and empty.items == []
    pack = token_plan.admin.buy_pack()
    data = client.list_subscription_shared_packages(
        models.ListSubscriptionSharedPackagesRequest(status_list=["VALID"])
    ).body.data
    assert data.total == 1
    item = data.items[0]
    assert (item.instance_code, item.status) == (pack["id"], "VALID")
    assert item.equity_list[0].cycle_surplus_value == 625_000.0


# ---- seats and keys follow into the model endpoints ---------------------------------------


def test_a_seat_assigned_works_at_once_and_revoked_is_refused(
    token_plan: TokenPlan, client: Client
) -> None:
    token_plan.admin.add_seat("standard")
    added = client.add_organization_member(
        models.AddOrganizationMemberRequest(account_name="bob", org_role_code="ORG_MEMBER")
    ).body.data
    assert added.seat_assigned is False
    bob = added.account_id
    assigned = client.batch_assign_seats(
        models.BatchAssignSeatsRequest(account_ids=[bob], seat_type="standard")
    )
    assert assigned.body.success is True
    issued = token_plan.admin.key("bob")  # the seat's key, issued with it: it works at once
    assert chat(token_plan, issued)
    key = client.create_token_plan_key(
        models.CreateTokenPlanKeyRequest(account_id=bob, description="bob's laptop")
    ).body.data
    assert key.plain_api_key.startswith("sk-sp-") and key.source_id == "seat-2"
    assert key.masked_api_key.endswith(key.plain_api_key[-4:])
    assert chat(token_plan, key.plain_api_key)
    assert message(token_plan, key.plain_api_key)
    assert_key_refused(token_plan, issued)  # a new key replaces the seat's old one
    served = [
        row
        for row in token_plan.admin.journal(limit=20, status=200)
        if not row["path"].startswith("/tokenplan")
    ]
    assert [row["member"] for row in served] == ["bob"] * 3

    revoked = client.batch_revoke_seats(
        models.BatchRevokeSeatsRequest(items=[models.BatchRevokeSeatsRequestItems(account_id=bob)])
    )
    assert revoked.body.success is True
    assert_key_refused(token_plan, key.plain_api_key)
    seat = token_plan.admin.seat("seat-2")
    assert seat["member"] is None


def test_rotating_a_key_invalidates_the_old_one(token_plan: TokenPlan, client: Client) -> None:
    old = token_plan.api_key
    assert chat(token_plan, old)
    rows = client.list_organization_members(
        models.ListOrganizationMembersRequest(has_seat=True)
    ).body.data
    (alice,) = rows
    assert alice.masked_api_key.endswith(old[-4:])
    rotated = client.rotate_token_plan_key(
        models.RotateTokenPlanKeyRequest(api_key_id=alice.api_key_id)
    ).body.data
    assert rotated.api_key_id == alice.api_key_id and rotated.plain_api_key != old
    assert_key_refused(token_plan, old)
    assert chat(token_plan, rotated.plain_api_key)
    assert token_plan.admin.key("alice") == rotated.plain_api_key


def test_removing_a_member_reclaims_the_seat(token_plan: TokenPlan, client: Client) -> None:
    alice = member_id(client, "alice")
    old = token_plan.api_key
    client.remove_organization_member(models.RemoveOrganizationMemberRequest(account_ids=[alice]))
    assert_key_refused(token_plan, old)
    assert token_plan.admin.seat("seat-1")["member"] is None
    error = refused(lambda: client.create_token_plan_key(models.CreateTokenPlanKeyRequest(alice)))
    assert (error.status_code, error.code) == (404, "Account.NotFound")


# ---- the organisation ---------------------------------------------------------------------


def test_account_and_organization(client: Client) -> None:
    account = client.get_token_plan_account_detail(
        models.GetTokenPlanAccountDetailRequest()
    ).body.data
    assert account.name == "owner" and account.is_deleted is False
    (membership,) = account.org_memberships
    assert membership.role_code == "ORG_OWNER"
    org = client.get_organization(models.GetOrganizationRequest()).body.data
    assert org.org_id == membership.org_id and org.owner_id == account.account_id
    updated = client.update_organization(
        models.UpdateOrganizationRequest(name="Platform team", description="the bots")
    ).body.data
    assert (updated.name, updated.description) == ("Platform team", "the bots")
    assert client.get_organization(models.GetOrganizationRequest()).body.data.name == (
        "Platform team"
    )


def test_roles_and_seat_stats(token_plan: TokenPlan, client: Client) -> None:
    token_plan.admin.add_seat("pro")
    carol = client.add_organization_member(
        models.AddOrganizationMemberRequest(
            account_name="carol", org_role_code="ORG_ADMIN", spec_type="pro"
        )
    ).body.data
    assert carol.seat_assigned is True
    client.add_organization_member(models.AddOrganizationMemberRequest(account_name="dave"))
    stats = client.get_organization_member_seat_stats(
        models.GetOrganizationMemberSeatStatsRequest()
    ).body
    assert (stats.total_member_count, stats.seated_member_count) == (4, 2)
    assert (stats.owner_role_user_count, stats.admin_role_user_count) == (1, 1)
    assert stats.member_role_user_count == 2
    alice = member_id(client, "alice")
    client.update_organization_member(
        models.UpdateOrganizationMemberRequest(account_ids=[alice], new_role_code="ORG_ADMIN")
    )
    rows = client.list_organization_members(
        models.ListOrganizationMembersRequest(name="ALI")
    ).body.data
    assert [(row.account_name, row.roles) for row in rows] == [("alice", ["ORG_ADMIN"])]
    assert rows[0].seat_id == "seat-1"  # a role change keeps the seat
    equity = rows[0].subscription_info.equity_list[0]
    assert (equity.cycle_total_value, equity.equity_unit) == (100_000.0, "CREDITS")
    assert rows[0].pack_limit_info.has_share_limit is False
    roles = {m["name"]: m["role"] for m in token_plan.admin.state()["members"]}
    assert roles == {
        "owner": "ORG_OWNER",
        "alice": "ORG_ADMIN",
        "carol": "ORG_ADMIN",
        "dave": "ORG_MEMBER",
    }
    owner = client.get_token_plan_account_detail(
        models.GetTokenPlanAccountDetailRequest()
    ).body.data.account_id
    error = refused(
        lambda: client.update_organization_member(
            models.UpdateOrganizationMemberRequest(account_ids=[owner], new_role_code="ORG_MEMBER")
        )
    )
    assert (error.status_code, error.code) == (400, "Member.OwnerImmutable")


def test_members_page_over_120(client: Client) -> None:
    for index in range(120):
        client.add_organization_member(
            models.AddOrganizationMemberRequest(account_name=f"user_{index:03d}")
        )
    seen: list[str] = []
    page = 1
    while True:
        body = client.list_organization_members(
            models.ListOrganizationMembersRequest(page_num=page, page_size=50)
        ).body
        assert (body.total, body.page_no, body.page_size) == (122, page, 50)
        seen += [row.account_name for row in body.data]
        if len(body.data) < 50:
            break
        page += 1
    assert page == 3 and len(seen) == 122 and len(set(seen)) == 122
    assert seen[:2] == ["owner", "alice"] and seen[-1] == "user_119"
    unseated = client.list_organization_members(
        models.ListOrganizationMembersRequest(has_seat=False, page_size=100)
    ).body
    assert unseated.total == 121 and len(unseated.data) == 100


def test_invite_link_and_config(client: Client) -> None:
    assert client.get_token_plan_invite_link(models.GetTokenPlanInviteLinkRequest()).body.data
    made = client.create_token_plan_invite_link(
        models.CreateTokenPlanInviteLinkRequest(expire_type="DAYS_30", sso_source="SAML")
    ).body.data
    link = client.get_token_plan_invite_link(models.GetTokenPlanInviteLinkRequest()).body.data
    assert link.token == made.token and link.expire_time > 0
    client.revoke_token_plan_invite_link(models.RevokeTokenPlanInviteLinkRequest())
    gone = client.get_token_plan_invite_link(models.GetTokenPlanInviteLinkRequest()).body.data
    assert gone.token is None
    config = client.get_token_plan_org_invite_config(
        models.GetTokenPlanOrgInviteConfigRequest()
    ).body.data
    assert (config.default_role_id, config.seat_assign_strategy) == (
        "SYSTEM_ROLE_ORG_MEMBER",
        "NONE",
    )
    client.set_token_plan_org_invite_config(
        models.SetTokenPlanOrgInviteConfigRequest(
            default_role_id="SYSTEM_ROLE_ORG_ADMIN", seat_assign_strategy="HIGH_TO_LOW"
        )
    )
    config = client.get_token_plan_org_invite_config(
        models.GetTokenPlanOrgInviteConfigRequest()
    ).body.data
    assert (config.default_role_id, config.seat_assign_strategy) == (
        "SYSTEM_ROLE_ORG_ADMIN",
        "HIGH_TO_LOW",
    )


# ---- refusals -----------------------------------------------------------------------------


def test_refused_moves_change_nothing(token_plan: TokenPlan, client: Client) -> None:
    bob = client.add_organization_member(
        models.AddOrganizationMemberRequest(account_name="bob")
    ).body.data.account_id
    error = refused(
        lambda: client.batch_revoke_seats(
            models.BatchRevokeSeatsRequest(
                items=[models.BatchRevokeSeatsRequestItems(account_id=bob)]
            )
        )
    )
    assert (error.status_code, error.code) == (400, "Seat.NotAssigned")
    assert error.request_id and error.data["Message"]
    error = refused(
        lambda: client.batch_assign_seats(
            models.BatchAssignSeatsRequest(account_ids=[bob], seat_type="pro")
        )
    )
    assert (error.status_code, error.code) == (400, "Seat.NotEnough")
    error = refused(
        lambda: client.batch_assign_seats(
            models.BatchAssignSeatsRequest(account_ids=["1234"], seat_type="pro")
        )
    )
    assert (error.status_code, error.code) == (404, "Account.NotFound")
    error = refused(
        lambda: client.batch_assign_seats(models.BatchAssignSeatsRequest(seat_type="pro"))
    )
    assert (error.status_code, error.code) == (400, "MissingParameter")
    assert '"AccountIds"' in error.data["Message"]
    error = refused(
        lambda: client.rotate_token_plan_key(models.RotateTokenPlanKeyRequest(api_key_id="nope"))
    )
    assert (error.status_code, error.code) == (404, "ApiKey.NotFound")
    error = refused(
        lambda: client.get_subscription_seat_details(
            models.GetSubscriptionSeatDetailsRequest(seat_id="seat-9")
        )
    )
    assert (error.status_code, error.code) == (404, "Seat.NotFound")
    assert token_plan.admin.seat("seat-1")["member"] == "alice"


def test_a_wrong_secret_or_unknown_access_key_is_refused(token_plan: TokenPlan) -> None:
    key_id, secret = token_plan.access_key()
    assert key_id.startswith("LTAI") and len(key_id) == 24 and len(secret) == 30
    wrong = Client(token_plan.management_config(access_key_secret="x" * 30))
    error = refused(lambda: wrong.get_subscription_stats(models.GetSubscriptionStatsRequest()))
    assert (error.status_code, error.code) == (400, "SignatureDoesNotMatch")
    assert "ACS3-HMAC-SHA256" in error.data["Message"]
    stranger = Client(token_plan.management_config(access_key_id="LTAI" + "A" * 20))
    error = refused(lambda: stranger.get_organization(models.GetOrganizationRequest()))
    assert (error.status_code, error.code) == (404, "InvalidAccessKeyId.NotFound")
    assert error.data["Message"] == "Specified access key is not found."


def raw(token_plan: TokenPlan, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        token_plan.url + "/tokenplan/subscription/stats", headers=headers
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_malformed_signatures_get_the_gateways_envelope(token_plan: TokenPlan) -> None:
    status, body = raw(token_plan, {})
    assert (status, body["Code"]) == (400, "MissingAccessKeyId")
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert body["RequestId"] in body["Recommend"]
    status, body = raw(token_plan, {"Authorization": "Bearer " + token_plan.api_key})
    assert (status, body["Code"]) == (400, "IncompleteSignature")
    key_id, _ = token_plan.access_key()
    status, body = raw(
        token_plan,
        {"Authorization": f"ACS3-HMAC-SHA256 Credential={key_id},SignedHeaders=host,Signature=00"},
    )
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")


# ---- scenario rules and faults ------------------------------------------------------------

RULES = """
f:
  rules:
    - name: throttled-assign
      match: {model: BatchAssignSeats}
      times: 1
      error: rate_limited
    - name: slow-stats
      match: {protocol: openapi, model: GetSubscriptionStats}
      fault: {latency: 0.2}
    - name: members-down
      match: {protocol: openapi, path: /organization/members$}
      fault: {status: 503}
    - name: chat-only
      match: {protocol: openai}
      fault: {status: 503}
"""


def test_rules_and_faults_reach_management_calls(
    emulator_factory: Callable[..., RunningEmulator], tmp_path: Path
) -> None:
    plan = scenario_plan(emulator_factory, tmp_path, "f", RULES)
    client = Client(plan.management_config())
    started = time.perf_counter()
    client.get_subscription_stats(models.GetSubscriptionStatsRequest())
    assert time.perf_counter() - started >= 0.2
    assign = models.BatchAssignSeatsRequest(account_ids=["1"], seat_type="pro")
    error = refused(lambda: client.batch_assign_seats(assign))
    assert (error.status_code, error.code) == (429, "Throttling.RateQuota")
    error = refused(lambda: client.batch_assign_seats(assign))  # `times: 1`: the action answers
    assert error.code == "Account.NotFound"
    with pytest.raises(ServerException) as down:
        client.list_organization_members(models.ListOrganizationMembersRequest())
    assert (down.value.status_code, down.value.code) == (503, "ServiceUnavailable")
    client.get_organization(models.GetOrganizationRequest())  # `chat-only` is not for it
    rules = {(row["model"], row["rule"]) for row in plan.admin.journal(limit=10)}
    assert rules == {
        ("GetSubscriptionStats", "slow-stats"),
        ("BatchAssignSeats", "throttled-assign"),
        ("BatchAssignSeats", None),
        ("ListOrganizationMembers", "members-down"),
        ("GetOrganization", None),
    }


# ---- --state ------------------------------------------------------------------------------


def test_the_team_survives_a_restart_with_state(tmp_path: Path) -> None:
    """Seats and keys are the ledger's, the members, roles and invite settings the
    organisation's: both are written to the --state file with each call."""
    state = str(tmp_path / "plan.db")

    def handle(emulator: RunningEmulator) -> tuple[TokenPlan, Client]:
        plan = plan_of(emulator)
        return plan, Client(plan.management_config())

    first = start_emulator(Config(state_file=state))
    try:
        plan, client = handle(first)
        plan.admin.add_seat("standard")
        bob = client.add_organization_member(
            models.AddOrganizationMemberRequest(
                account_name="bob", org_role_code="ORG_ADMIN", spec_type="standard"
            )
        ).body.data
        client.add_organization_member(models.AddOrganizationMemberRequest(account_name="eve"))
        client.update_organization(models.UpdateOrganizationRequest(name="Kept"))
        key = client.create_token_plan_key(
            models.CreateTokenPlanKeyRequest(account_id=bob.account_id)
        ).body.data.plain_api_key
    finally:
        first.stop()
    second = start_emulator(Config(state_file=state))
    try:
        plan, client = handle(second)
        assert chat(plan, key)
        rows = client.list_organization_members(models.ListOrganizationMembersRequest()).body.data
        assert [(row.account_name, row.roles[0], row.seat_id) for row in rows] == [
            ("owner", "ORG_OWNER", None),
            ("alice", "ORG_MEMBER", "seat-1"),
            ("bob", "ORG_ADMIN", "seat-2"),
            ("eve", "ORG_MEMBER", None),
        ]
        assert member_id(client, "bob") == bob.account_id
        assert client.get_organization(models.GetOrganizationRequest()).body.data.name == "Kept"
        plan.admin.reset()  # back to the scenario's team, in the file too
        rows = client.list_organization_members(models.ListOrganizationMembersRequest()).body.data
        assert [row.account_name for row in rows] == ["owner", "alice"]
    finally:
        second.stop()


def test_a_state_file_from_before_the_organization_table_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    Runtime.from_config(Config(state_file=str(path))).close()
    with closing(sqlite3.connect(path)) as db:
        db.execute("DROP TABLE organization")
        db.commit()
    runtime = Runtime.from_config(Config(state_file=str(path)))
    try:
        assert runtime.organization is None
        assert [m.name for m in runtime.team().members.values()] == ["owner", "alice"]
    finally:
        runtime.close()


def test_a_spoilt_organization_refuses_the_file(tmp_path: Path) -> None:
    path = tmp_path / "spoilt.db"
    runtime = Runtime.from_config(Config(state_file=str(path)))
    runtime.team()
    runtime.persist()
    runtime.close()
    with closing(sqlite3.connect(path)) as db:
        db.execute("UPDATE organization SET body = '{\"members\": 3}'")
        db.commit()
    with pytest.raises(ConfigError, match="not a usable state file"):
        Runtime.from_config(Config(state_file=str(path)))


# ---- per-member limits on the shared packs ------------------------------------------------

LIMITS = """\
limited:
  clock: 2026-03-01T00:00:00Z
  seats:
    - member: alice
      used: 99999.999      # one thousandth of a Credit left on the seat
      pack_limit: 0.002    # and two thousandths from the packs a month
    - member: bob
      used: 100000
  packs:
    - used: 0
"""


def limited(emulator_factory: Callable[..., RunningEmulator], tmp_path: Path) -> TokenPlan:
    return scenario_plan(emulator_factory, tmp_path, "limited", LIMITS)


def pack_info(client: Client, name: str) -> Any:
    rows = client.list_organization_members(models.ListOrganizationMembersRequest(name=name))
    return next(row for row in rows.body.data if row.account_name == name).pack_limit_info


def assert_spent(plan: TokenPlan, key: str) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        chat(plan, key)
    assert caught.value.status_code == 429
    assert caught.value.code == "insufficient_quota"


def test_a_pack_limit_stops_one_member_while_others_draw(
    emulator_factory: Callable[..., RunningEmulator], tmp_path: Path
) -> None:
    plan = limited(emulator_factory, tmp_path)
    client = Client(plan.management_config())
    info = pack_info(client, "alice")
    assert (info.has_share_limit, info.upper_limit, info.available_limit) == (True, 0.002, 0.002)
    assert (info.used_credits, info.frozen_credits, info.is_available) == (0.0, 0.0, True)
    assert pack_info(client, "bob").has_share_limit is False
    alice, bob = plan.admin.key("alice"), plan.admin.key("bob")
    assert chat(plan, alice)  # admitted: seat quota first, then the packs up to the limit
    seat = plan.admin.seat("seat-1")
    assert (seat["remaining"], seat["pack_limit"], seat["pack_used"]) == (0.0, 0.002, 0.002)
    assert seat["status"] == "spent" and "pack limit reached" in seat["why"]
    info = pack_info(client, "alice")
    assert (info.used_credits, info.available_limit, info.is_available) == (0.002, 0.0, False)
    assert_spent(plan, alice)
    assert chat(plan, bob) and chat(plan, bob)  # no limit: bob still draws on the packs
    seat = plan.admin.seat_action("seat-2", "pack-limit", limit=5000)
    assert seat["why"].startswith("seat quota used up: drawing on shared packs, 0.")
    assert seat["why"].endswith("of its 5,000 Credits pack limit this month")
    pack = plan.admin.state()["packs"][0]
    assert pack["remaining"] < 625_000 - 0.002
    plan.admin.advance("31d")  # a new subscription month: the seat's quota and the limit renew
    assert chat(plan, alice)
    assert pack_info(client, "alice").used_credits == 0.0


def test_the_admin_api_sets_and_lifts_a_pack_limit(
    emulator_factory: Callable[..., RunningEmulator], tmp_path: Path
) -> None:
    plan = limited(emulator_factory, tmp_path)
    client = Client(plan.management_config())
    bob = plan.admin.key("bob")
    seat = plan.admin.seat_action("seat-2", "pack-limit", limit=0)
    assert (seat["pack_limit"], seat["status"]) == (0.0, "spent")
    info = pack_info(client, "bob")
    assert (info.has_share_limit, info.upper_limit, info.available_limit) == (True, 0.0, 0.0)
    assert_spent(plan, bob)
    assert plan.admin.seat_action("seat-2", "pack-limit", limit=None)["pack_limit"] is None
    assert chat(plan, bob)
    assert pack_info(client, "bob").has_share_limit is False
    for body in ({}, {"limit": -1}, {"limit": True}, {"limit": "5"}, {"limit": 1e12}):
        with pytest.raises(AdminError) as caught:
            plan.admin.seat_action("seat-2", "pack-limit", **body)
        assert caught.value.status == 400 and "limit" in str(caught.value)


def test_a_pack_limit_survives_a_restart_and_old_files_open(tmp_path: Path) -> None:
    path = tmp_path / "plan.db"
    runtime = Runtime.from_config(Config(state_file=str(path)))
    runtime.ledger.set_pack_limit("seat-1", 12.5)
    runtime.ledger.seats["seat-1"].pack_used = 2_000_000
    runtime.persist()
    runtime.close()
    runtime = Runtime.from_config(Config(state_file=str(path)))
    try:
        seat = runtime.ledger.seats["seat-1"]
        assert (seat.pack_limit, seat.pack_used) == (12_500_000, 2_000_000)
    finally:
        runtime.close()
    with closing(sqlite3.connect(path)) as db:  # a file from before the columns
        db.execute("ALTER TABLE seats DROP COLUMN pack_limit")
        db.execute("ALTER TABLE seats DROP COLUMN pack_used")
        db.commit()
    runtime = Runtime.from_config(Config(state_file=str(path)))
    try:
        seat = runtime.ledger.seats["seat-1"]
        assert (seat.pack_limit, seat.pack_used) == (None, 0)
    finally:
        runtime.close()


# ---- the organisation in a scenario -------------------------------------------------------

TEAM = """\
team:
  seats:
    - member: alice
    - member: bob
      tier: max
  organization:
    name: Acme AI
    description: The model team
    members:
      - name: dana
        role: owner
      - name: bob
        role: admin
      - name: carol
    invite:
      default_role: admin
      seat_strategy: HIGH_TO_LOW
"""


def test_a_scenario_describes_the_organization(
    emulator_factory: Callable[..., RunningEmulator], tmp_path: Path
) -> None:
    client = Client(scenario_plan(emulator_factory, tmp_path, "team", TEAM).management_config())
    rows = client.list_organization_members(models.ListOrganizationMembersRequest()).body.data
    assert [(row.account_name, row.roles[0], row.seat_id) for row in rows] == [
        ("dana", "ORG_OWNER", None),
        ("bob", "ORG_ADMIN", "seat-2"),
        ("carol", "ORG_MEMBER", None),
        ("alice", "ORG_MEMBER", "seat-1"),
    ]
    org = client.get_organization(models.GetOrganizationRequest()).body.data
    assert (org.name, org.description) == ("Acme AI", "The model team")
    assert org.owner_id == member_id(client, "dana")
    config = client.get_token_plan_org_invite_config(
        models.GetTokenPlanOrgInviteConfigRequest()
    ).body.data
    assert (config.default_role_id, config.seat_assign_strategy) == (
        "SYSTEM_ROLE_ORG_ADMIN",
        "HIGH_TO_LOW",
    )


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("s:\n  seats:\n    - {member: a, pack_limit: -5}\n", 3, "must be Credits a month from 0"),
        ("s:\n  seats:\n    - {member: a, pack_limit: lots}\n", 3, "or null for no limit"),
        ("s:\n  seats:\n    - {member: a, pack_limit: 1000000000000}\n", 3, "from 0 to 625000000"),
        ("s:\n  organization:\n    members:\n      - {name: a, role: boss}\n", 4, "one of owner"),
        (
            "s:\n  organization:\n    members:\n      - {name: a}\n      - {name: a}\n",
            5,
            "member 'a' is already s.organization.members[0]",
        ),
        (
            "s:\n  organization:\n    members:\n"
            "      - {name: a, role: owner}\n      - {name: b, role: owner}\n",
            5,
            "an organisation has one owner",
        ),
        ("s:\n  organization:\n    members:\n      - {role: admin}\n", 4, "needs a name"),
        ("s:\n  organization:\n    members:\n      - {name: owner}\n", 4, "give it role owner"),
        ("s:\n  organization:\n    invite: {default_role: owner}\n", 3, "one of admin, member"),
        ("s:\n  organization:\n    invite: {seat_strategy: ALL}\n", 3, "HIGH_TO_LOW"),
        ("s:\n  organization:\n    nmae: x\n", 3, "did you mean 'name'?"),
    ],
)
def test_bad_limits_and_organizations_name_file_and_line(
    tmp_path: Path, text: str, line: int, problem: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(ConfigError) as caught:
        read_scenarios(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert problem in message, message
