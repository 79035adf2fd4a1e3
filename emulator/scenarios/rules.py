"""Rules: what a request must look like (Match), and what answers it instead (Answer).

A rule matches on any of: site (plan), protocol, path, model, key, member, streaming, tools
present, a regex on the last user message or the system prompt, the scenario's state, and which
of its matching calls this is (`times`: the first N; `nth`: only those). `Match.difference()`
lists the fields that did not match; the same function decides matching and explains misses
in the journal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from emulator.engine.types import Script
from emulator.errors import ApiError
from emulator.scenarios.faults import Fault


@dataclass(frozen=True)
class Probe:
    """What rules can see of a request."""

    plan: str
    protocol: str
    path: str
    model: str | None = None
    key: str | None = None
    member: str | None = None
    stream: bool = False
    tools: bool = False
    last_user: str = ""
    system: str = ""


@dataclass(frozen=True)
class Match:
    plan: str | None = None
    protocol: str | None = None
    path: re.Pattern[str] | None = None
    model: str | None = None
    key: str | None = None
    member: str | None = None
    stream: bool | None = None
    tools: bool | None = None
    last_user: re.Pattern[str] | None = None
    system: re.Pattern[str] | None = None
    state: str | None = None

    def difference(self, probe: Probe, state: str) -> list[str]:
        """The names of the fields that do not match `probe` in scenario state `state`."""
        missed: list[str] = []
        for name in ("plan", "protocol", "model", "key", "member", "stream", "tools"):
            wanted = getattr(self, name)
            if wanted is not None and getattr(probe, name) != wanted:
                missed.append(name)
        for name in ("path", "last_user", "system"):
            pattern = getattr(self, name)
            if pattern is not None and not pattern.search(getattr(probe, name)):
                missed.append(name)
        if self.state is not None and self.state != state:
            missed.append("state")
        return missed


@dataclass(frozen=True)
class ScriptedToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """A scripted answer. `text` and `thinking` are templates: `{last_user}`, `{model}`,
    `{member}`, `{call}` (this rule's call count) and `{request_id}` are filled in."""

    text: str | None = None
    thinking: str | None = None
    tool_calls: tuple[ScriptedToolCall, ...] = ()


@dataclass(frozen=True)
class Rule:
    name: str
    match: Match = Match()
    times: int | None = None  # match only the first N calls that fit
    nth: tuple[int, ...] = ()  # match only these calls that fit (1-based)
    reply: Reply | None = None
    error: str | None = None  # a kind from data/errors.yaml
    error_params: dict[str, Any] = field(default_factory=dict)
    fault: Fault | None = None
    then: str | None = None  # the scenario state to move to after answering


@dataclass
class RuleBook:
    """A scenario's rules and its run-time state: the current state, calls seen per rule."""

    rules: tuple[Rule, ...] = ()
    initial_state: str = "start"
    state: str = "start"
    seen: dict[str, int] = field(default_factory=dict)  # rule -> calls that fit its match

    def reset(self) -> None:
        self.state = self.initial_state
        self.seen.clear()

    def pick(self, probe: Probe) -> tuple[Rule | None, int, list[tuple[str, list[str]]]]:
        """The first rule answering `probe`, its call number, and, for the journal, the rules
        that came closest when none did (name and the fields that did not match)."""
        misses: list[tuple[str, list[str]]] = []
        for rule in self.rules:
            missed = rule.match.difference(probe, self.state)
            if missed:
                misses.append((rule.name, missed))
                continue
            call = self.seen.get(rule.name, 0) + 1
            self.seen[rule.name] = call
            if rule.times is not None and call > rule.times:
                misses.append((rule.name, ["times"]))
                continue
            if rule.nth and call not in rule.nth:
                misses.append((rule.name, ["nth"]))
                continue
            if rule.then is not None:
                self.state = rule.then
            return rule, call, []
        misses.sort(key=lambda miss: len(miss[1]))
        return None, 0, misses[:3]


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def render(template: str, fields: dict[str, Any]) -> str:
    """`template` with `{field}`s filled in from the request. Every other brace stays as
    written (unknown placeholders, JSON such as `{"answer": 42}`): not str.format, which
    fails on those at request time."""

    def filled(match: re.Match[str]) -> str:
        value = fields.get(match[1])
        return match[0] if match[1] not in fields else ("" if value is None else str(value))

    return _PLACEHOLDER.sub(filled, template)


def fill(reply: Reply, **fields: Any) -> Script:
    """The reply with its templates filled in from the request's fields."""
    return Script(
        text=render(reply.text or "", fields),
        thinking=render(reply.thinking or "", fields),
        tool_calls=tuple((call.name, call.arguments) for call in reply.tool_calls),
    )


def rule_error(rule: Rule, probe: Probe) -> ApiError:
    """The rule's error; string parameters are templates of the request (`{model}`)."""
    fields = {"model": probe.model or "", "last_user": probe.last_user, "member": probe.member}
    params = {
        name: render(value, fields) if isinstance(value, str) else value
        for name, value in rule.error_params.items()
    }
    return ApiError(rule.error or "internal_error", **params)
