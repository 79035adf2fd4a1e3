"""The one source of time: real by default, frozen or moved by tests."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

_STEP = re.compile(r"^([+-]?\d+(?:\.\d+)?)([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_instant(text: str) -> float:
    """An ISO-8601 instant (`2026-05-01T00:00:00Z`) as Unix seconds; naive means UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def parse_step(text: str) -> float:
    """A step such as `+31d`, `90s`, `-2h`, `1w`, in seconds."""
    match = _STEP.match(text.strip())
    if not match:
        raise ValueError(
            f"bad clock step {text!r}: use a number and one of s, m, h, d, w (e.g. +31d)"
        )
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class Clock:
    """Wall time plus an offset, or a frozen instant. Every timestamp the emulator emits comes
    from here, so a test that freezes it gets byte-identical responses."""

    def __init__(self, frozen_at: float | None = None, offset: float = 0.0) -> None:
        self._frozen_at = frozen_at
        self._offset = offset

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    @property
    def frozen_at(self) -> float | None:
        return self._frozen_at

    @property
    def offset(self) -> float:
        """Seconds added to wall time when not frozen (what a state file keeps, so a clock moved
        on real time stays moved across a restart)."""
        return self._offset

    def now(self) -> float:
        if self._frozen_at is not None:
            return self._frozen_at
        return time.time() + self._offset

    def datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now(), tz=timezone.utc)

    def set(self, instant: float, *, freeze: bool = True) -> None:
        if freeze:
            self._frozen_at = instant
        else:
            self._frozen_at = None
            self._offset = instant - time.time()

    def advance(self, seconds: float) -> None:
        if self._frozen_at is not None:
            self._frozen_at += seconds
        else:
            self._offset += seconds

    def advance_by(self, delta: timedelta) -> None:
        self.advance(delta.total_seconds())
