"""The one source of time: real by default, frozen or moved by tests."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

# The instants the emulator accepts from a user (admin API, scenario, --clock). The calendar
# code works from year 1 to 9999, but a clock near either end plus a term of months, a pack's
# month or a day of usage would step off it and fail every later request; two centuries around
# today leave every subscription term (at most MAX_TERM_MONTHS) far inside it.
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc).timestamp()
LATEST = datetime(2200, 1, 1, tzinfo=timezone.utc).timestamp()
WINDOW = "2000-01-01T00:00:00Z to 2200-01-01T00:00:00Z"
MAX_INSTANT_CHARS = 64
# ASCII only: `\d` would take any Unicode digit, which float() then reads ("٣d" is 3 days).
_STEP = re.compile(r"^([+-]?)([0-9]{1,10}(?:\.[0-9]{1,9})?)([smhdw])$", re.ASCII)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_STEP = LATEST - EARLIEST  # no step can do more than cross the whole window


def in_window(instant: float) -> bool:
    """Whether `instant` lies in the window the emulator accepts (NaN and infinities do not)."""
    return EARLIEST <= instant <= LATEST


def parse_instant(text: str) -> float:
    """An ISO-8601 instant (`2026-05-01T00:00:00Z`) as Unix seconds; naive means UTC. Refused
    with a ValueError saying why: not text, not ISO-8601, or outside the window."""
    if not isinstance(text, str) or len(text) > MAX_INSTANT_CHARS or not text.isascii():
        raise ValueError(f"{_shown(text)} is not an ISO-8601 instant (e.g. 2026-05-01T00:00:00Z)")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        instant = moment.timestamp()
    except (ValueError, OverflowError, OSError):
        raise ValueError(
            f"{text!r} is not an ISO-8601 instant (e.g. 2026-05-01T00:00:00Z)"
        ) from None
    if not in_window(instant):
        raise ValueError(f"{text!r} is outside the emulator's calendar ({WINDOW})")
    return instant


def parse_step(text: str) -> float:
    """A step forward such as `+31d`, `90s`, `1w`, in seconds (at most the whole window).
    Negative steps are refused: going back is a `set`, so a step can never undo a charge's
    month by accident."""
    match = _STEP.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(
            f"bad clock step {_shown(text)}: use a number and one of s, m, h, d, w (e.g. +31d)"
        )
    if match.group(1) == "-":
        raise ValueError(
            f"bad clock step {text!r}: the clock only advances; to go back, set it "
            '(POST /_emulator/clock {"set": "2026-05-01T00:00:00Z"})'
        )
    seconds = float(match.group(2)) * _UNIT_SECONDS[match.group(3)]
    if seconds > MAX_STEP:
        raise ValueError(f"bad clock step {text!r}: more than the emulator's calendar ({WINDOW})")
    return seconds


def _shown(value: object) -> str:
    """A value for a message: its repr, cut so a megabyte of input is not echoed back."""
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."


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
