"""The model catalogue and the error catalogue: data files shipped in the package.

Two model lists ship in `data/models.yaml`: the `current` one (every model the Token Plan Team
Edition serves today) and the `launch` one (the models marked `launch: true`, the FAQ's list at
launch). A scenario's `models:` changes, adds or withdraws models on top of either
(`Catalog.with_models`), so the catalogue follows the real service without a release.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml

# libyaml's parser where PyYAML was built with it: the same documents in a fraction of the time
# (every start reads the catalogue and validates the scenarios file); pure Python otherwise.
LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Protocol = Literal["openai", "anthropic"]
ThinkingMode = Literal["none", "hybrid", "only"]
CatalogName = Literal["current", "launch"]

PROTOCOLS: tuple[Protocol, ...] = ("openai", "anthropic")
THINKING_MODES: tuple[ThinkingMode, ...] = ("none", "hybrid", "only")
CATALOGS: tuple[CatalogName, ...] = ("current", "launch")
# The Responses API's built-in tools, by their `type` (Team Edition "Harness" tools).
BUILTIN_TOOLS: tuple[str, ...] = (
    "web_search",
    "web_extractor",
    "code_interpreter",
    "web_search_image",  # text-to-image search (the Token Plan's pages: t2i_search)
    "image_search",  # image-to-image search (i2i_search)
)
# The fields a text model has in models.yaml and in a scenario's `models:`: the required ones,
# which a scenario that adds a model must give, and the optional ones with their defaults (a
# function of the model's other fields).
REQUIRED_FIELDS: tuple[str, ...] = (
    "protocols",
    "context_window",
    "max_input",
    "max_output",
    "thinking",
    "credits",
)
OPTIONAL_FIELDS: tuple[str, ...] = (
    "max_tokens_limit",
    "thinking_default",
    "max_thinking_budget",
    "vision",
    "builtin_tools",
    "created",
)
CREDIT_KINDS: tuple[str, ...] = ("input", "cached", "output")
ADDED_CREATED = 1782864000  # 2026-07-01: `created` of a model a scenario adds without one


Rate = int | Decimal  # an int when whole: integer arithmetic on the hot path


@dataclass(frozen=True)
class CreditRates:
    """Credits per million tokens of each kind."""

    input: Rate
    cached: Rate
    output: Rate


@dataclass(frozen=True)
class TextModel:
    id: str
    protocols: tuple[Protocol, ...]
    context_window: int
    max_input: int
    max_output: int  # the longest answer the model generates
    max_tokens_limit: int  # the N of "Range of max_tokens should be [1, N]"
    thinking: ThinkingMode
    thinking_default: bool
    max_thinking_budget: int
    vision: bool
    builtin_tools: tuple[str, ...]  # BUILTIN_TOOLS the Responses API gives this model
    created: int
    credits: CreditRates

    def speaks(self, protocol: Protocol) -> bool:
        return protocol in self.protocols

    def output_cap(self, max_tokens: int | None) -> int:
        """What one answer may generate: the request's `max_tokens` (accepted up to
        `max_tokens_limit`), never more than the model's `max_output`."""
        return self.max_output if max_tokens is None else min(max_tokens, self.max_output)


@dataclass(frozen=True)
class ImageModel:
    id: str
    created: int
    family: Literal["qwen-image", "wan"] = "qwen-image"
    min_pixels: int = 512 * 512
    max_pixels: int = 2048 * 2048
    default_size: str = "2048*2048"
    max_n: int = 6
    max_prompt: int = 1300  # qwen-image: tokens; wan: characters
    max_images: int = 3  # reference images per request
    credits_per_image: int = 40


@dataclass(frozen=True)
class ErrorKind:
    """One documented error: its status, codes per body shape, and message template."""

    name: str
    status: int
    code: str
    message: str
    gateway: bool = False
    openai_code: str | None = None
    openai_type: str | None = None
    anthropic_type: str | None = None


