"""Validation of scenario YAML with file and line for every problem, and a suggestion.

The YAML is composed into nodes (which keep their line numbers) and checked against a small
declarative schema; every problem is collected, so a user fixes a file in one pass, and a bad
file never starts a half-configured server.
"""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from emulator.catalog import (
    BUILTIN_TOOLS,
    CATALOGS,
    CREDIT_KINDS,
    LOADER,
    PROTOCOLS,
    REQUIRED_FIELDS,
    THINKING_MODES,
    base_catalog,
    default_catalog,
    error_kinds,
)
from emulator.engine.types import TOOL_POLICIES
from emulator.plan.clock import WINDOW, parse_instant
from emulator.plan.ledger import MAX_PACK_LIMIT, MAX_TERM_MONTHS
from emulator.scenarios.faults import GATEWAY_BODIES
from emulator.seeds import MAX_SEED

# libyaml's emitter where PyYAML was built with it (catalog.LOADER says why).
DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

ORG_ROLES = ("owner", "admin", "member")
Check = Callable[[Any], str | None]  # returns a problem, or None when the value is fine


class ScenarioError(ValueError):
    """Every problem found in a scenarios file, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Field:
    check: Check
    children: dict[str, Field] | None = None  # for mappings
    items: Field | None = None  # for lists
    values: Field | None = None  # for mappings with keys of the user's choosing (model ids)
    doc: str = ""


def kind(*types: type, nullable: bool = False) -> Check:
    names = " or ".join(
        t.__name__.replace("str", "string").replace("int", "integer") for t in types
    )

    def check(value: Any) -> str | None:
        if value is None and nullable:
            return None
        if isinstance(value, bool) and bool not in types:
            return f"must be {names}"
        return None if isinstance(value, types) else f"must be {names}"

    return check


def at_least(low: float, *types: type) -> Check:
    base = kind(*types)

    def check(value: Any) -> str | None:
        return base(value) or (None if value >= low else f"must be at least {low}")

    return check


def between(low: int, high: int) -> Check:
    """A whole number in [low, high]."""
    base = kind(int)

    def check(value: Any) -> str | None:
        if problem := base(value):
            return problem
        if value < low:
            return f"must be at least {low}"
        return None if value <= high else f"must be at most {high}"

    return check


def one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        if value in choices:
            return None
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"must be one of {', '.join(choices)}{hint}"

    return check


def instant(value: Any) -> str | None:
    if value is None:
        return None
    try:
        parse_instant(str(value))
    except ValueError:
        return f"must be an ISO-8601 instant within {WINDOW}, such as 2026-05-01T00:00:00Z"
    return None


def regex(value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be a regular expression (a string)"
    try:
        re.compile(value)
    except re.error as exc:
        return f"is not a valid regular expression: {exc}"
    return None


def error_name(value: Any) -> str | None:
    name = value.get("kind") if isinstance(value, dict) else value
    kinds = error_kinds()
    if not isinstance(name, str) or name not in kinds:
        close = difflib.get_close_matches(str(name), kinds, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"names no documented error {name!r}{hint} (see emulator/data/errors.yaml)"
    wanted = {f for _, f, _, _ in string.Formatter().parse(kinds[name].message) if f}
    given = set(value) - {"kind"} if isinstance(value, dict) else set()
    if wanted - given:
        return (
            f"error {name!r} needs {', '.join(sorted(wanted - given))} (e.g. {{kind: {name}, ...}})"
        )
    if given - wanted:
        return f"error {name!r} takes no {', '.join(sorted(given - wanted))}"
    return None


def rates(value: Any) -> str | None:
    """{model: {input, cached, output}} for text models, {model: {per_image}} for images (that
    the models exist is checked with the scenario's catalogue, in `_catalog_sense`)."""
    if not isinstance(value, dict):
        return "must map model ids to rates"
    images = default_catalog().image_models
    for model, given in value.items():
        keys = ("per_image",) if model in images else CREDIT_KINDS
        if not isinstance(given, dict) or not given or set(given) - set(keys):
            return f"{model}: give {', '.join(keys)} (Credits)"
        if any(
            isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 for v in given.values()
        ):
            return f"{model}: rates must be numbers of at least 0"
    return None


def model_change(value: Any) -> str | None:
    if value is None or isinstance(value, dict):
        return None
    return "must be null (withdraw the model) or a mapping of the model's fields"


def protocol_list(value: Any) -> str | None:
    if isinstance(value, list) and value and all(v in PROTOCOLS for v in value):
        return None if len(set(value)) == len(value) else "names a protocol twice"
    return f"must be a non-empty list of {', '.join(PROTOCOLS)}"


def gateway_status(value: Any) -> str | None:
    if isinstance(value, int) and value in GATEWAY_BODIES:
        return None
    return f"must be one of {', '.join(map(str, GATEWAY_BODIES))}"


def nth(value: Any) -> str | None:
    values = value if isinstance(value, list) else [value]
    ok = all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values)
    return None if ok and values else "must be a call number from 1, or a list of them"


