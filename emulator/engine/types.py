"""Neutral request and result types: what the protocol adapters parse into and render from."""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from emulator.catalog import Protocol, TextModel
from emulator.engine.tokens import stream_pieces

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls"]
# When the fake model calls a tool unforced (docs/fidelity.md): "named" only when the user's last
# turn names one of the tools (safe to point an agent that auto-approves at); "always" on every
# user turn that offers tools (tool round-trip tests).
ToolPolicy = Literal["named", "always"]
TOOL_POLICIES: tuple[ToolPolicy, ...] = ("named", "always")

_Class = TypeVar("_Class")

# The per-request types (Message, ChatRequest, Completion, Usage, ChatResult here; Prompt,
# ResponseMeta, Caller, Cost, Charge, ResponsesRequest and Rendered elsewhere) are `record`s:
# frozen for the type checker (mypy refuses an assignment to a field), plain dataclasses at run
# time, because a frozen dataclass's __init__ pays an object.__setattr__ a field, several times
# a plain one's cost, on every request (docs/performance.md). Their fields are slots: no dict to
# make and free with each. None is hashed (a plain dataclass with eq is unhashable: that would
# raise).
if TYPE_CHECKING:
    from typing_extensions import dataclass_transform

    @dataclass_transform(frozen_default=True)
    def record(cls: type[_Class]) -> type[_Class]: ...
else:
    record = functools.partial(dataclass, slots=True)


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    schema: dict[str, Any]
    cache_marked: bool = False  # Anthropic: a `cache_control` marker on this tool definition


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, exactly as sent on the wire


@record
class Message:
    role: Role
    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    images: int = 0
    cache_marked: bool = False  # an explicit `cache_control` marker ends on this message


@dataclass(frozen=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "named"] = "auto"
    name: str | None = None


@dataclass(frozen=True)
class ResponseFormat:
    kind: Literal["text", "json_object", "json_schema"] = "text"
    schema: dict[str, Any] | None = None


@record
class ChatRequest:
    """One chat turn, whichever protocol it came in on."""

    protocol: Protocol
    model: TextModel
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice = ToolChoice()
    max_tokens: int | None = None  # cap on the answer; None: the model's max output
    max_tokens_cover_thinking: bool = False  # Anthropic: max_tokens caps thinking + answer
    stop: tuple[str, ...] = ()
    n: int = 1
    seed: int | None = None
    thinking: bool = False
    thinking_budget: int | None = None
    response_format: ResponseFormat = ResponseFormat()
    stream: bool = False
    include_usage: bool = False
    parallel_tool_calls: bool = False


@record
class Completion:
    """One choice of the answer. Streams cut `text` and `reasoning` into pieces on demand, from
    `piece_seed`, so a non-streaming answer never pays for the cutting and a stream holds only
    the piece being written (each access starts the same pieces afresh)."""

    text: str
    reasoning: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: FinishReason
    stop_sequence: str | None = None
    signature: str = ""
    piece_seed: int = 0

    @property
    def text_pieces(self) -> Iterator[str]:
        return _pieces(self.text, self.piece_seed)

    @property
    def reasoning_pieces(self) -> Iterator[str]:
        return _pieces(self.reasoning, ~self.piece_seed)


def _pieces(text: str, seed: int) -> Iterator[str]:
    """`text`'s stream pieces, drawn from `seed`. An empty text has none and draws nothing, so
    it costs no generator's seeding (about 5 us: a stream without thinking asks for its empty
    reasoning's)."""
    return stream_pieces(text, random.Random(seed)) if text else iter(())


@record
class Usage:
    input_tokens: int  # all prompt tokens, cached ones included
    output_tokens: int  # answer + reasoning + tool calls
    reasoning_tokens: int = 0
    cached_tokens: int = 0  # read from the context cache (a subset of input_tokens)
    cache_creation_tokens: int = 0  # written to the explicit cache (a subset of input_tokens)
    cache_explicit: bool = False  # explicit (`cache_control`) mode: OpenAI reports its extras

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@record
class ChatResult:
    choices: tuple[Completion, ...]
    usage: Usage


@dataclass(frozen=True)
class Script:
    """A scripted answer (from a scenario rule), already filled in: what the model says."""

    text: str = ""
    thinking: str = ""
    tool_calls: tuple[tuple[str, dict[str, Any]], ...] = ()  # (name, arguments)