@dataclass(frozen=True)
class Catalog:
    text_models: dict[str, TextModel]
    image_models: dict[str, ImageModel]

    def text_model(self, model_id: str) -> TextModel | None:
        """Exact, case-sensitive lookup, as the real service does."""
        return self.text_models.get(model_id)

    def with_models(self, changes: dict[str, dict[str, Any] | None]) -> Catalog:
        """A copy with a scenario's `models:` applied: `None` or `{withdrawn: true}` withdraws
        a model, a partial mapping changes one, a full mapping adds one (validated before, in
        `scenarios.schema`)."""
        text = dict(self.text_models)
        for model_id, given in changes.items():
            if given is None or given.get("withdrawn"):
                text.pop(model_id, None)
                continue
            fields = {k: v for k, v in given.items() if k != "withdrawn"}
            old = text.get(model_id)
            text[model_id] = _text_model(model_id, fields) if old is None else _changed(old, fields)
        return Catalog(text, dict(self.image_models))

    def with_rates(self, rates: dict[str, dict[str, float]]) -> Catalog:
        """A copy with Credit rates overridden per model: {input, cached, output} per million
        tokens for text models, {per_image} for image models (a scenario's `rates`)."""
        text = dict(self.text_models)
        images = dict(self.image_models)
        for model_id, given in rates.items():
            if model_id in text:
                old = text[model_id].credits
                credits = CreditRates(
                    *(
                        _rate(given[k]) if k in given else getattr(old, k)
                        for k in ("input", "cached", "output")
                    )
                )
                text[model_id] = replace(text[model_id], credits=credits)
            elif model_id in images and "per_image" in given:
                images[model_id] = replace(
                    images[model_id], credits_per_image=int(given["per_image"])
                )
        return Catalog(text, images)

    def image_model(self, model_id: str) -> ImageModel | None:
        return self.image_models.get(model_id)

    def all_ids(self) -> list[str]:
        return [*self.text_models, *self.image_models]

    def created(self, model_id: str) -> int:
        model = self.text_models.get(model_id) or self.image_models[model_id]
        return model.created


def _load(name: str) -> Any:
    text = resources.files("emulator").joinpath("data", name).read_text("utf-8")
    return yaml.load(text, Loader=LOADER)


def _rate(value: Any) -> Rate:
    exact = Decimal(str(value))
    return int(exact) if exact == exact.to_integral_value() else exact


def _text_model(model_id: str, raw: dict[str, Any]) -> TextModel:
    """A model from its fields in models.yaml (or a scenario); the optional ones default."""
    rates = raw["credits"]
    thinking: ThinkingMode = raw["thinking"]
    max_output = int(raw["max_output"])
    return TextModel(
        id=model_id,
        protocols=tuple(raw["protocols"]),
        context_window=int(raw["context_window"]),
        max_input=int(raw["max_input"]),
        max_output=max_output,
        max_tokens_limit=int(raw.get("max_tokens_limit", max_output)),
        thinking=thinking,
        thinking_default=bool(raw.get("thinking_default", thinking != "none")),
        max_thinking_budget=int(raw.get("max_thinking_budget", 0 if thinking == "none" else 32768)),
        vision=bool(raw.get("vision", False)),
        builtin_tools=tuple(raw.get("builtin_tools", ())),
        created=int(raw.get("created", ADDED_CREATED)),
        credits=CreditRates(*(_rate(rates[k]) for k in CREDIT_KINDS)),
    )


def _changed(model: TextModel, fields: dict[str, Any]) -> TextModel:
    """`model` with some of its fields changed (a scenario's partial mapping)."""
    changes: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "credits":
            old = model.credits
            changes[name] = CreditRates(
                *(_rate(value[k]) if k in value else getattr(old, k) for k in CREDIT_KINDS)
            )
        elif name in ("protocols", "builtin_tools"):
            changes[name] = tuple(value)
        elif name in ("thinking_default", "vision"):
            changes[name] = bool(value)
        elif name == "thinking":
            changes[name] = value
        else:
            changes[name] = int(value)
    if "max_output" in fields and "max_tokens_limit" not in fields:
        changes["max_tokens_limit"] = changes["max_output"]  # as for a model added without one
    return replace(model, **changes)


@cache
def base_catalog(name: CatalogName = "current") -> Catalog:
    """A catalogue from `data/models.yaml`: `current` (every model served today) or `launch`
    (the launch-era list, the models marked `launch: true`)."""
    raw = _load("models.yaml")
    text = {
        mid: _text_model(mid, spec)
        for mid, spec in raw["text"].items()
        if name == "current" or spec.get("launch", False)
    }
    images = {
        mid: ImageModel(id=mid, **{k: v for k, v in spec.items() if k != "launch"})
        for mid, spec in raw["image"].items()
        if name == "current" or spec.get("launch", False)
    }
    return Catalog(text_models=text, image_models=images)


def default_catalog() -> Catalog:
    """The catalogue served when nothing chooses another: the current one."""
    return base_catalog("current")


@cache
def error_kinds() -> dict[str, ErrorKind]:
    """Every documented error kind from `data/errors.yaml`, by name."""
    kinds: dict[str, ErrorKind] = {}
    for name, raw in _load("errors.yaml").items():
        openai = raw.get("openai") or {}
        kinds[name] = ErrorKind(
            name=name,
            status=int(raw["status"]),
            code=str(raw["code"]),
            message=str(raw["message"]),
            gateway=bool(raw.get("gateway", False)),
            openai_code=openai.get("code"),
            openai_type=openai.get("type"),
            anthropic_type=raw.get("anthropic"),
        )
    return kinds
