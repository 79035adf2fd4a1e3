"""Everything one emulator instance knows, hung off its aiohttp app (no process globals)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from emulator.catalog import Catalog, default_catalog
from emulator.config import Config
from emulator.engine.generate import Engine
from emulator.journal import Journal
from emulator.plan.accounts import Accounts
from emulator.plan.clock import Clock, parse_instant
from emulator.plan.coding_plan import CodingPlan
from emulator.plan.credits import MICRO
from emulator.plan.ledger import DAY, Ledger
from emulator.seeds import Seeds, plan_key


def build_accounts(config: Config, clock: Clock, seeds: Seeds) -> Accounts:
    """The plans a scenario describes, as of the clock's present."""
    if config.subscription_start:
        start = parse_instant(config.subscription_start)
    else:
        start = clock.now() // DAY * DAY
    ledger = Ledger(clock, seeds, start, config.subscription_months)
    for seat_config in config.seats:
        seat = ledger.add_seat(seat_config.tier)
        if seat_config.member is not None:
            ledger.assign(seat.id, seat_config.member, seat_config.key)
        seat.used = round(seat_config.used * MICRO)
    for pack_config in config.packs:
        ledger.buy_pack().used = round(pack_config.used * MICRO)
    coding_plan = CodingPlan(clock, plan_key(seeds, "coding-plan"), config.coding_plan_tier, start)
    return Accounts(ledger, coding_plan, payg_key="sk-" + seeds.hex(32, "payg"))


@dataclass
class Runtime:
    config: Config
    clock: Clock
    seeds: Seeds
    engine: Engine
    catalog: Catalog
    accounts: Accounts
    journal: Journal
    requests_seen: int = 0

    @classmethod
    def from_config(cls, config: Config) -> Runtime:
        seeds = Seeds(config.seed)
        clock = Clock(parse_instant(config.clock) if config.clock else None)
        accounts = build_accounts(config, clock, seeds)
        return cls(config, clock, seeds, Engine(seeds), default_catalog(), accounts, Journal())

    def reset(self) -> None:
        """Back to the scenario's start: clock, plans, journal, caches."""
        fresh = Runtime.from_config(self.config)
        self.clock, self.engine, self.accounts = fresh.clock, fresh.engine, fresh.accounts
        self.journal, self.requests_seen = fresh.journal, 0

    def resubscribe(self, months: int) -> None:
        self.accounts.ledger = self.ledger.successor(self.clock.now(), months)

    @property
    def ledger(self) -> Ledger:
        return self.accounts.ledger

    def seat_keys(self) -> dict[str, str]:
        """member -> key of every assigned seat."""
        return {s.member: s.key for s in self.ledger.seats.values() if s.member and s.key}


RUNTIME = web.AppKey("runtime", Runtime)
