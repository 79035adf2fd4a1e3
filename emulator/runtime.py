"""Everything one emulator instance knows, hung off its aiohttp app (no process globals)."""

from __future__ import annotations

from dataclasses import dataclass, field

from emulator.catalog import Catalog, default_catalog
from emulator.config import Config
from emulator.engine.generate import Engine
from emulator.plan.clock import Clock, parse_instant
from emulator.seeds import Seeds, plan_key


@dataclass
class Runtime:
    config: Config
    clock: Clock
    seeds: Seeds
    engine: Engine
    catalog: Catalog
    keys: dict[str, str] = field(default_factory=dict)  # key -> member
    requests_seen: int = 0

    @classmethod
    def from_config(cls, config: Config) -> Runtime:
        seeds = Seeds(config.seed)
        clock = Clock(parse_instant(config.clock) if config.clock else None)
        keys = {
            seat.key or plan_key(seeds, "seat", seat.member): seat.member for seat in config.seats
        }
        return cls(config, clock, seeds, Engine(seeds), default_catalog(), keys)

    def key_of(self, member: str) -> str:
        return next(key for key, owner in self.keys.items() if owner == member)
