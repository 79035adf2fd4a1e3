"""Typed configuration: command-line settings over a scenario from scenarios.yaml."""

from __future__ import annotations

import copy
import difflib
import functools
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, cast

import yaml

from emulator.catalog import LOADER, CatalogName
from emulator.engine.types import ToolPolicy
from emulator.scenarios.build import rulebook_from
from emulator.scenarios.rules import Rule

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


class ConfigError(ValueError):
    """A scenario file that cannot be served; the message names the file and the problem."""


@dataclass(frozen=True)
class SeatConfig:
    member: str | None  # None: an unassigned seat
    tier: str = "pro"
    key: str | None = None  # None: derived from the seed and the member's name
    used: float = 0  # Credits already spent this subscription month
    suspended: bool = False  # the key blocked (the console's suspend): 403 on every request
    # Credits the member may draw from the shared packs per subscription month; None: no limit
    pack_limit: float | None = None


@dataclass(frozen=True)
class MemberConfig:
    name: str
    role: str = "member"  # owner, admin or member


@dataclass(frozen=True)
class OrgConfig:
    """The organisation around the seats: its name, members beyond (or besides) the seat
    holders with their roles, and the invite settings. Seat holders not listed are members."""

    name: str = "Token Plan team"
    description: str = ""
    members: tuple[MemberConfig, ...] = ()
    invite_role: str = "member"  # the role an invite link gives: admin or member
    seat_strategy: str = "NONE"  # how invitees get seats: HIGH_TO_LOW, LOW_TO_HIGH or NONE


@dataclass(frozen=True)
class PackConfig:
    used: float = 0  # Credits already drawn from the pack (bought when the scenario starts)


@dataclass(frozen=True)
class HttpLimits:
    """Deadlines (seconds) and the body size (bytes) of the HTTP layer; docs/reliability.md."""

    header_timeout: float = 10.0  # first byte of a request to the end of its headers
    body_timeout: float = 60.0  # end of the headers to the end of the body
    idle_timeout: float = 75.0  # a kept-alive connection with no request in it
    max_body: int = 64 * 1024 * 1024  # after decompression; agent tools send large contexts


