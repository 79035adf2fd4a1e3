"""A Coding Plan subscription, for reproducing mix-ups: request-count quotas, not Credits.

Quotas per tier (docs/sources.md): per 5 hours (rolling), per week (resets Monday 00:00 UTC+8)
and per month (resets on the subscription day, 00:00 UTC+8). A spent window answers
"hour allocated quota exceeded" (the 5-hour one), "week ..." or "month ...".
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from emulator.errors import ApiError
from emulator.plan.calendar import add_months, months_elapsed
from emulator.plan.clock import Clock

UTC8 = timezone(timedelta(hours=8))
WINDOW_5H = 5 * 3600.0
QUOTAS = {  # tier -> (per 5 hours, per week, per month)
    "lite": (1_200, 9_000, 18_000),
    "pro": (6_000, 45_000, 90_000),
}


def week_start(now: float) -> float:
    """Monday 00:00 UTC+8 of the week holding `now`."""
    local = datetime.fromtimestamp(now, tz=UTC8)
    monday = (local - timedelta(days=local.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return monday.timestamp()


def month_start(subscribed: float, now: float) -> float:
    """The last monthly reset: the subscription day at 00:00 UTC+8 (a month without that day
    resets on its last day)."""
    # Month arithmetic on UTC+8 wall-clock time: the calendar helpers work in UTC, so shift
    # into UTC+8 and back (else a day-29..31 subscription resets a day late in short months).
    shift = UTC8.utcoffset(None).total_seconds()
    local = datetime.fromtimestamp(subscribed, tz=UTC8)
    anchor = datetime(local.year, local.month, local.day, tzinfo=timezone.utc).timestamp()
    return add_months(anchor, months_elapsed(anchor, now + shift)) - shift


@dataclass
class CodingPlan:
    clock: Clock
    key: str
    tier: str = "pro"
    start: float = 0.0
    calls: list[float] = field(default_factory=list)  # times of counted requests, in order
    counted: int = 0  # calls ever counted: numbers them, so a state file appends only new ones

    def used(self) -> dict[str, int]:
        now = self.clock.now()
        since = {
            "hour": now - WINDOW_5H,
            "week": week_start(now),
            "month": month_start(self.start, now),
        }
        return {w: len(self.calls) - bisect_right(self.calls, t) for w, t in since.items()}

    def admit(self) -> None:
        """Count one request, or refuse it with the first window that is spent."""
        limits = dict(zip(("hour", "week", "month"), QUOTAS[self.tier], strict=True))
        used = self.used()
        for window in ("hour", "week", "month"):
            if used[window] >= limits[window]:
                raise ApiError("coding_plan_quota", window=window)
        now = self.clock.now()
        horizon = min(now - WINDOW_5H, week_start(now), month_start(self.start, now))
        del self.calls[: bisect_right(self.calls, horizon)]  # no window looks back that far
        self.calls.append(now)
        self.counted += 1
