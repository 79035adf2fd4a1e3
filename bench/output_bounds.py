"""What the largest answers and a full gallery cost (docs/reliability.md, "Bounded output and
generation"), measured in this process: CPU time, the fastest of a few runs.

    python bench/output_bounds.py

Per model: one answer to a hostile `json_schema` (arrays of arrays of long strings), the same
schema as a tool, and many small objects; each generated to the model's maximum output. Then
keeping a picture and forgetting expired ones with 10,000 and 80,000 pictures made.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from emulator.config import Config
from emulator.engine.gallery import Gallery, Picture
from emulator.engine.types import ChatRequest, Message, ResponseFormat, ToolChoice, ToolSpec
from emulator.runtime import Runtime

MODELS = ("qwen3.6-plus", "deepseek-v4-pro")
LONG_STRINGS = {
    "type": "array",
    "minItems": 100000,
    "items": {
        "type": "array",
        "minItems": 100000,
        "items": {
            "type": "array",
            "minItems": 100000,
            "items": {"type": "string", "minLength": 8192},
        },
    },
}
MANY_OBJECTS = {
    "type": "array",
    "minItems": 100000,
    "items": {
        "type": "array",
        "minItems": 100000,
        "items": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "email": {"type": "string", "format": "email"},
            },
            "required": ["name", "email"],
        },
    },
}


def fastest(run: Callable[[], Any], times: int = 5) -> float:
    """The least CPU seconds of `times` runs."""
    best = float("inf")
    for _ in range(times):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best


def answers() -> None:
    runtime = Runtime.from_config(Config(clock="2026-05-01T00:00:00Z"))
    print(f"{'model':<18}{'schema':<14}{'as':<8}{'tokens':>9}{'ms CPU':>9}")
    for model_id in MODELS:
        model = runtime.catalog.text_model(model_id)
        assert model is not None
        for name, schema in (("long strings", LONG_STRINGS), ("many objects", MANY_OBJECTS)):
            answer = ChatRequest(
                protocol="openai",
                model=model,
                messages=(Message("user", "json"),),
                max_tokens=model.max_output,
                response_format=ResponseFormat("json_schema", schema),
            )
            tool = ChatRequest(
                protocol="openai",
                model=model,
                messages=(Message("user", "go"),),
                max_tokens=model.max_output,
                tools=(
                    ToolSpec(
                        "fill",
                        "",
                        {"type": "object", "properties": {"a": schema}, "required": ["a"]},
                    ),
                ),
                tool_choice=ToolChoice("required"),
            )
            for kind, request in (("answer", answer), ("tool", tool)):
                said = runtime.engine.complete(request).usage.output_tokens
                seconds = fastest(lambda r=request: runtime.engine.complete(r))
                print(f"{model_id:<18}{name:<14}{kind:<8}{said:>9}{seconds * 1000:>9.1f}")


def gallery() -> None:
    print(f"\n{'pictures made':<16}{'kept':>8}{'us per keep + forget':>22}")
    for made in (10_000, 80_000):
        pictures = Gallery()
        started = time.process_time()
        for number in range(made):
            pictures.keep(Picture(f"{number:032x}", "dog", number, 512, 512, 86400.0))
            pictures.forget_before(0.0)
        seconds = time.process_time() - started
        print(f"{made:<16}{len(pictures.pictures):>8}{seconds / made * 1e6:>22.2f}")


if __name__ == "__main__":
    answers()
    gallery()