def pack_limit(value: Any) -> str | None:
    """A seat's share limit on the packs: Credits per month, or null for none."""
    if value is None:
        return None
    if NUMBER(value) is not None or value > MAX_PACK_LIMIT:
        return f"must be Credits a month from 0 to {MAX_PACK_LIMIT}, or null for no limit"
    return None


ANY: Check = lambda value: None  # noqa: E731 - a check that accepts anything
STR = kind(str)
OPT_STR = kind(str, nullable=True)
BOOL = kind(bool)
NUMBER = at_least(0, int, float)
COUNT = at_least(0, int)
TOKENS = at_least(1, int)


def mapping(children: dict[str, Field], doc: str = "") -> Field:
    return Field(kind(dict), children=children, doc=doc)


def listing(items: Field) -> Field:
    return Field(kind(list), items=items)


# One entry of a scenario's `models:` (emulator/catalog.py has the fields' meaning).
MODEL = Field(
    model_change,
    children={
        "withdrawn": Field(BOOL),
        "protocols": Field(protocol_list),
        "context_window": Field(TOKENS),
        "max_input": Field(TOKENS),
        "max_output": Field(TOKENS),
        "max_tokens_limit": Field(TOKENS),
        "thinking": Field(one_of(*THINKING_MODES)),
        "thinking_default": Field(BOOL),
        "max_thinking_budget": Field(COUNT),
        "vision": Field(BOOL),
        "builtin_tools": listing(Field(one_of(*BUILTIN_TOOLS))),
        "credits": mapping({kind: Field(NUMBER) for kind in CREDIT_KINDS}),
        "created": Field(COUNT),
    },
)
MATCH = mapping(
    {
        "plan": Field(one_of("token_plan", "coding_plan", "payg")),
        # openapi: the management API's calls (management_rules.py)
        "protocol": Field(one_of("openai", "anthropic", "dashscope", "openapi")),
        "path": Field(regex),
        "model": Field(STR),
        "key": Field(STR),
        "member": Field(STR),
        "stream": Field(BOOL),
        "tools": Field(BOOL),
        "last_user": Field(regex),
        "system": Field(regex),
        "state": Field(STR),
    }
)
TOOL_CALL = mapping({"name": Field(STR), "arguments": Field(kind(dict))})
REPLY = mapping({"text": Field(STR), "thinking": Field(STR), "tool_calls": listing(TOOL_CALL)})
FAULT = mapping(
    {
        "latency": Field(NUMBER),
        "jitter": Field(NUMBER),
        "chunk_delay": Field(NUMBER),
        "drop": Field(BOOL),
        "stall": Field(BOOL),
        "cut_after": Field(COUNT),
        "error_after": Field(COUNT),
        "malformed_after": Field(COUNT),
        "status": Field(gateway_status),
    }
)
RULE = mapping(
    {
        "name": Field(STR),
        "match": MATCH,
        "times": Field(at_least(1, int)),
        "nth": Field(nth),
        "reply": REPLY,
        "error": Field(error_name),
        "fault": FAULT,
        "then": Field(STR),
    }
)
SCENARIO = mapping(
    {
        "description": Field(STR),
        "seed": Field(between(0, MAX_SEED)),
        "clock": Field(instant),
        "accept_x_api_key": Field(BOOL),
        "context_cache": Field(BOOL),
        "tool_calls": Field(one_of(*TOOL_POLICIES)),
        "subscription": mapping(
            {"start": Field(instant), "months": Field(between(1, MAX_TERM_MONTHS))}
        ),
        "seats": listing(
            mapping(
                {
                    "member": Field(OPT_STR),
                    "tier": Field(one_of("standard", "pro", "max")),
                    "key": Field(OPT_STR),
                    "used": Field(NUMBER),
                    "suspended": Field(BOOL),
                    "pack_limit": Field(pack_limit),
                }
            )
        ),
        "packs": listing(mapping({"used": Field(NUMBER)})),
        "organization": mapping(
            {
                "name": Field(STR),
                "description": Field(STR),
                "members": listing(
                    mapping({"name": Field(STR), "role": Field(one_of(*ORG_ROLES))})
                ),
                "invite": mapping(
                    {
                        "default_role": Field(one_of("admin", "member")),
                        "seat_strategy": Field(one_of("HIGH_TO_LOW", "LOW_TO_HIGH", "NONE")),
                    }
                ),
            }
        ),
        "coding_plan": mapping({"tier": Field(one_of("lite", "pro"))}),
        "state": Field(STR),
        "catalog": Field(one_of(*CATALOGS)),
        "models": Field(kind(dict), values=MODEL),
        "rates": Field(rates),
        "rules": listing(RULE),
    }
)


