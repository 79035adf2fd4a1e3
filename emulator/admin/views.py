"""The plan's state as JSON-ready dicts: the admin API and the status command share these."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from emulator.journal import mask
from emulator.plan.calendar import iso
from emulator.plan.credits import MICRO
from emulator.plan.ledger import DAY, Ledger, Pack, Seat
from emulator.protocols.alibaba_openapi import access_key
from emulator.runtime import Runtime


def amount(micro: int) -> float:
    """micro-Credits as a JSON number of Credits (exact: at most 15 significant digits)."""
    return micro / MICRO


def shown(micro: int) -> str:
    """micro-Credits as Credits for a sentence: thousands separated, no trailing zeros."""
    return f"{micro / MICRO:,.6f}".rstrip("0").rstrip(".")


def seat_view(seat: Seat, ledger: Ledger) -> dict[str, Any]:
    status = ledger.standing(seat)
    return {
        "id": seat.id,
        "tier": seat.tier,
        "member": seat.member,
        "key": seat.key,
        "key_masked": mask(seat.key),
        "status": status,
        "why": why(status, seat, ledger),
        "quota": amount(seat.quota),
        "used": amount(seat.used),
        "remaining": amount(seat.remaining),
        # the member's share limit on the shared packs per month (None: none), and its draw
        "pack_limit": None if seat.pack_limit is None else amount(seat.pack_limit),
        "pack_used": amount(seat.pack_used),
    }


def why(status: str, seat: Seat, ledger: Ledger) -> str:
    """One line on what the status means for a request with the seat's key, and what restores it:
    the page and `python -m emulator status` print it as is."""
    if status == "unassigned":
        return "no member holds it: assign it to issue a key"
    if status == "expired":
        return f"the subscription ended {iso(ledger.end)}: requests get 401"
    if status == "suspended":
        return "suspended by an admin: requests get 403"
    if status == "spent":
        _, next_reset = ledger.cycle_bounds()
        now = ledger.clock.now()
        allowance = seat.pack_allowance
        spent = (
            "seat quota used up and its pack limit reached"
            if allowance is not None and allowance <= 0
            else "seat quota and every shared pack used up"
            if any(pack.expires_at > now for pack in ledger.packs)
            else "seat quota used up, no live shared pack"
        )
        return f"{spent}: requests get 429 until {iso(next_reset)}, a pack or an upgrade"
    if seat.remaining <= 0:
        if seat.pack_limit is not None:
            return (
                f"seat quota used up: drawing on shared packs, {shown(seat.pack_used)} of "
                f"its {shown(seat.pack_limit)} Credits pack limit this month"
            )
        return "seat quota used up: drawing on shared packs"
    return ""


def pack_view(pack: Pack, now: float) -> dict[str, Any]:
    return {
        "id": pack.id,
        "size": amount(pack.size),
        "used": amount(pack.used),
        "remaining": amount(pack.remaining),
        "purchased_at": iso(pack.purchased_at),
        "expires_at": iso(pack.expires_at),
        "expired": pack.expires_at <= now,
    }


def overview(runtime: Runtime) -> dict[str, Any]:
    ledger = runtime.ledger
    now = runtime.clock.now()
    seats = [ledger.seat(seat_id) for seat_id in ledger.seats]
    cycle_start, next_reset = ledger.cycle_bounds()
    tiers: dict[str, int] = defaultdict(int)
    for seat in seats:
        tiers[seat.tier] += 1
    assigned = sum(1 for s in seats if s.member)
    expired = ledger.expired()
    live = ledger.live_packs()
    coding = runtime.accounts.coding_plan
    access = access_key(runtime.seeds)
    return {
        "scenario": runtime.config.scenario,
        "catalog": runtime.config.catalog,
        "clock": {"now": iso(now), "frozen": runtime.clock.frozen},
        # The management API's AccessKey (derived from the seed), for SDK configs and tests.
        "access_key": {"id": access.id, "secret": access.secret},
        "subscription": {
            "start": iso(ledger.start),
            "end": iso(ledger.end),
            "months": ledger.term_months,
            "expired": expired,
            "cycle_start": iso(cycle_start),
            "next_reset": iso(next_reset),
            "tiers": dict(tiers),
            "seats": {
                "total": len(seats),
                "assigned": 0 if expired else assigned,
                "unassigned": len(seats) - assigned,
                "expired": assigned if expired else 0,
            },
        },
        "seats": [seat_view(seat, ledger) for seat in seats],
        # The organisation (the management API's members and roles), in joining order.
        "members": [
            {"account_id": m.account_id, "name": m.name, "role": m.role, "status": m.status}
            for m in runtime.team().members.values()
        ],
        "packs": [pack_view(pack, now) for pack in ledger.packs],
        "packs_remaining": amount(sum(p.remaining for p in live)),
        "refused": refused(runtime),
        "coding_plan": {"tier": coding.tier, "key": coding.key, "used": coding.used()},
        "payg": {"key": runtime.accounts.payg_key},
    }


def refused(runtime: Runtime, limit: int = 5) -> list[dict[str, Any]]:
    """The newest refused requests, with the model each named: what a user needs to see when a
    tool sends a wrong model id or key."""
    found: list[dict[str, Any]] = []
    for entry in reversed(runtime.journal.entries):
        if entry.status >= 400:
            found.append(
                {
                    "time": iso(entry.time),
                    "status": entry.status,
                    "error": entry.error,
                    "model": entry.model,
                    "path": entry.path,
                    "member": entry.member,
                }
            )
            if len(found) == limit:
                break
    return found


def usage(runtime: Runtime, days: int) -> dict[str, Any]:
    """Credits by model, by member and by day over the last `days` days (today included)."""
    today = int(runtime.clock.now() // DAY)
    by_model: dict[str, int] = defaultdict(int)
    by_member: dict[str, int] = defaultdict(int)
    by_day: dict[int, int] = defaultdict(int)
    for (day, member, model), micro in runtime.ledger.usage.items():
        if today - days < day <= today:
            by_model[model] += micro
            by_member[member] += micro
            by_day[day] += micro
    return {
        "days": days,
        "total": amount(sum(by_model.values())),
        "by_model": {k: amount(v) for k, v in sorted(by_model.items())},
        "by_member": {k: amount(v) for k, v in sorted(by_member.items())},
        "by_day": [
            {"date": iso(day * DAY)[:10], "credits": amount(by_day.get(day, 0))}
            for day in range(today - days + 1, today + 1)
        ],
    }


def subscription_stats(runtime: Runtime, request_id: str) -> dict[str, Any]:
    """Shaped like the management API's GetSubscriptionStats (docs/sources.md)."""
    ledger = runtime.ledger
    _, next_reset = ledger.cycle_bounds()
    items = []
    for tier in ("standard", "pro", "max"):
        seats = [ledger.seat(s.id) for s in ledger.seats.values() if s.tier == tier]
        if not seats:
            continue
        items.append(
            {
                "SeatType": tier,
                "SeatRefreshTime": int(next_reset * 1000),
                "TotalSeats": len(seats),
                "AssignedSeats": sum(1 for s in seats if s.member),
                "SeatCredits": amount(sum(s.quota for s in seats)),
                "SeatRemainingCredits": amount(sum(s.remaining for s in seats)),
            }
        )
    return {
        "RequestId": request_id,
        "Success": True,
        "Code": "Success",
        "Message": "",
        "Data": {
            "SubscriptionStartTime": int(ledger.start * 1000),
            "SubscriptionEndTime": int(ledger.end * 1000),
            "Items": items,
        },
    }
