"""The Token Plan management API (ModelStudio OpenAPI 2026-02-10, `/tokenplan/...`), as the
official SDK `alibabacloud-modelstudio20260210` calls it: ROA style, every parameter in the
query string, signed with the emulator's AccessKey (protocols/alibaba_openapi.py).

Thin over the plan: seats, keys and Credits are the ledger's (plan/ledger.py), members and roles
the organisation's (plan/organization.py); nothing here keeps a copy. The gateway (server.py)
hands every `/tokenplan` request here before its Bearer-key check: this API authenticates by
signature instead. Each call is journalled, which also commits the plan (--state).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from emulator import call as journaled
from emulator.admin import views
from emulator.journal import Entry
from emulator.management_rules import NoAnswer, consult
from emulator.plan.credits import MICRO, TIER_CREDITS
from emulator.plan.ledger import Ledger, PlanError, Seat
from emulator.plan.organization import (
    ADMIN,
    MEMBER,
    OWNER,
    ROLE_IDS,
    InviteLink,
    Member,
    Organization,
)
from emulator.protocols.alibaba_openapi import (
    VERSION,
    OpenApiError,
    access_key,
    error_body,
    invalid_parameter,
    missing_parameter,
    ok_body,
    request_id,
    verify,
)
from emulator.runtime import RUNTIME, Runtime
from emulator.sites import MANAGEMENT_BASE
from emulator.streaming import journal_once, no_answer
from emulator.web import ARRIVED, REQUEST_ID

INVITE_DAYS = {"DAYS_7": 7, "DAYS_30": 30, "MONTHS_6": 182, "YEAR_1": 365}
SEAT_STRATEGIES = ("HIGH_TO_LOW", "LOW_TO_HIGH", "NONE")
MAX_PAGE_SIZE = 100


# ---- one call -----------------------------------------------------------------------------


@dataclass
class Call:
    runtime: Runtime
    org: Organization
    query: MultiMapping[str]
    rid: str

    @property
    def ledger(self) -> Ledger:
        return self.runtime.ledger

    @property
    def now(self) -> float:
        return self.runtime.clock.now()

    def text(self, name: str, required: bool = False) -> str | None:
        value = self.query.get(name)
        if required and not value:
            raise missing_parameter(name)
        return value or None

    def required(self, name: str) -> str:
        value = self.text(name, required=True)
        assert value is not None
        return value

    def listed(self, name: str, required: bool = False) -> list[str]:
        """A list parameter in the SDK's flat style: `Name.1`, `Name.2`, ..."""
        values, index = [], 1
        while f"{name}.{index}" in self.query:
            values.append(self.query[f"{name}.{index}"])
            index += 1
        if required and not values:
            raise missing_parameter(name)
        return values

    def number(self, name: str, default: int, most: int | None = None) -> int:
        text = self.query.get(name)
        if text is None or text == "":
            return default
        if not text.isascii() or not text.isdigit() or int(text) < 1:
            raise invalid_parameter(name, text)
        value = int(text)
        return min(value, most) if most is not None else value

    def flag(self, name: str) -> bool | None:
        text = self.query.get(name)
        if text is None or text == "":
            return None
        if text.lower() not in ("true", "false"):
            raise invalid_parameter(name, text)
        return text.lower() == "true"

    def member(self, account_id: str) -> Member:
        member = self.org.members.get(account_id)
        if member is None:
            raise OpenApiError(
                404, "Account.NotFound", f"The account {account_id} is not in the organization."
            )
        return member

    def seat_of(self, member: Member) -> Seat | None:
        return next((s for s in self.ledger.seats.values() if s.member == member.name), None)

    def tier(self, name: str, required: bool = True) -> str | None:
        value = self.text(name, required)
        if value is not None and value not in TIER_CREDITS:
            raise invalid_parameter(name, value)
        return value


Action = Callable[[Call], dict[str, Any]]
ACTIONS: dict[tuple[str, str], tuple[str, Action]] = {}


def action(method: str, path: str, name: str) -> Callable[[Action], Action]:
    def register(function: Action) -> Action:
        ACTIONS[(method, MANAGEMENT_BASE + path)] = (name, function)
        return function

    return register


# ---- views of the books -------------------------------------------------------------------


