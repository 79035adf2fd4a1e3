"""The team around the ledger: its organisation, members and their roles, and the invite link.

The ledger (ledger.py) stays the one book of seats, keys and Credits, and names a seat's holder
by member name; this module only adds who the members are (account id, role, e-mail) and the
organisation's own settings. The --state file keeps it as one JSON document (store.py); a
reset rebuilds it from the ledger.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from emulator.plan.ledger import Ledger
from emulator.seeds import Seeds

if TYPE_CHECKING:
    from emulator.config import OrgConfig

OWNER, ADMIN, MEMBER = "ORG_OWNER", "ORG_ADMIN", "ORG_MEMBER"
ROLES = (OWNER, ADMIN, MEMBER)
# The role ids the invite config names (SDK: SetTokenPlanOrgInviteConfigRequest).
ROLE_IDS = {
    OWNER: "SYSTEM_ROLE_ORG_OWNER",
    ADMIN: "SYSTEM_ROLE_ORG_ADMIN",
    MEMBER: "SYSTEM_ROLE_ORG_MEMBER",
}
OWNER_NAME = "owner"  # the account the emulator's AccessKey belongs to, unless a scenario names one
# A scenario's role names (scenarios.md) -> the API's role codes.
SCENARIO_ROLES = {"owner": OWNER, "admin": ADMIN, "member": MEMBER}


@dataclass
class Member:
    account_id: str
    name: str
    role: str
    created: float
    status: str = "ACTIVE"

    @property
    def email(self) -> str:
        return f"{self.name}@example.com"


@dataclass
class InviteLink:
    token: str
    expires: float
    sso_source: str


@dataclass
class Organization:
    seeds: Seeds
    org_id: str
    name: str
    created: float
    description: str = ""
    modified: float = 0.0
    members: dict[str, Member] = field(default_factory=dict)  # account id -> member
    invite: InviteLink | None = None
    invites_made: int = 0
    default_role_id: str = ROLE_IDS[MEMBER]
    seat_strategy: str = "NONE"
    # Bumped by every change the management API makes, so a save serialises the organisation
    # only when it changed (a save follows every model request too).
    revision: int = 0

    def to_json(self) -> str:
        body: dict[str, Any] = {
            name: getattr(self, name)
            for name in (
                "org_id",
                "name",
                "created",
                "description",
                "modified",
                "invites_made",
                "default_role_id",
                "seat_strategy",
            )
        }
        body["members"] = [asdict(m) for m in self.members.values()]
        body["invite"] = None if self.invite is None else asdict(self.invite)
        return json.dumps(body, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str, seeds: Seeds) -> Organization:
        """What to_json wrote; ValueError, KeyError or TypeError for anything else (store.py
        refuses the file then)."""
        body = json.loads(text)
        members = [Member(**row) for row in body.pop("members")]
        invite = body.pop("invite")
        org = cls(seeds, **body)
        for member in members:
            if member.role not in ROLES or not isinstance(member.name, str):
                raise ValueError(f"member {member.name!r} has no role this version knows")
            org.members[member.account_id] = member
        org.invite = None if invite is None else InviteLink(**invite)
        if sum(1 for m in members if m.role == OWNER) != 1:
            raise ValueError("the organisation has not exactly one owner")
        return org

    @classmethod
    def of(cls, ledger: Ledger, seeds: Seeds, team: OrgConfig | None = None) -> Organization:
        """The organisation a scenario describes (`team`: its name, members with their
        roles, invite settings), with the owner (`owner` unless a member is named owner) and
        every seat holder not listed as a member."""
        name = team.name if team else "Token Plan team"
        org = cls(seeds, "org-" + seeds.hex(16, "org"), name, ledger.start)
        org.modified = ledger.start
        listed = team.members if team else ()
        if not any(m.role == "owner" for m in listed):
            org.add(OWNER_NAME, OWNER, ledger.start)
        for member in listed:
            org.add(member.name, SCENARIO_ROLES[member.role], ledger.start)
        if team is not None:
            org.description = team.description
            org.default_role_id = ROLE_IDS[SCENARIO_ROLES[team.invite_role]]
            org.seat_strategy = team.seat_strategy
        org.sync(ledger, ledger.start)  # the scenario's members were there from the start
        return org

    def account_id(self, name: str) -> str:
        """A 16-digit account id, like an Alibaba Cloud UID, from the seed and the name."""
        return str(10**15 + self.seeds.integer("account", name) % (9 * 10**15))

    def add(self, name: str, role: str, now: float) -> Member:
        member = Member(self.account_id(name), name, role, now)
        self.members[member.account_id] = member
        return member

    def sync(self, ledger: Ledger, when: float | None = None) -> None:
        """Seat holders given seats outside this API (scenario, admin API) become members,
        joining `when` (now by default)."""
        names = {m.name for m in self.members.values()}
        for seat in ledger.seats.values():
            if seat.member is not None and seat.member not in names:
                self.add(seat.member, MEMBER, ledger.clock.now() if when is None else when)
                names.add(seat.member)

    def by_name(self, name: str) -> Member | None:
        return next((m for m in self.members.values() if m.name == name), None)

    @property
    def owner(self) -> Member:
        return next(m for m in self.members.values() if m.role == OWNER)