@dataclass(frozen=True)
class Config:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    seed: int = 0
    clock: str | None = None  # ISO-8601 instant to freeze the clock at; None for real time
    accept_x_api_key: bool = False
    context_cache: bool = True  # report repeated prompt prefixes as cached tokens (§7)
    # When the fake model calls a tool unforced: "named" (the user names it) or "always".
    tool_calls: ToolPolicy = "named"
    seats: tuple[SeatConfig, ...] = field(default_factory=lambda: (SeatConfig("alice"),))
    packs: tuple[PackConfig, ...] = ()
    organization: OrgConfig = field(default_factory=OrgConfig)
    subscription_start: str | None = None  # ISO instant; None: the clock's day at start-up
    subscription_months: int = 12
    coding_plan_tier: str = "pro"
    state_file: str | None = None  # SQLite file keeping the plan across restarts
    admin_anywhere: bool = False  # serve /_emulator/ to non-loopback clients too
    scenario: str = "default"
    description: str = ""
    catalog: CatalogName = "current"  # the model list: today's, or the launch-era one
    # Models the scenario adds, changes ({field: value}) or withdraws (None), over `catalog`.
    models: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    # Credit rates overriding the catalogue's, per model: {input, cached, output} per million
    # tokens, or {per_image}; the unpublished ones are assumptions (docs/fidelity.md).
    rates: dict[str, dict[str, float]] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()  # scripted answers, errors and faults, first match wins
    initial_state: str = "start"  # the scenario state rules start in
    scenarios_file: str | None = None  # a user's file, over the shipped scenarios (None: those)
    http: HttpLimits = field(default_factory=HttpLimits)  # server settings, not the scenario's

    def with_overrides(self, **changes: Any) -> Config:
        """A copy with every change that is not None applied."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


SCENARIOS_FILE = "scenarios.yaml"  # the name a project's own file goes by
SHIPPED = "scenarios.yaml (shipped)"  # how the shipped catalogue is named in messages
SHIPPED_PATH = Path(__file__).parent / "data" / SCENARIOS_FILE


@functools.cache
def embedded_scenarios_text() -> str:
    """The shipped scenarios, read once: package data does not change under a running
    process, and reading it through importlib.resources was a third of a scenario switch."""
    return resources.files("emulator").joinpath("data", "scenarios.yaml").read_text("utf-8")


def read_scenarios(path: Path | None = None) -> dict[str, Any]:
    """Every scenario in `path` (or the shipped file), validated (the shipped file by the
    test suite: _shipped): ConfigError lists every problem with file and line, so a bad file
    never starts a half-configured server."""
    return copy.deepcopy(_scenarios(path))


def _scenarios(path: Path | None) -> dict[str, Any]:
    """As read_scenarios, but the cached copy itself: callers must not change it."""
    if path is None:
        return _shipped()
    return _validated(*_text(path))


def _text(path: Path | None) -> tuple[str, str]:
    """The text of `path` (or the shipped file), read now, and its name for messages."""
    if path is None:
        return embedded_scenarios_text(), SHIPPED
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigError(f"{path}: cannot read: {reason}") from None
    return text, str(path)


@functools.cache
def _shipped() -> dict[str, Any]:
    """The shipped scenarios, loaded without the validator: they and the catalogue they are
    checked against ship together, so they validate once per build, in the test suite
    (tests/test_scenarios.py), rather than on every start, where validating took longer than
    the rest of the configuration together. Loaded as the catalogue is: the validator's own
    loader differs only for a timestamp that is no date, which the shipped file has none of
    (the test checks the two give the same data)."""
    data: dict[str, Any] = yaml.load(embedded_scenarios_text(), Loader=LOADER)
    return data


@functools.lru_cache(maxsize=16)
def _validated(text: str, source: str) -> dict[str, Any]:
    """Validation is the slow part of loading a scenario (~100 ms for the catalogue), and the
    admin API's scenario switch runs once per test in a suite: the same text validates the same
    way, so it is done once per text (a file that changes is validated again)."""
    # Imported here: only a user's file is validated (_shipped says why).
    from emulator.scenarios.schema import ScenarioError, validate

    try:
        return validate(text, source)
    except ScenarioError as exc:
        raise ConfigError(str(exc)) from None


def user_scenarios(folder: Path) -> Path | None:
    """`folder/scenarios.yaml` when it is a user's own file, else None. The shipped catalogue
    is nobody's own file, wherever it lies: this repository's top-level `scenarios.yaml` is a
    link to it, and an unpacked sdist holds a copy; neither changes what is served."""
    path = folder / SCENARIOS_FILE
    if not path.is_file():
        return None
    try:
        if path.resolve() == SHIPPED_PATH.resolve():
            return None
        if path.read_bytes() == embedded_scenarios_text().encode("utf-8"):
            return None
    except OSError:
        pass  # unreadable: reading it says so, with its name
    return path.absolute()


def scenario_sources(path: Path | None = None) -> dict[str, str]:
    """name -> the file each servable scenario comes from: `path`'s first, then the shipped
    ones it does not replace (a name in both is the file's)."""
    found = dict.fromkeys(_scenarios(path), str(path)) if path is not None else {}
    for name in _scenarios(None):
        found.setdefault(name, SHIPPED)
    return found


def scenario_names(path: Path | None = None) -> dict[str, str]:
    """name -> first line of the description, of every scenario that can be served (the
    shipped ones and `path`'s, as scenario_sources)."""
    names: dict[str, str] = {}
    for name, source in scenario_sources(path).items():
        raw = _scenarios(None if source == SHIPPED else path)[name]
        description = str((raw or {}).get("description") or "").strip()
        names[name] = description.splitlines()[0] if description else ""
    return names


def _instant(value: Any) -> str | None:
    """YAML reads an unquoted timestamp as a datetime; keep every instant as ISO text."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.isoformat().replace("+00:00", "Z")
    return str(value)


def load_scenario(name: str = "default", path: Path | None = None) -> Config:
    """The named scenario from `path` (a user's file, over the shipped scenarios: its own
    name wins), or from the scenarios shipped in the package."""
    sources = scenario_sources(path)
    if name not in sources:
        where = f"{path} and {SHIPPED}" if path else SHIPPED
        close = difflib.get_close_matches(name, sources, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        known = ", ".join(sorted(sources)) or "none"
        raise ConfigError(f"{where}: no scenario named {name!r}{hint} (known: {known})")
    text, source = _text(None if sources[name] == SHIPPED else path)
    return _built(name, str(path) if path else None, text, source)


@functools.lru_cache(maxsize=64)
def _built(name: str, scenarios_file: str | None, text: str, source: str) -> Config:
    """Scenario `name` of `text` as a Config, built once per text like _validated: the pytest
    plugin switches scenario before and after every test, and building was half the switch.
    One Config may serve many switches because nothing changes one (it is frozen, and a
    reset already starts the runtime again from the same Config)."""
    scenarios = _shipped() if source == SHIPPED else _validated(text, source)
    raw = copy.deepcopy(scenarios[name]) or {}
    seats = tuple(
        SeatConfig(
            member=None if seat.get("member") is None else str(seat["member"]),
            tier=seat.get("tier", "pro"),
            key=seat.get("key"),
            used=float(seat.get("used", 0)),
            suspended=bool(seat.get("suspended", False)),
            pack_limit=None if seat.get("pack_limit") is None else float(seat["pack_limit"]),
        )
        for seat in raw.get("seats") or []
    )
    packs = tuple(PackConfig(used=float(p.get("used", 0))) for p in raw.get("packs") or [])
    subscription = raw.get("subscription") or {}
    team = raw.get("organization") or {}
    invite = team.get("invite") or {}
    organization = OrgConfig(
        name=str(team.get("name", OrgConfig.name)),
        description=str(team.get("description", "")),
        members=tuple(
            MemberConfig(str(m["name"]), str(m.get("role", "member")))
            for m in team.get("members") or []
        ),
        invite_role=str(invite.get("default_role", "member")),
        seat_strategy=str(invite.get("seat_strategy", "NONE")),
    )
    book = rulebook_from(raw)
    return Config(
        seed=int(raw.get("seed", 0)),
        clock=_instant(raw.get("clock")),
        accept_x_api_key=bool(raw.get("accept_x_api_key", False)),
        context_cache=bool(raw.get("context_cache", True)),
        tool_calls=raw.get("tool_calls", "named"),
        seats=seats or Config().seats,
        packs=packs,
        organization=organization,
        subscription_start=_instant(subscription.get("start")),
        subscription_months=int(subscription.get("months", 12)),
        coding_plan_tier=str((raw.get("coding_plan") or {}).get("tier", "pro")),
        scenario=name,
        description=str(raw.get("description", "")),
        catalog=cast(CatalogName, raw.get("catalog", "current")),
        models={
            model: None if given is None else dict(given)
            for model, given in (raw.get("models") or {}).items()
        },
        rates={model: dict(given) for model, given in (raw.get("rates") or {}).items()},
        rules=book.rules,
        initial_state=book.initial_state,
        scenarios_file=scenarios_file,
    )
