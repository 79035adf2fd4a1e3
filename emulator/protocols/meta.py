"""What every rendered response needs besides the result: ids, time, model."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResponseMeta:
    request_id: str
    created: int  # Unix seconds, from the emulator's clock
    model: str
