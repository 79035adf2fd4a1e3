"""The books of one Token Plan Team Edition subscription: seats, keys, Credits, shared packs.

Rules (docs/sources.md, the FAQ): a request is charged to its seat's monthly quota first, then to
shared usage packs, soonest-expiring first; a request admitted with anything left completes and
its cost stops the balance at zero; with nothing left, requests are refused until a reset, a pack
or an upgrade. Seat quotas reset on each subscription-month anniversary, without carry-over.
Everything here is exact integers of micro-Credits, and all time comes from the clock.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from emulator.engine.types import record
from emulator.errors import ApiError
from emulator.plan.calendar import add_months, months_elapsed
from emulator.plan.clock import Clock
from emulator.plan.credits import MICRO, PACK_CREDITS, TIER_CREDITS, Cost
from emulator.seeds import Seeds, plan_key

DAY = 86400.0
PACK_MONTHS = 1  # a shared pack is valid one month from purchase
# Bounds of the emulator, not of the product (whose limits are not published): a subscription
# term of a century keeps every anniversary inside the calendar (plan/clock.py's window), and
# a thousand seats or packs is more than any test needs while keeping a state file small.
MAX_TERM_MONTHS = 1200
MAX_SEATS = 1000
MAX_PACKS = 1000
MAX_PACK_LIMIT = MAX_PACKS * PACK_CREDITS  # a share limit above every pack kept limits nothing


class PlanError(Exception):
    """An admin operation the plan refuses (HTTP status and a clear message)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Seat:
    id: str
    tier: str
    member: str | None = None
    key: str | None = None
    suspended: bool = False
    used: int = 0  # micro-Credits spent in subscription month `cycle`
    # micro-Credits this month's quota differs from the tier's: after an upgrade the month keeps
    # the old tier's quota plus the pro-rated extra (so this is negative when the extra is
    # less than the tiers' difference); 0 again from the next anniversary
    bonus: int = 0
    cycle: int = 0
    # The member's share limit on the shared packs (SDK: PackLimitInfo): at most this many
    # micro-Credits drawn from packs per subscription month; None: no limit.
    pack_limit: int | None = None
    pack_used: int = 0  # micro-Credits drawn from packs in subscription month `cycle`

    @property
    def pack_allowance(self) -> int | None:
        """What the share limit still lets this seat draw from packs this month (None: no
        limit)."""
        return None if self.pack_limit is None else max(0, self.pack_limit - self.pack_used)

    @property
    def quota(self) -> int:
        return TIER_CREDITS[self.tier] * MICRO + self.bonus

    @property
    def remaining(self) -> int:
        # (`quota` written out: every request asks twice, and a property reading another costs
        # a second call)
        return max(0, TIER_CREDITS[self.tier] * MICRO + self.bonus - self.used)


@dataclass
class Pack:
    id: str
    purchased_at: float
    expires_at: float
    size: int = PACK_CREDITS * MICRO
    used: int = 0

    @property
    def remaining(self) -> int:
        return max(0, self.size - self.used)


@record  # (made on every charge: engine/types.py's record)
class Charge:
    """Where one request's cost came from."""

    seat: str
    cost: Cost
    from_seat: int
    from_packs: tuple[tuple[str, int], ...]
    charged: int  # what was actually taken: the cost, or less when the balance ran out under it