@dataclass
class Report:
    source: str
    problems: list[str] = field(default_factory=list)

    def add(self, node: yaml.Node, where: str, problem: str) -> None:
        self.problems.append(f"{self.source}:{node.start_mark.line + 1}: {where}: {problem}")


class _Loader(LOADER):  # type: ignore[misc]
    """PyYAML's safe loader (libyaml's where built with it), except that a timestamp-shaped
    scalar that is no real date (`2026-13-01T00:00:00Z`) stays its text instead of failing the
    whole load with a bare ValueError: the schema's `instant` check then reports it with its
    file and line."""

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError):
            return self.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def load(text: str) -> Any:
    """YAML text as plain data, read the way the schema reads it."""
    return yaml.load(text, Loader=_Loader)  # a SafeLoader: no arbitrary objects


def _value(node: yaml.Node) -> Any:
    """What `node` loads as: serialized and loaded again, exactly as the whole file loads."""
    return load(yaml.serialize(node, Dumper=DUMPER))


def _walk(node: yaml.Node, spec: Field, where: str, report: Report) -> None:
    value = _value(node)
    problem = spec.check(value)
    if problem:
        report.add(node, where, problem)
        return
    if spec.children is not None and isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            if key not in spec.children:
                close = difflib.get_close_matches(key, spec.children, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                known = ", ".join(spec.children)
                report.add(key_node, where, f"unknown key {key!r}{hint} (known: {known})")
                continue
            _walk(value_node, spec.children[key], f"{where}.{key}", report)
    if spec.values is not None and isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            _walk(value_node, spec.values, f"{where}.{key_node.value}", report)
    if spec.items is not None and isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, spec.items, f"{where}[{index}]", report)


def _rule_sense(node: yaml.Node, where: str, report: Report) -> None:
    """Checks across a rule's keys: it must answer somehow, and not in two ways."""
    if not isinstance(node, yaml.MappingNode):
        return
    keys = {k.value: v for k, v in node.value}
    answers = [k for k in ("reply", "error", "fault") if k in keys]
    if not answers:
        report.add(node, where, "a rule needs a reply, an error or a fault")
    if "reply" in keys and "error" in keys:
        report.add(node, where, "a rule answers with a reply or an error, not both")
    fault = _value(keys["fault"]) if "fault" in keys else None
    if isinstance(fault, dict) and "error_after" in fault and "error" not in keys:
        report.add(keys["fault"], where, "fault.error_after needs the rule's `error` to send")


def _unique_names(rules: yaml.SequenceNode, where: str, report: Report) -> None:
    """Rules are counted (`times`, `nth`) and journaled by name, so no two may share one
    (an unnamed rule is `rule-N`, N from 1)."""
    seen: dict[str, int] = {}
    for index, rule in enumerate(rules.value):
        if not isinstance(rule, yaml.MappingNode):
            continue
        named = next((v for k, v in rule.value if k.value == "name"), None)
        given = named.value if isinstance(named, yaml.ScalarNode) else ""
        name = str(given) or f"rule-{index + 1}"  # as build.rule_from names it
        if name in seen:
            report.add(
                named or rule,
                f"{where}[{index}]",
                f"rule name {name!r} is already used by {where}[{seen[name]}]; names must differ",
            )
        else:
            seen[name] = index


