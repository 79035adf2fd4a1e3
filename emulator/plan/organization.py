"""The team around the ledger: its organisation, members and their roles, and the invite link.

The ledger (ledger.py) stays the one book of seats, keys and Credits, and names a seat's holder
by member name; this module only adds who the members are (account id, role, e-mail) and the
organisation's own settings. It is kept in memory (not in the --state file) and rebuilt from
the ledger at a reset: docs/fidelity.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from emulator.plan.ledger import Ledger
from emulator.seeds import Seeds

OWNER, ADMIN, MEMBER = "ORG_OWNER", "ORG_ADMIN", "ORG_MEMBER"
ROLES = (OWNER, ADMIN, MEMBER)
# The role ids the invite config names (SDK: SetTokenPlanOrgInviteConfigRequest).
ROLE_IDS = {
    OWNER: "SYSTEM_ROLE_ORG_OWNER",
    ADMIN: "SYSTEM_ROLE_ORG_ADMIN",
    MEMBER: "SYSTEM_ROLE_ORG_MEMBER",
}
OWNER_NAME = "owner"  # the account the emulator's AccessKey belongs to


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

    @classmethod
    def of(cls, ledger: Ledger, seeds: Seeds) -> Organization:
        """The organisation a scenario's ledger implies: the owner, and every seat holder as a
        member."""
        org = cls(seeds, "org-" + seeds.hex(16, "org"), "Token Plan team", ledger.start)
        org.modified = ledger.start
        org.add(OWNER_NAME, OWNER, ledger.start)
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