@dataclass
class Ledger:
    clock: Clock
    seeds: Seeds
    start: float
    term_months: int = 12
    seats: dict[str, Seat] = field(default_factory=dict)
    packs: list[Pack] = field(default_factory=list)
    generation: int = 0  # how many subscriptions came before this one (keys change with it)
    keys_issued: dict[str, int] = field(default_factory=dict)  # member -> keys generated so far
    # (day index, member, model) -> micro-Credits: the usage analysis over 1 / 7 / 30 days
    usage: dict[tuple[int, str, str], int] = field(default_factory=lambda: defaultdict(int))
    # (start, from, until, index): the subscription month `index` of `start` spans [from, until)
    _end_memo: tuple[float, int, float] = field(default=(math.nan, 0, 0.0), repr=False)
    _cycle_memo: tuple[float, float, float, int] = field(
        default=(math.nan, 0.0, 0.0, 0), repr=False
    )

    # ---- time --------------------------------------------------------------------------------

    @property
    def end(self) -> float:
        return add_months(self.start, self.term_months)

    def expired(self) -> bool:
        # (the end, remembered with the start and term it is of: every request asks)
        start, months, end = self._end_memo
        if start != self.start or months != self.term_months:
            end = self.end
            self._end_memo = (self.start, self.term_months, end)
        return self.clock.now() >= end

    def cycle(self) -> int:
        """The current subscription month, from 0. Remembered with the span of time it covers:
        a request asks several times, on the real clock each time at a new instant, and the
        answer changes only at an anniversary."""
        now = self.clock.now()
        start, since, until, index = self._cycle_memo
        if start == self.start and since <= now < until:
            return index
        index = months_elapsed(self.start, now)
        if now < self.start:  # before the subscription starts: month 0 until it does
            since, until = -math.inf, self.start
        else:  # months_elapsed is the last anniversary passed; add_months only grows
            since, until = add_months(self.start, index), add_months(self.start, index + 1)
        self._cycle_memo = (self.start, since, until, index)
        return index

    def cycle_bounds(self) -> tuple[float, float]:
        """Start and end (the next reset) of the current subscription month."""
        index = self.cycle()
        return add_months(self.start, index), add_months(self.start, index + 1)

    def _roll(self, seat: Seat) -> Seat:
        """Apply the resets the clock has passed: a new month starts from the full quota."""
        index = self.cycle()
        if seat.cycle != index:
            seat.used, seat.bonus, seat.cycle, seat.pack_used = 0, 0, index, 0
        return seat

    def live_packs(self) -> list[Pack]:
        """Packs still valid with Credits left, in the order they are drawn: soonest-expiring."""
        now = self.clock.now()
        live = [p for p in self.packs if p.expires_at > now and p.remaining > 0]
        return sorted(live, key=lambda p: (p.expires_at, p.id))

    # ---- requests ----------------------------------------------------------------------------

    def seat_of(self, key: str) -> Seat | None:
        """The assigned seat holding `key`, if any (no validity checks)."""
        for seat in self.seats.values():
            if seat.key == key and seat.member:
                return seat
        return None

    def authenticate(self, key: str) -> Seat:
        """The seat a live key belongs to; the FAQ's 401 for unknown keys and expired plans."""
        seat = self.seat_of(key)
        if seat is None or self.expired():
            raise ApiError("invalid_api_key")
        if seat.suspended:
            raise ApiError("key_suspended")
        return self._roll(seat)

    def standing(self, seat: Seat) -> str:
        """Whether the seat's key is served now and, when not, why: "unassigned", "expired",
        "suspended" or "spent" (seat quota and every live pack used up), else "active". The
        order is the order a request is refused in (authenticate, then admit), so the status
        shown names the error a request would get."""
        if seat.member is None:
            return "unassigned"
        if self.expired():
            return "expired"
        if seat.suspended:
            return "suspended"
        return "spent" if self.available(seat) <= 0 else "active"

    def available(self, seat: Seat) -> int:
        return self._roll(seat).remaining + self.pack_available(seat)

    def pack_available(self, seat: Seat) -> int:
        """What the seat may still draw from the shared packs: what they hold, capped by the
        seat's share limit."""
        held = sum(p.remaining for p in self.live_packs())
        allowance = self._roll(seat).pack_allowance
        return held if allowance is None else min(held, allowance)

    def admit(self, seat: Seat) -> None:
        """Refuse a request when the seat is spent and the packs are too, or are closed to it
        by its share limit."""
        if self._roll(seat).remaining > 0:  # what the packs hold only matters once it is not
            return
        if self.available(seat) <= 0:
            raise ApiError("insufficient_quota")

    def charge(self, seat: Seat, cost: Cost, model: str) -> Charge:
        """Take `cost` from the seat, then from packs; what is not there is not taken."""
        self._roll(seat)
        owed = cost.total
        from_seat = min(owed, seat.remaining)
        seat.used += from_seat
        owed -= from_seat
        charged = from_seat
        from_packs: list[tuple[str, int]] = []
        if owed > 0:  # (the usual charge is all from the seat: no packs to look at)
            allowance = seat.pack_allowance
            if allowance is not None:  # the share limit caps what the packs give this seat
                owed = min(owed, allowance)
            for pack in self.live_packs():
                if owed <= 0:
                    break
                taken = min(owed, pack.remaining)
                pack.used += taken
                owed -= taken
                from_packs.append((pack.id, taken))
                seat.pack_used += taken
                charged += taken
        day = int(self.clock.now() // DAY)
        self.usage[(day, seat.member or "", model)] += charged
        return Charge(seat.id, cost, from_seat, tuple(from_packs), charged)

    # ---- administration ----------------------------------------------------------------------

    def seat(self, seat_id: str) -> Seat:
        if seat_id not in self.seats:
            raise PlanError(f"no seat {seat_id!r}", 404)
        return self._roll(self.seats[seat_id])

    def add_seat(self, tier: str, member: str | None = None) -> Seat:
        """A new seat, given to `member` when named; a refusal changes nothing."""
        _check_tier(tier)
        if len(self.seats) >= MAX_SEATS:
            raise PlanError(f"the emulator keeps at most {MAX_SEATS} seats", 409)
        if member is not None:
            self._check_seatless(member)
        seat = Seat(id=f"seat-{len(self.seats) + 1}", tier=tier, cycle=self.cycle())
        self.seats[seat.id] = seat
        return seat if member is None else self.assign(seat.id, member)

    def _check_seatless(self, member: str) -> None:
        if any(s.member == member for s in self.seats.values()):
            raise PlanError(f"{member} already has a seat", 409)

    def assign(self, seat_id: str, member: str, key: str | None = None) -> Seat:
        """Give a seat to a member and generate its key (shown in full only now)."""
        seat = self.seat(seat_id)
        if seat.member is not None:
            raise PlanError(f"{seat_id} is assigned to {seat.member}; reclaim it first", 409)
        self._check_seatless(member)
        seat.member = member
        seat.key = key or self._new_key(member)
        return seat

    def reclaim(self, seat_id: str) -> Seat:
        """Return a seat to unassigned; its key stops working at once."""
        seat = self.seat(seat_id)
        seat.member, seat.key, seat.suspended = None, None, False
        return seat

    def reset_key(self, seat_id: str) -> Seat:
        seat = self.seat(seat_id)
        if seat.member is None:
            raise PlanError(f"{seat_id} is unassigned: assign it before generating a key", 409)
        seat.key = self._new_key(seat.member)
        return seat

    def suspend(self, seat_id: str, suspended: bool = True) -> Seat:
        seat = self.seat(seat_id)
        seat.suspended = suspended
        return seat

    def set_pack_limit(self, seat_id: str, credits: float | None) -> Seat:
        """Limit what the seat's member may draw from the shared packs per subscription
        month (Credits; None lifts the limit). What was drawn this month counts against it."""
        seat = self.seat(seat_id)
        if credits is not None and not 0 <= credits <= MAX_PACK_LIMIT:
            raise PlanError(f"a pack limit must be from 0 to {MAX_PACK_LIMIT} Credits")
        seat.pack_limit = None if credits is None else round(credits * MICRO)
        return seat

    def upgrade(self, seat_id: str, tier: str) -> Seat:
        """A higher tier at once; this month gains remaining_days / 30 x the difference, rounded
        up to whole Credits (docs/sources.md). Downgrades are not offered."""
        _check_tier(tier)
        seat = self.seat(seat_id)
        old, new = TIER_CREDITS[seat.tier], TIER_CREDITS[tier]
        if new <= old:
            raise PlanError(
                f"{seat_id} is {seat.tier}: only an upgrade to a higher tier is possible"
            )
        _, cycle_end = self.cycle_bounds()
        days = math.ceil((cycle_end - self.clock.now()) / DAY)
        extra = math.ceil(days * (new - old) / 30)
        # This month: the old quota plus `extra` (not the new tier's full quota plus it).
        seat.bonus += (extra - (new - old)) * MICRO
        seat.tier = tier
        return seat

    def buy_pack(self) -> Pack:
        if len(self.packs) >= MAX_PACKS:
            raise PlanError(f"the emulator keeps at most {MAX_PACKS} packs", 409)
        now = self.clock.now()
        pack = Pack(f"pack-{len(self.packs) + 1}", now, add_months(now, PACK_MONTHS))
        self.packs.append(pack)
        return pack

    def renew(self, months: int) -> None:
        """Extend validity; Credits of the current month are neither added nor reset. Only
        before the end: after expiry one subscribes again, and the keys change (the FAQ)."""
        if self.expired():
            raise PlanError(
                "the subscription has expired and cannot be renewed: subscribe again "
                "(POST /_emulator/subscription), which issues new keys",
                409,
            )
        room = MAX_TERM_MONTHS - self.term_months
        if not 1 <= months <= room:
            raise PlanError(
                f"months must be from 1 to {room}: a subscription term is at most "
                f"{MAX_TERM_MONTHS} months and this one has {self.term_months}"
                if room
                else f"the subscription term is already the longest kept ({MAX_TERM_MONTHS} months)"
            )
        self.term_months += months

    def _new_key(self, member: str) -> str:
        issued = self.keys_issued.get(member, 0)
        self.keys_issued[member] = issued + 1
        # A member's first key of the first subscription depends only on the seed, so it is
        # stable across runs; every later key differs.
        later = (issued, self.generation) if issued or self.generation else ()
        return plan_key(self.seeds, "seat", member, *later)

    def successor(self, start: float, months: int) -> Ledger:
        """A new subscription after this one expired: same seats and members, new keys, full
        quotas; the usage history carries on."""
        new = Ledger(self.clock, self.seeds, start, months, generation=self.generation + 1)
        new.usage = self.usage
        for seat in self.seats.values():
            added = new.add_seat(seat.tier)
            added.pack_limit = seat.pack_limit  # a setting of the seat, kept
            if seat.member is not None:
                new.assign(added.id, seat.member)
        return new


def _check_tier(tier: str) -> None:
    if tier not in TIER_CREDITS:
        raise PlanError(f"tier must be one of {', '.join(TIER_CREDITS)}")
