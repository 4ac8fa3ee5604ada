"""Calendar of the simulated issuer: months, day weights (pay day, holidays, 11.11), hours.

Time inside the simulator is an ``int64`` count of *local* seconds since 1970-01-01 in
Asia/Shanghai (UTC+8 all year); :func:`to_arrow_ts` converts to the schema's timestamp type.

Rationale of the rhythms (public sources):

- 11.11 (双十一) and 6.18 are the largest online shopping days; NetsUnion/UnionPay report online
  volumes several times a normal day on 11.11 -> online weight x3.5 on 11.11, x1.6 on 11.10-12.
- Spring Festival (春节): spending rises in the two weeks before (gifts, groceries, jewellery),
  falls during the first days of the holiday (shops closed, people travel home) -> x1.35 before,
  x0.7 on days 0-3, x1.1 on days 4-7.
- National Day golden week (Oct 1-7) and Labour Day (May 1-5): more dining/travel -> x1.2.
- Weekends: more offline dining/shopping, fewer bill payments -> offline x1.15, online x1.05.
- Pay day: many Chinese employers pay on the 5th, 10th, 15th or 25th; part of spending follows
  within 5 days (see ``spending.payday_share``).

>>> day = date_to_day("2026-02-17")
>>> float(offline_day_weights(day - 3, 1)[0]) > 1.0, float(offline_day_weights(day + 1, 1)[0]) < 1.0
(True, True)
>>> month_start_day("2025-11-01", 2) == date_to_day("2026-01-01")
True
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from cardmind.schema import DATE, TIMESTAMP

EPOCH = dt.date(1970, 1, 1)
DAY = 86_400
UTC_OFFSET = 8 * 3600

# Spring Festival (lunar new year's day) dates, public calendar.
SPRING_FESTIVAL = {
    2020: "2020-01-25",
    2021: "2021-02-12",
    2022: "2022-02-01",
    2023: "2023-01-22",
    2024: "2024-02-10",
    2025: "2025-01-29",
    2026: "2026-02-17",
    2027: "2027-02-06",
    2028: "2028-01-26",
    2029: "2029-02-13",
    2030: "2030-02-03",
}

# Share of the day's transactions by hour (local time). Offline: lunch and dinner peaks;
# online: evening peak to midnight (consistent with published payment-network hourly curves).
_OFFLINE_HOURS = np.array(
    [
        0.4,
        0.2,
        0.1,
        0.1,
        0.1,
        0.2,
        0.8,
        2.5,
        4.5,
        5.0,
        5.5,
        7.0,
        8.5,
        6.5,
        5.5,
        5.5,
        5.5,
        6.5,
        8.0,
        8.0,
        6.0,
        4.0,
        2.5,
        1.0,
    ]
)
_ONLINE_HOURS = np.array(
    [
        2.5,
        1.5,
        0.8,
        0.4,
        0.3,
        0.3,
        0.8,
        2.0,
        3.5,
        4.5,
        5.0,
        5.0,
        5.5,
        5.0,
        4.5,
        4.5,
        4.5,
        5.0,
        5.0,
        6.0,
        7.5,
        8.5,
        8.0,
        5.0,
    ]
)
OFFLINE_HOUR_P = _OFFLINE_HOURS / _OFFLINE_HOURS.sum()
ONLINE_HOUR_P = _ONLINE_HOURS / _ONLINE_HOURS.sum()


def parse_date(value: str | dt.date) -> dt.date:
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def date_to_day(value: str | dt.date) -> int:
    """Days since 1970-01-01."""
    return (parse_date(value) - EPOCH).days


def day_to_date(day: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(day))


def month_start_day(start: str | dt.date, k: int) -> int:
    """First day of the ``k``-th calendar month after the month of ``start``."""
    d = parse_date(start)
    y, m = divmod(d.month - 1 + k, 12)
    return date_to_day(dt.date(d.year + y, m + 1, 1))


def _special_days(first: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Offline and online multipliers for days ``first .. first+n-1``."""
    days = np.arange(first, first + n)
    dates = [day_to_date(d) for d in days]
    weekday = np.array([d.weekday() for d in dates])
    off = np.where(weekday >= 5, 1.15, 1.0)
    on = np.where(weekday >= 5, 1.05, 1.0)
    for i, d in enumerate(dates):
        if d.month == 11 and d.day == 11:
            on[i] *= 3.5
            off[i] *= 1.1
        elif d.month == 11 and d.day in (10, 12):
            on[i] *= 1.6
        elif d.month == 6 and d.day == 18:
            on[i] *= 2.0
        elif (d.month == 10 and d.day <= 7) or (d.month == 5 and d.day <= 5):
            off[i] *= 1.2
        if d.year in SPRING_FESTIVAL:
            delta = (d - parse_date(SPRING_FESTIVAL[d.year])).days
            if -14 <= delta < 0:
                off[i] *= 1.35
                on[i] *= 1.15
            elif 0 <= delta <= 3:
                off[i] *= 0.7
                on[i] *= 0.6
            elif 4 <= delta <= 7:
                off[i] *= 1.1
    return off, on


def offline_day_weights(first: int, n: int) -> np.ndarray:
    """Relative weight of each day for offline (card-present) spending."""
    return _special_days(first, n)[0]


def online_day_weights(first: int, n: int) -> np.ndarray:
    """Relative weight of each day for online (card-not-present) spending."""
    return _special_days(first, n)[1]


def spring_festival_in(first: int, n: int) -> bool:
    """True when the Spring Festival falls within the days (used to raise travel rates)."""
    return any(first <= date_to_day(v) < first + n for v in SPRING_FESTIVAL.values())


def to_arrow_ts(local_seconds: np.ndarray) -> pa.Array:
    """Local Shanghai seconds -> ``timestamp[us, tz=Asia/Shanghai]`` (stored as UTC)."""
    utc_us = (np.asarray(local_seconds, dtype=np.int64) - UTC_OFFSET) * 1_000_000
    return pa.array(utc_us, type=TIMESTAMP)


def to_arrow_date(days: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32), type=DATE)
