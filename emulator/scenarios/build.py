"""Validated scenario data into rules: the typed objects the gateway consults."""

from __future__ import annotations

import re
from typing import Any

from emulator.scenarios.faults import Fault
from emulator.scenarios.rules import Match, Reply, Rule, RuleBook, ScriptedToolCall

_PATTERNS = ("path", "last_user", "system")


def match_from(raw: dict[str, Any]) -> Match:
    values: dict[str, Any] = {k: (re.compile(v) if k in _PATTERNS else v) for k, v in raw.items()}
    return Match(**values)


def reply_from(raw: dict[str, Any]) -> Reply:
    calls = tuple(
        ScriptedToolCall(c["name"], dict(c.get("arguments") or {}))
        for c in raw.get("tool_calls") or []
    )
    return Reply(text=raw.get("text"), thinking=raw.get("thinking"), tool_calls=calls)


def rule_from(raw: dict[str, Any], index: int) -> Rule:
    error = raw.get("error")
    params: dict[str, Any] = {}
    if isinstance(error, dict):
        params = {k: v for k, v in error.items() if k != "kind"}
        error = error["kind"]
    nth = raw.get("nth", ())
    return Rule(
        name=str(raw.get("name") or f"rule-{index + 1}"),
        match=match_from(raw.get("match") or {}),
        times=raw.get("times"),
        nth=tuple(nth) if isinstance(nth, list) else ((nth,) if nth else ()),
        reply=reply_from(raw["reply"]) if raw.get("reply") is not None else None,
        error=error,
        error_params=params,
        fault=Fault(**raw["fault"]) if raw.get("fault") is not None else None,
        then=raw.get("then"),
    )


def rulebook_from(scenario: dict[str, Any]) -> RuleBook:
    state = str(scenario.get("state") or "start")
    rules = tuple(rule_from(raw, i) for i, raw in enumerate(scenario.get("rules") or []))
    return RuleBook(rules=rules, initial_state=state, state=state)