def _org_sense(node: yaml.Node, where: str, report: Report) -> None:
    """Across the organisation's members: names differ, and at most one is the owner (none
    named: the emulator's own `owner` account is)."""
    if not isinstance(node, yaml.MappingNode):
        return
    members = next((v for k, v in node.value if k.value == "members"), None)
    if not isinstance(members, yaml.SequenceNode):
        return
    names: dict[str, int] = {}
    owner: int | None = None
    for index, member in enumerate(members.value):
        if not isinstance(member, yaml.MappingNode):
            continue
        spot = f"{where}.members[{index}]"
        keys = {k.value: v for k, v in member.value}
        if "name" not in keys:
            report.add(member, spot, "a member needs a name")
        name = keys.get("name")
        if isinstance(name, yaml.ScalarNode):
            if name.value in names:
                first = f"{where}.members[{names[name.value]}]"
                report.add(name, spot, f"member {name.value!r} is already {first}")
            else:
                names[name.value] = index
        role = keys.get("role")
        if isinstance(role, yaml.ScalarNode) and role.value == "owner":
            if owner is not None:
                report.add(
                    role, spot, f"an organisation has one owner: {where}.members[{owner}] is it"
                )
            else:
                owner = index
    if owner is None and "owner" in names:
        index = names["owner"]
        report.add(
            members.value[index],
            f"{where}.members[{index}]",
            "`owner` is the owner's account when no member is the owner: give it role owner",
        )


def _catalog_sense(node: yaml.MappingNode, where: str, report: Report) -> None:
    """Checks across `catalog`, `models` and `rates`: a withdrawn or changed model must be in
    the scenario's catalogue, an added one must give every required field, and `rates` may
    name only the models the scenario ends up with."""
    keys = {k.value: v for k, v in node.value}
    chosen = keys.get("catalog")
    name = chosen.value if isinstance(chosen, yaml.ScalarNode) and chosen.value in CATALOGS else ""
    base = base_catalog("launch" if name == "launch" else "current")
    label = f"the {name or 'current'} catalogue"
    known = set(base.all_ids())
    models = keys.get("models")
    for key_node, value_node in models.value if isinstance(models, yaml.MappingNode) else []:
        model_id, spot = str(key_node.value), f"{where}.models.{key_node.value}"
        given = _value(value_node)
        close = difflib.get_close_matches(model_id, base.text_models, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        if model_id in base.image_models:
            report.add(key_node, spot, "is an image model: `models` holds text models only")
        elif given is None or (isinstance(given, dict) and given.get("withdrawn") is True):
            if isinstance(given, dict) and set(given) - {"withdrawn"}:
                report.add(value_node, spot, "a withdrawn model takes no other fields")
            if model_id not in base.text_models:
                report.add(key_node, spot, f"withdraws no model of {label}{hint}")
            known.discard(model_id)
        elif isinstance(given, dict) and model_id not in base.text_models:
            missing = [f for f in REQUIRED_FIELDS if f not in given]
            credits = given.get("credits")
            if isinstance(credits, dict) and set(CREDIT_KINDS) - set(credits):
                missing.append("credits." + "/".join(k for k in CREDIT_KINDS if k not in credits))
            if missing:
                report.add(
                    key_node,
                    spot,
                    f"is not in {label}, so it adds a model, which needs "
                    f"{', '.join(missing)}{hint}",
                )
            known.add(model_id)
    rates = keys.get("rates")
    for key_node, _ in rates.value if isinstance(rates, yaml.MappingNode) else []:
        if key_node.value not in known:
            close = difflib.get_close_matches(str(key_node.value), sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            report.add(key_node, f"{where}.rates", f"names no model {key_node.value!r}{hint}")


def validate(text: str, source: str) -> dict[str, Any]:
    """The scenarios in `text` as plain data; ScenarioError lists every problem otherwise."""
    report = Report(source)
    try:
        root = yaml.compose(text, Loader=LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ScenarioError([f"{source}{line}: not valid YAML: {exc}"]) from None
    if root is None:
        raise ScenarioError([f"{source}: no scenarios in the file"])
    if not isinstance(root, yaml.MappingNode):
        raise ScenarioError(
            [f"{source}:{root.start_mark.line + 1}: the file must map names to scenarios"]
        )
    for name_node, scenario_node in root.value:
        where = str(name_node.value)
        _walk(scenario_node, SCENARIO, where, report)
        if isinstance(scenario_node, yaml.MappingNode):
            _catalog_sense(scenario_node, where, report)
            for key_node, value_node in scenario_node.value:
                if key_node.value == "organization":
                    _org_sense(value_node, f"{where}.organization", report)
            for key_node, value_node in scenario_node.value:
                if key_node.value == "rules" and isinstance(value_node, yaml.SequenceNode):
                    for index, rule in enumerate(value_node.value):
                        _rule_sense(rule, f"{where}.rules[{index}]", report)
                    _unique_names(value_node, f"{where}.rules", report)
    if report.problems:  # in the file's order, whichever check found them
        at = len(source) + 1
        raise ScenarioError(sorted(report.problems, key=lambda p: int(p[at:].split(":")[0])))
    data: dict[str, Any] = load(text)
    return data
