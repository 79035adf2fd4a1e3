"""Subscription months: anniversaries of the subscription date, not the 1st of the month."""

from __future__ import annotations

import calendar
import functools
from datetime import datetime, timezone


# Remembered: a request asks for the same few anniversaries (the subscription's end, this
# month's bounds) over and over, and each costs two datetime conversions.
@functools.lru_cache(maxsize=1024)
def add_months(instant: float, months: int) -> float:
    """`instant` moved by whole calendar months; a day the month lacks becomes its last day."""
    moment = datetime.fromtimestamp(instant, tz=timezone.utc)
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day).timestamp()


def months_elapsed(start: float, now: float) -> int:
    """How many subscription-month anniversaries of `start` have passed at `now` (0 before)."""
    if now < start:
        return 0
    first = datetime.fromtimestamp(start, tz=timezone.utc)
    last = datetime.fromtimestamp(now, tz=timezone.utc)
    months = (last.year - first.year) * 12 + last.month - first.month
    while months > 0 and add_months(start, months) > now:
        months -= 1
    return months


def iso(instant: float) -> str:
    return datetime.fromtimestamp(instant, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
