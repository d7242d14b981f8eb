"""Time in the simulation: whole seconds and days since 1970-01-01 (naive UTC), in weeks.

Integers keep the weekly loop vectorised and make "strictly before" comparisons exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

HOUR = 3_600
DAY = 86_400
WEEK_DAYS = 7
NEVER = np.iinfo(np.int64).max  # "has not happened" for event times kept as int64
EPOCH = date(1970, 1, 1)
# Relative activity by weekday, Monday first: business software is used on workdays.
WEEKDAY_WEIGHTS = np.array([1.0, 1.05, 1.05, 1.0, 0.85, 0.2, 0.15])
BUSINESS_START_HOUR, BUSINESS_HOURS = 8, 10


def day_number(d: date) -> int:
    return (d - EPOCH).days


@dataclass(frozen=True)
class Week:
    index: int
    start_day: int
    end_day: int  # exclusive; the last week may be shorter than 7 days

    @property
    def start_sec(self) -> int:
        return self.start_day * DAY

    @property
    def end_sec(self) -> int:
        return self.end_day * DAY

    @property
    def fraction(self) -> float:
        """Share of a full week this week covers (rates scale with it)."""
        return (self.end_day - self.start_day) / WEEK_DAYS


@dataclass(frozen=True)
class Timeline:
    """The simulated span [start, end): history before as_of plus optional future days."""

    start_day: int
    as_of_day: int
    end_day: int

    @classmethod
    def build(cls, as_of: date, history_days: int, future_days: int) -> Timeline:
        as_of_day = day_number(as_of)
        return cls(as_of_day - history_days, as_of_day, as_of_day + future_days)

    @property
    def end_sec(self) -> int:
        return self.end_day * DAY

    @property
    def n_weeks(self) -> int:
        return -(-(self.end_day - self.start_day) // WEEK_DAYS)

    def week(self, index: int) -> Week:
        start = self.start_day + index * WEEK_DAYS
        return Week(index, start, min(start + WEEK_DAYS, self.end_day))


def event_times(
    rng: np.random.Generator, week: Week, n: int, business_share: float, margin_sec: int = 0
) -> np.ndarray:
    """n timestamps (seconds) in the week: mostly workdays, mostly business hours (UTC).

    `margin_sec` keeps times at least that far before the week's end, so that a follow-up
    event (an opt-out after an ask) still fits in the same week.
    """
    days = np.arange(week.start_day, week.end_day)
    weights = WEEKDAY_WEIGHTS[(days + 3) % WEEK_DAYS]  # 1970-01-01 was a Thursday
    day = rng.choice(days, size=n, p=weights / weights.sum())
    business = rng.random(n) < business_share
    sec_of_day = np.where(
        business,
        BUSINESS_START_HOUR * HOUR + rng.random(n) * BUSINESS_HOURS * HOUR,
        rng.random(n) * DAY,
    ).astype(np.int64)
    return np.minimum(day * DAY + sec_of_day, week.end_sec - 1 - margin_sec)


def day_seconds(days: np.ndarray) -> np.ndarray:
    """Day numbers to seconds at midnight, keeping NEVER as NEVER (no overflow)."""
    never = days == NEVER
    return np.where(never, NEVER, np.where(never, 0, days) * DAY)


def week_order(sec: np.ndarray, week: Week) -> np.ndarray:
    """Stable order of times within one week: two radix passes (second of minute, then
    minute of week), several times faster than a comparison sort of int64 seconds."""
    offset = sec - week.start_sec
    by_second = np.argsort((offset % 60).astype(np.uint8), kind="stable")
    by_minute = np.argsort((offset[by_second] // 60).astype(np.uint16), kind="stable")
    return by_second[by_minute]


def add_years(days: np.ndarray, years: np.ndarray) -> np.ndarray:
    """Calendar anniversaries: the same day of month `years` later (Feb 29 -> Feb 28)."""
    d = days.astype("datetime64[D]")
    month = d.astype("datetime64[M]")
    day_of_month = (d - month.astype("datetime64[D]")).astype(np.int64)
    target = month + (12 * years).astype("timedelta64[M]")
    month_len = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(
        np.int64
    )
    out = target.astype("datetime64[D]") + np.minimum(day_of_month, month_len - 1)
    return out.astype(np.int64)


def first_anniversary_from(created_day: np.ndarray, from_day: int) -> tuple[np.ndarray, np.ndarray]:
    """(years, day) of the first anniversary (years >= 1) on or after `from_day`."""
    years = np.maximum(1, (from_day - created_day) // 366)
    day = add_years(created_day, years)
    while (late := day < from_day).any():
        years = np.where(late, years + 1, years)
        day = add_years(created_day, years)
    return years, day
