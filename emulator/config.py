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
    member: str
    tier: str = "pro"
    key: str | None = None  # None: derived from the seed and the member's name


@dataclass(frozen=True)
class Config:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    seed: int = 0
    clock: str | None = None  # ISO-8601 instant to freeze the clock at; None for real time
    accept_x_api_key: bool = False
    seats: tuple[SeatConfig, ...] = field(default_factory=lambda: (SeatConfig("alice"),))
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
        seats.append(SeatConfig(member=str(seat["member"]), tier=tier, key=seat.get("key")))
    return Config(
        seed=int(raw.get("seed", 0)),
        clock=raw.get("clock"),
        accept_x_api_key=bool(raw.get("accept_x_api_key", False)),
        seats=tuple(seats) or Config().seats,
        scenario=name,
        description=str(raw.get("description", "")),
    )
