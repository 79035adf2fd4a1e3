"""Typed configuration: command-line settings over a scenario from scenarios.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
TIERS = ("standard", "pro", "max")


class ConfigError(ValueError):
    """A scenario file that cannot be served; the message names the file and the problem."""


@dataclass(frozen=True)
class SeatConfig:
    member: str | None  # None: an unassigned seat
    tier: str = "pro"
    key: str | None = None  # None: derived from the seed and the member's name
    used: float = 0  # Credits already spent this subscription month


@dataclass(frozen=True)
class PackConfig:
    used: float = 0  # Credits already drawn from the pack (bought when the scenario starts)


@dataclass(frozen=True)
class Config:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    seed: int = 0
    clock: str | None = None  # ISO-8601 instant to freeze the clock at; None for real time
    accept_x_api_key: bool = False
    context_cache: bool = True  # report repeated prompt prefixes as cached tokens (§7)
    seats: tuple[SeatConfig, ...] = field(default_factory=lambda: (SeatConfig("alice"),))
    packs: tuple[PackConfig, ...] = ()
    subscription_start: str | None = None  # ISO instant; None: the clock's day at start-up
    subscription_months: int = 12
    coding_plan_tier: str = "pro"
    state_file: str | None = None  # SQLite file keeping the plan across restarts
    admin_anywhere: bool = False  # serve /_emulator/ to non-loopback clients too
    scenario: str = "default"
    description: str = ""

    def with_overrides(self, **changes: Any) -> Config:
        """A copy with every change that is not None applied."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def embedded_scenarios_text() -> str:
    return resources.files("emulator").joinpath("data", "scenarios.yaml").read_text("utf-8")


def load_scenario(name: str = "default", path: Path | None = None) -> Config:
    """The named scenario from `path`, or from the scenarios shipped in the package."""
    source = str(path) if path else "scenarios.yaml (embedded)"
    text = path.read_text("utf-8") if path else embedded_scenarios_text()
    try:
        scenarios = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if name not in scenarios:
        known = ", ".join(sorted(scenarios)) or "none"
        raise ConfigError(f"{source}: no scenario named {name!r} (known: {known})")
    raw = scenarios[name] or {}
    seats = []
    for index, seat in enumerate(raw.get("seats") or []):
        tier = seat.get("tier", "pro")
        if tier not in TIERS:
            raise ConfigError(f"{source}: {name}.seats[{index}].tier must be one of {TIERS}")
        member = seat.get("member")
        seats.append(
            SeatConfig(
                member=None if member is None else str(member),
                tier=tier,
                key=seat.get("key"),
                used=float(seat.get("used", 0)),
            )
        )
    packs = tuple(PackConfig(used=float(p.get("used", 0))) for p in raw.get("packs") or [])
    subscription = raw.get("subscription") or {}
    return Config(
        seed=int(raw.get("seed", 0)),
        clock=raw.get("clock"),
        accept_x_api_key=bool(raw.get("accept_x_api_key", False)),
        context_cache=bool(raw.get("context_cache", True)),
        seats=tuple(seats) or Config().seats,
        packs=packs,
        subscription_start=subscription.get("start"),
        subscription_months=int(subscription.get("months", 12)),
        coding_plan_tier=str((raw.get("coding_plan") or {}).get("tier", "pro")),
        scenario=name,
        description=str(raw.get("description", "")),
    )
