"""What every rendered response needs besides the result: ids, time, model."""

from __future__ import annotations

from dataclasses import dataclass

from emulator.engine.types import record


@record  # (one a request: engine/types.py's record)
class ResponseMeta:
    request_id: str
    created: int  # Unix seconds, from the emulator's clock
    model: str


@dataclass(frozen=True)
class Glance:
    """What scenario rules can see of a request body, read leniently (a body that will fail
    validation still has a model or a message to match on)."""

    model: str | None = None
    stream: bool = False
    tools: bool = False
    last_user: str = ""
    system: str = ""


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def glance(body: dict[str, object]) -> Glance:
    """Both text protocols keep `model`, `stream`, `tools` and `messages` at the top, and the
    Anthropic one its system prompt in `system` too; the image API has `input.messages`; the
    Responses API has `input` (a string or items) and `instructions`."""
    messages = body.get("messages")
    native = body.get("input")
    if not isinstance(messages, list) and isinstance(native, dict):
        messages = native.get("messages")  # the native image API nests them under `input`
    elif messages is None and isinstance(native, str):
        messages = [{"role": "user", "content": native}]
    elif messages is None and isinstance(native, list):
        messages = native
    messages = messages if isinstance(messages, list) else []
    entries = [m for m in messages if isinstance(m, dict)]
    users = [_text(m.get("content")) for m in entries if m.get("role") == "user"]
    systems = [_text(m.get("content")) for m in entries if m.get("role") in ("system", "developer")]
    model = body.get("model")
    return Glance(
        model=model if isinstance(model, str) else None,
        stream=body.get("stream") is True,
        tools=bool(body.get("tools")),
        last_user=next((u for u in reversed(users) if u), ""),
        system="\n".join(
            [_text(body.get("system")), _text(body.get("instructions")), *systems]
        ).strip(),
    )
