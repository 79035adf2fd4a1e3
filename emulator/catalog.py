"""The model catalogue and the error catalogue: data files shipped in the package."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml

Protocol = Literal["openai", "anthropic"]
ThinkingMode = Literal["none", "hybrid", "only"]


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
    max_output: int
    thinking: ThinkingMode
    thinking_default: bool
    max_thinking_budget: int
    vision: bool
    created: int
    credits: CreditRates
    builtin_tools: tuple[str, ...] = ()  # Responses API built-in tools, by wire name

    def speaks(self, protocol: Protocol) -> bool:
        return protocol in self.protocols


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
    return yaml.safe_load(resources.files("emulator").joinpath("data", name).read_text("utf-8"))


def _rate(value: Any) -> Rate:
    exact = Decimal(str(value))
    return int(exact) if exact == exact.to_integral_value() else exact


def _text_model(model_id: str, raw: dict[str, Any]) -> TextModel:
    rates = raw["credits"]
    return TextModel(
        id=model_id,
        protocols=tuple(raw["protocols"]),
        context_window=int(raw["context_window"]),
        max_input=int(raw["max_input"]),
        max_output=int(raw["max_output"]),
        thinking=raw["thinking"],
        thinking_default=bool(raw["thinking_default"]),
        max_thinking_budget=int(raw["max_thinking_budget"]),
        vision=bool(raw["vision"]),
        created=int(raw["created"]),
        credits=CreditRates(*(_rate(rates[k]) for k in ("input", "cached", "output"))),
        builtin_tools=tuple(raw.get("builtin_tools") or ()),
    )


@cache
def default_catalog() -> Catalog:
    """The launch-era catalogue from `data/models.yaml`."""
    raw = _load("models.yaml")
    return Catalog(
        text_models={mid: _text_model(mid, spec) for mid, spec in raw["text"].items()},
        image_models={mid: ImageModel(id=mid, **spec) for mid, spec in raw["image"].items()},
    )


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