def ms(instant: float) -> int:
    return round(instant * 1000)


def iso(instant: float) -> str:
    return datetime.fromtimestamp(instant, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def amount(micro: int) -> float:
    return micro / MICRO


def api_key_id(call: Call, seat: Seat) -> str:
    """A seat's key id: the same across rotations of its key, new when the seat changes hands."""
    return "tpk-" + call.runtime.seeds.hex(24, "api-key-id", seat.id, seat.member)


def masked(key: str | None) -> str | None:
    # Shown in full only when made (the FAQ); afterwards only a masked form.
    return None if key is None else f"{key[:6]}****{key[-4:]}"


def seat_equity(call: Call, seat: Seat) -> dict[str, Any]:
    start, end = call.ledger.cycle_bounds()
    seat = call.ledger.seat(seat.id)  # the month's reset applied
    return {
        "CycleStartTime": ms(start),
        "CycleEndTime": ms(end),
        "CycleInstanceId": f"{seat.id}-cycle-{seat.cycle + 1}",
        "CycleSurplusValue": amount(seat.remaining),
        "CycleTotalValue": amount(seat.quota),
        "CycleVersion": seat.cycle + 1,
        "EquityType": "CREDITS",
    }


def seat_status(call: Call, seat: Seat) -> str:
    return call.ledger.standing(seat).upper()


def instance_code(call: Call) -> str:
    return "tp-" + call.runtime.seeds.hex(16, "instance", call.ledger.generation)


# ---- subscription -------------------------------------------------------------------------


@action("GET", "/subscription/stats", "GetSubscriptionStats")
def subscription_stats(call: Call) -> dict[str, Any]:
    # The admin API's /_emulator/stats is the same view: one computation for both.
    return views.subscription_stats(call.runtime, call.rid)


def paged(call: Call, items: list[dict[str, Any]]) -> dict[str, Any]:
    """One page of `items`, as the subscription listings page (`PageNo`, `PageSize`)."""
    page = call.number("PageNo", 1)
    size = call.number("PageSize", 10, MAX_PAGE_SIZE)
    return {
        "Items": items[(page - 1) * size : page * size],
        "PageNo": page,
        "PageSize": size,
        "Total": len(items),
    }


@action("GET", "/subscription/seat-detail", "GetSubscriptionSeatDetails")
def seat_details(call: Call) -> dict[str, Any]:
    ledger = call.ledger
    wanted_seat, tier = call.text("SeatId"), call.tier("SeatType", required=False)
    assigned, statuses = call.flag("QueryAssigned"), set(call.listed("StatusList"))
    if wanted_seat is not None and wanted_seat not in ledger.seats:
        raise OpenApiError(404, "Seat.NotFound", f"The seat {wanted_seat} does not exist.")
    items = []
    for seat in ledger.seats.values():
        status = seat_status(call, seat)
        member = call.org.by_name(seat.member) if seat.member else None
        if (
            (wanted_seat is not None and seat.id != wanted_seat)
            or (tier is not None and seat.tier != tier)
            or (assigned is not None and (seat.member is not None) != assigned)
            or (statuses and status not in statuses)
        ):
            continue
        items.append(
            {
                "SeatId": seat.id,
                "SpecType": seat.tier,
                "AssignedStatus": "ASSIGNED" if seat.member else "UNASSIGNED",
                "Status": status,
                "AccountId": member.account_id if member else None,
                "AccountName": member.name if member else None,
                "AccountEmail": member.email if member else None,
                "InstanceCode": instance_code(call),
                "StartTime": ms(ledger.start),
                "EndTime": ms(ledger.end),
                "EquityList": [seat_equity(call, seat)],
            }
        )
    return ok_body(call.rid, paged(call, items))


@action("GET", "/subscription/shared-packages", "ListSubscriptionSharedPackages")
def shared_packages(call: Call) -> dict[str, Any]:
    statuses = set(call.listed("StatusList"))
    items = []
    for pack in call.ledger.packs:
        if pack.expires_at <= call.now:
            status = "EXPIRED"
        else:
            status = "EXHAUSTED" if pack.remaining <= 0 else "VALID"
        if statuses and status not in statuses:
            continue
        equity = {
            "CycleStartTime": ms(pack.purchased_at),
            "CycleEndTime": ms(pack.expires_at),
            "CycleInstanceId": f"{pack.id}-cycle-1",
            "CycleSurplusValue": amount(pack.remaining),
            "CycleTotalValue": amount(pack.size),
            "CycleVersion": 1,
            "EquityType": "CREDITS",
        }
        items.append({"InstanceCode": pack.id, "Status": status, "EquityList": [equity]})
    return ok_body(call.rid, paged(call, items))


@action("POST", "/subscription/seat-assignments", "BatchAssignSeats")
def assign_seats(call: Call) -> dict[str, Any]:
    accounts = call.listed("AccountIds", required=True)
    tier = call.tier("SeatType")
    members = [call.member(account) for account in dict.fromkeys(accounts)]
    for member in members:
        held = call.seat_of(member)
        if held is not None:
            raise OpenApiError(
                400,
                "Seat.AlreadyAssigned",
                f"The account {member.account_id} already holds seat {held.id}.",
            )
    free = [s for s in call.ledger.seats.values() if s.tier == tier and s.member is None]
    if len(free) < len(members):
        # Checked before any change: a refused batch assigns nothing.
        raise OpenApiError(
            400,
            "Seat.NotEnough",
            f"Not enough unassigned {tier} seats: {len(free)} free, {len(members)} requested.",
        )
    for seat, member in zip(free, members, strict=False):
        call.ledger.assign(seat.id, member.name)
    return ok_body(call.rid)


@action("POST", "/subscription/seat-revocations", "BatchRevokeSeats")
def revoke_seats(call: Call) -> dict[str, Any]:
    raw = call.required("Items")
    try:
        items = json.loads(raw)
    except ValueError:
        raise invalid_parameter("Items", raw) from None
    if not isinstance(items, list) or not items:
        raise invalid_parameter("Items", raw)
    seats = []
    for item in items:
        account = item.get("AccountId") if isinstance(item, dict) else None
        if not isinstance(account, str) or not account:
            raise missing_parameter("Items.AccountId")
        member = call.member(account)
        seat = call.seat_of(member)
        if seat is None:
            raise OpenApiError(
                400, "Seat.NotAssigned", f"The account {account} holds no seat to revoke."
            )
        seats.append(seat)
    for seat in seats:  # all checked first: a refused batch revokes nothing
        call.ledger.reclaim(seat.id)
    return ok_body(call.rid)


# ---- keys ---------------------------------------------------------------------------------


def _new_key(call: Call, seat: Seat) -> Seat:
    try:
        return call.ledger.reset_key(seat.id)
    except PlanError as error:  # the ledger refuses a key for an unassigned seat
        raise OpenApiError(400, "Seat.NotAssigned", error.message) from None


@action("POST", "/api-keys", "CreateTokenPlanKey")
def create_key(call: Call) -> dict[str, Any]:
    member = call.member(call.required("AccountId"))
    seat = call.seat_of(member)
    if seat is None:
        raise OpenApiError(
            400,
            "Seat.NotAssigned",
            f"The account {member.account_id} holds no seat: assign one before creating a key.",
        )
    seat = _new_key(call, seat)
    data = {
        "ApiKeyId": api_key_id(call, seat),
        "CreatedAt": iso(call.now),
        "Description": call.text("Description"),
        "MaskedApiKey": masked(seat.key),
        "PlainApiKey": seat.key,
        "SourceId": seat.id,
    }
    return ok_body(call.rid, data)


@action("POST", "/api-key-rotations", "RotateTokenPlanKey")
def rotate_key(call: Call) -> dict[str, Any]:
    wanted = call.required("ApiKeyId")
    seat = next(
        (
            s
            for s in call.ledger.seats.values()
            if s.member is not None and api_key_id(call, s) == wanted
        ),
        None,
    )
    if seat is None:
        raise OpenApiError(404, "ApiKey.NotFound", f"The API key {wanted} does not exist.")
    seat = _new_key(call, seat)
    data = {
        "ApiKeyId": wanted,
        "MaskedApiKey": masked(seat.key),
        "PlainApiKey": seat.key,
        "ResetAt": iso(call.now),
        "SourceId": seat.id,
    }
    return ok_body(call.rid, data)


# ---- the account and the organisation -----------------------------------------------------


@action("GET", "/account", "GetTokenPlanAccountDetail")
def account_detail(call: Call) -> dict[str, Any]:
    """The account the AccessKey belongs to: the team's owner."""
    owner = call.org.owner
    membership = {
        "OrgId": call.org.org_id,
        "RoleCode": owner.role,
        "RoleId": ROLE_IDS[owner.role],
        "MemberStatus": owner.status,
        "Workspaces": [],
    }
    data = {
        "AccountId": owner.account_id,
        "AccountType": "ALIYUN",
        "AliyunUid": owner.account_id,
        "CreatedAt": iso(owner.created),
        "Email": owner.email,
        "IsDeleted": False,
        "Name": owner.name,
        "OrgMemberships": [membership],
    }
    return ok_body(call.rid, data, HttpStatusCode=200)


def organization_view(call: Call) -> dict[str, Any]:
    org = call.org
    return {
        "OrgId": org.org_id,
        "Name": org.name,
        "Description": org.description,
        "GmtCreate": iso(org.created),
        "GmtModified": iso(org.modified),
        "NamespaceId": "ns-" + call.runtime.seeds.hex(16, "namespace"),
        "OwnerId": org.owner.account_id,
        "OwnerBizAccountId": org.owner.account_id,
        "Status": "ACTIVE",
    }


@action("GET", "/organization", "GetOrganization")
def get_organization(call: Call) -> dict[str, Any]:
    return ok_body(call.rid, organization_view(call), HttpStatusCode=200)


@action("POST", "/organization", "UpdateOrganization")
def update_organization(call: Call) -> dict[str, Any]:
    name, description = call.text("Name"), call.query.get("Description")
    if name is None and description is None:
        raise missing_parameter("Name")
    if name is not None:
        call.org.name = name
    if description is not None:
        call.org.description = description
    call.org.modified = call.now
    return ok_body(call.rid, organization_view(call), HttpStatusCode=200)


def member_equity(equity: dict[str, Any]) -> dict[str, Any]:
    """A seat's equity as the member listing's model reads it (no instance id or version; a
    unit instead)."""
    names = ("CycleStartTime", "CycleEndTime", "CycleSurplusValue", "CycleTotalValue")
    return {name: equity[name] for name in names} | {
        "EquityType": "CREDITS",
        "EquityUnit": "CREDITS",
    }


def member_view(call: Call, member: Member) -> dict[str, Any]:
    seat = call.seat_of(member)
    ledger = call.ledger
    subscription = None
    if seat is not None:
        subscription = {
            "InstanceCode": instance_code(call),
            "PayMode": "Subscription",
            "ProductCode": "token_plan_team",
            "SpecType": seat.tier,
            "StartTime": ms(ledger.start),
            "EndTime": ms(ledger.end),
            "Status": seat_status(call, seat),
            "EquityList": [member_equity(seat_equity(call, seat))],
        }
    return {
        "AccountId": member.account_id,
        "AccountBizId": member.account_id,
        "AccountName": member.name,
        "Email": member.email,
        "GmtCreate": iso(member.created),
        "OrgId": call.org.org_id,
        "Roles": [member.role],
        "Status": member.status,
        "SeatId": seat.id if seat else None,
        "SpecType": seat.tier if seat else None,
        "ApiKeyId": api_key_id(call, seat) if seat and seat.key else None,
        "MaskedApiKey": masked(seat.key) if seat else None,
        "SubscriptionInfo": subscription,
        "PackLimitInfo": pack_limit_info(call, seat),
    }


def pack_limit_info(call: Call, seat: Seat | None) -> dict[str, Any]:
    """The member's share of the shared packs this subscription month: its limit (the
    seat's, set by a scenario or the admin API), what it drew and may still draw. Requests
    settle at once, so nothing is ever frozen (docs/fidelity.md)."""
    start, end = call.ledger.cycle_bounds()
    info: dict[str, Any] = {
        "CycleStartTime": ms(start),
        "CycleEndTime": ms(end),
        "FrozenCredits": 0.0,
        "HasShareLimit": False,
        "IsAvailable": False,
        "UsedCredits": 0.0,
    }
    if seat is None:
        return info
    seat = call.ledger.seat(seat.id)  # the month's reset applied
    info["UsedCredits"] = amount(seat.pack_used)
    info["IsAvailable"] = call.ledger.pack_available(seat) > 0
    allowance = seat.pack_allowance
    if seat.pack_limit is not None and allowance is not None:
        info["HasShareLimit"] = True
        info["UpperLimit"] = amount(seat.pack_limit)
        info["AvailableLimit"] = amount(allowance)
    return info


@action("GET", "/organization/members", "ListOrganizationMembers")
def list_members(call: Call) -> dict[str, Any]:
    has_seat, status = call.flag("HasSeat"), call.text("Status")
    needle = (call.text("Name") or "").lower()
    page = call.number("PageNum", 1)
    size = call.number("PageSize", 20, MAX_PAGE_SIZE)
    chosen = [
        m
        for m in call.org.members.values()
        if (has_seat is None or (call.seat_of(m) is not None) == has_seat)
        and (status is None or m.status == status)
        and (needle in m.name.lower() or needle in m.email.lower())
    ]
    rows = [member_view(call, m) for m in chosen[(page - 1) * size : page * size]]
    return ok_body(call.rid, rows, PageNo=page, PageSize=size, Total=len(chosen))


@action("POST", "/organization/member-additions", "AddOrganizationMember")
def add_member(call: Call) -> dict[str, Any]:
    name = call.required("AccountName")
    role = call.text("OrgRoleCode") or MEMBER
    if role not in (ADMIN, MEMBER):
        raise invalid_parameter("OrgRoleCode", role)
    tier = call.tier("SpecType", required=False)
    if call.org.by_name(name) is not None:
        raise OpenApiError(400, "Member.AlreadyExists", f"A member named {name} already exists.")
    member = call.org.add(name, role, call.now)
    assigned = False
    free = next(
        (s for s in call.ledger.seats.values() if s.tier == tier and s.member is None), None
    )
    if free is not None:  # no free seat of that type: added without one (docs/fidelity.md)
        call.ledger.assign(free.id, member.name)
        assigned = True
    data = {"AccountId": member.account_id, "SeatAssigned": assigned}
    return ok_body(call.rid, data, HttpStatusCode=200)


def _members(call: Call) -> list[Member]:
    members = [call.member(a) for a in dict.fromkeys(call.listed("AccountIds", required=True))]
    for member in members:
        if member.role == OWNER:
            raise OpenApiError(
                400, "Member.OwnerImmutable", "The owner's role and membership cannot be changed."
            )
    return members


@action("POST", "/organization/member-removals", "RemoveOrganizationMember")
def remove_members(call: Call) -> dict[str, Any]:
    for member in _members(call):
        seat = call.seat_of(member)
        if seat is not None:  # removal reclaims the seat (the FAQ); its key stops at once
            call.ledger.reclaim(seat.id)
        del call.org.members[member.account_id]
    return ok_body(call.rid)


@action("POST", "/organization/members/update", "UpdateOrganizationMember")
def update_members(call: Call) -> dict[str, Any]:
    role = call.required("NewRoleCode")
    if role not in (ADMIN, MEMBER):
        raise invalid_parameter("NewRoleCode", role)
    for member in _members(call):
        member.role = role  # a role change keeps the seat (the FAQ)
    return ok_body(call.rid, HttpStatusCode=200)


@action("GET", "/organization/member-seat-stats", "GetOrganizationMemberSeatStats")
def member_seat_stats(call: Call) -> dict[str, Any]:
    members = list(call.org.members.values())
    seated = sum(1 for m in members if call.seat_of(m) is not None)
    # This action's answer has no Success/Data envelope (SDK: its fields are top-level).
    return {
        "RequestId": call.rid,
        "OrgId": call.org.org_id,
        "TotalMemberCount": len(members),
        "SeatedMemberCount": seated,
        "UnseatedMemberCount": len(members) - seated,
        "OwnerRoleUserCount": sum(1 for m in members if m.role == OWNER),
        "AdminRoleUserCount": sum(1 for m in members if m.role == ADMIN),
        "MemberRoleUserCount": sum(1 for m in members if m.role == MEMBER),
    }


# ---- invitations --------------------------------------------------------------------------


@action("POST", "/invite/link/create", "CreateTokenPlanInviteLink")
def create_invite(call: Call) -> dict[str, Any]:
    sso = call.required("SsoSource")
    if sso not in ("SAML", "DINGTALK"):
        raise invalid_parameter("SsoSource", sso)
    expire = call.text("ExpireType") or "DAYS_7"
    if expire not in INVITE_DAYS:
        raise invalid_parameter("ExpireType", expire)
    org = call.org
    org.invites_made += 1
    token = call.runtime.seeds.hex(32, "invite", org.invites_made, call.ledger.generation)
    org.invite = InviteLink(token, call.now + INVITE_DAYS[expire] * 86400, sso)
    return ok_body(call.rid, {"Token": token})


@action("GET", "/invite/link/get", "GetTokenPlanInviteLink")
def get_invite(call: Call) -> dict[str, Any]:
    invite = call.org.invite
    if invite is None or invite.expires <= call.now:
        return ok_body(call.rid, {})
    return ok_body(call.rid, {"Token": invite.token, "ExpireTime": ms(invite.expires)})


@action("POST", "/invite/link/revoke", "RevokeTokenPlanInviteLink")
def revoke_invite(call: Call) -> dict[str, Any]:
    call.org.invite = None
    return ok_body(call.rid)


@action("GET", "/invite/config/get", "GetTokenPlanOrgInviteConfig")
def get_invite_config(call: Call) -> dict[str, Any]:
    org = call.org
    data = {
        "OrgId": org.org_id,
        "DefaultRoleId": org.default_role_id,
        "SeatAssignStrategy": org.seat_strategy,
    }
    return ok_body(call.rid, data)


@action("POST", "/invite/config/set", "SetTokenPlanOrgInviteConfig")
def set_invite_config(call: Call) -> dict[str, Any]:
    role_id, strategy = call.required("DefaultRoleId"), call.required("SeatAssignStrategy")
    if role_id not in (ROLE_IDS[ADMIN], ROLE_IDS[MEMBER]):
        raise invalid_parameter("DefaultRoleId", role_id)
    if strategy not in SEAT_STRATEGIES:
        raise invalid_parameter("SeatAssignStrategy", strategy)
    call.org.default_role_id, call.org.seat_strategy = role_id, strategy
    return ok_body(call.rid)


# ---- serving ------------------------------------------------------------------------------


async def serve(request: web.Request) -> web.Response:
    """Answer one management call: signature, action, answer; journalled like a model call."""
    runtime = request.app[RUNTIME]
    rid = request_id(request[REQUEST_ID])
    entry = Entry(
        request[REQUEST_ID], request[ARRIVED], request.method, request.path, "token_plan", "openapi"
    )
    request[journaled.CALL] = journaled.Call(
        runtime, request[REQUEST_ID], request[ARRIVED], b"", entry
    )
    status, body = 200, {}
    try:
        raw = await request.read()
        verify(
            access_key(runtime.seeds),
            request.method,
            request.path,
            request.query,
            request.headers,
            raw,
        )
        route = ACTIONS.get((request.method, request.path))
        named = request.headers.get("x-acs-action")
        if route is None or (named is not None and named != route[0]):
            raise OpenApiError(
                404,
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
            )
        if request.headers.get("x-acs-version", VERSION) != VERSION:
            raise OpenApiError(
                400, "InvalidVersion", f"Specified parameter Version is not valid: {VERSION} only."
            )
        entry.model = route[0]  # the journal's model column names the action
        await consult(request, route[0])  # the scenario's rules and faults (management_rules.py)
        call = Call(runtime, runtime.team(), request.query, rid)
        body = route[1](call)
        if request.method == "POST":  # a change: the next save writes the organisation
            call.org.revision += 1
    except OpenApiError as error:
        status, body = error.status, error_body(error, rid, request.host)
        entry.error = error.code
    except NoAnswer as fault:
        return await no_answer(request, stall=fault.stall)
    response = web.json_response(body, status=status, headers={"x-acs-request-id": rid})
    entry.response_body = json.dumps(body)[:2000]
    journal_once(request, status)
    return response
